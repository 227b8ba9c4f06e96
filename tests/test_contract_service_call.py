"""Service calls per the CDS Hooks 2.0 contract (spec §2, §3, §6)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import patient_view_request


def test_call_with_full_null_prefetch_answers_empty_cards(client: TestClient) -> None:
    response = client.post("/cds-services/prenatal-cramps-convulsions", json=patient_view_request())
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_unknown_service_is_404_json(client: TestClient) -> None:
    response = client.post("/cds-services/nope", json=patient_view_request())
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/cds-services/prenatal-cramps-convulsions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["issue"][0]["diagnostics"]


def test_missing_patient_id_names_the_field(client: TestClient) -> None:
    body = patient_view_request(context={"userId": "Practitioner/x"})
    response = client.post("/cds-services/prenatal-cramps-convulsions", json=body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["context.patientId"]


def test_bad_hook_instance_names_the_field(client: TestClient) -> None:
    body = patient_view_request(hookInstance="not-a-uuid")
    response = client.post("/cds-services/prenatal-cramps-convulsions", json=body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["hookInstance"]


def test_hook_the_service_does_not_serve_is_400(client: TestClient) -> None:
    body = patient_view_request(hook="order-sign")
    response = client.post("/cds-services/prenatal-cramps-convulsions", json=body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["hook"]


def test_missing_prefetch_without_fhir_server_is_412(client: TestClient) -> None:
    body = patient_view_request()
    del body["prefetch"]["labs"]
    response = client.post("/cds-services/prenatal-cramps-convulsions", json=body)
    assert response.status_code == 412
    assert "labs" in response.json()["issue"][0]["diagnostics"]


def test_discovery_lists_four_hooks(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert {s["hook"] for s in services} == {
        "patient-view",
        "encounter-start",
        "order-select",
        "order-sign",
    }
