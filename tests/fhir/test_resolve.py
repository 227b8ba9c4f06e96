"""FhirDataResolver: absent vs null vs OperationOutcome prefetch (R-8), 412 (R-7), http policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.errors import InvalidRequest, PrefetchUnavailable
from cds_service.fhir.data import DataGap, Evaluation
from cds_service.fhir.resolve import DataResolver, FhirDataResolver
from cds_service.settings import Settings
from tests.conftest import NOW, patient_view_request
from tests.fhir._fhir import bundle, observation, outcome, patient
from tests.fhir.respx_httpx2 import serve_httpx2

BASE = "https://ehr.example/fhir"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&code=http://loinc.org|718-7",
    "encounter": "Encounter/{{context.encounterId}}",
}
TOKENS = {"context.patientId": "pat-1", "context.userId": "Practitioner/u1"}


@pytest.fixture
def ehr() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock, serve_httpx2(mock):
        mock.get("/Patient/pat-1").respond(200, json=patient())
        mock.get("/Observation").respond(200, json=bundle(observation("hb1", "718-7", 10.5)))
        yield mock


def resolver(**overrides: Any) -> FhirDataResolver:
    return FhirDataResolver(Settings(**overrides))


async def test_absent_keys_are_fetched_with_the_token(ehr: respx.MockRouter) -> None:
    data = await resolver().resolve(TEMPLATES, {}, TOKENS, BASE, "tok")
    assert [r["id"] for r in data.resources] == ["pat-1", "hb1"]
    assert data.gaps == ()
    assert ehr.calls.call_count == 2  # encounter: no encounterId in this call → not rendered
    assert {c.request.headers["Authorization"] for c in ehr.calls} == {"Bearer tok"}


async def test_null_keys_are_never_refetched(ehr: respx.MockRouter) -> None:
    data = await resolver().resolve(TEMPLATES, {"patient": None, "labs": None}, TOKENS, BASE, "t")
    assert data.resources == ()
    assert data.gaps == ()
    assert ehr.calls.call_count == 0


async def test_null_keys_without_a_fhir_server_are_not_412() -> None:
    data = await resolver().resolve(TEMPLATES, {"patient": None, "labs": None}, TOKENS, None, None)
    assert data == data.__class__()


async def test_prefetched_keys_are_used_and_only_the_absent_one_is_fetched(
    ehr: respx.MockRouter,
) -> None:
    prefetch = {"patient": patient()}
    data = await resolver().resolve(TEMPLATES, prefetch, TOKENS, BASE, "tok")
    assert [r["id"] for r in data.resources] == ["pat-1", "hb1"]
    assert [str(c.request.url.path) for c in ehr.calls] == ["/fhir/Observation"]


async def test_an_operation_outcome_prefetch_is_unavailable_and_not_refetched(
    ehr: respx.MockRouter,
) -> None:
    prefetch = {"patient": patient(), "labs": outcome()}
    data = await resolver().resolve(TEMPLATES, prefetch, TOKENS, BASE, "tok")
    assert data.gaps == (DataGap("labs", "operation-outcome"),)
    assert ehr.calls.call_count == 0


async def test_resources_fetched_twice_are_deduplicated(ehr: respx.MockRouter) -> None:
    ehr.get("/Observation").respond(200, json=bundle(patient(), observation("hb1")))
    data = await resolver().resolve(TEMPLATES, {}, TOKENS, BASE, None)
    assert [r["id"] for r in data.resources] == ["pat-1", "hb1"]


async def test_absent_keys_without_a_fhir_server_are_412() -> None:
    with pytest.raises(PrefetchUnavailable) as raised:
        await resolver().resolve(TEMPLATES, {"patient": None}, TOKENS, None, None)
    assert raised.value.field == "prefetch.labs"
    assert "labs" in raised.value.message


async def test_fhir_server_without_authorization_is_queried_without_a_token(
    ehr: respx.MockRouter,
) -> None:
    await resolver().resolve(TEMPLATES, {}, TOKENS, BASE, None)
    assert ehr.calls.call_count == 2
    assert all("Authorization" not in c.request.headers for c in ehr.calls)


async def test_fetch_failures_degrade_to_gaps_not_errors(ehr: respx.MockRouter) -> None:
    ehr.get("/Patient/pat-1").respond(401)
    ehr.get("/Observation").respond(500)
    data = await resolver().resolve(TEMPLATES, {}, TOKENS, BASE, "tok")
    assert data.resources == ()
    assert set(data.gaps) == {DataGap("patient", "unauthorized"), DataGap("labs", "fetch-error")}


async def test_http_fhir_server_is_refused_when_the_policy_says_https_only() -> None:
    http_base = "http://ehr.example/fhir"
    with pytest.raises(InvalidRequest) as raised:
        await resolver(allow_http_fhir_server=False).resolve(
            TEMPLATES, {"patient": None, "labs": None}, TOKENS, http_base, "tok"
        )
    assert raised.value.field == "fhirServer"


async def test_http_fhir_server_is_used_when_allowed() -> None:
    http_base = "http://ehr.example/fhir"
    with respx.mock(base_url=http_base) as mock, serve_httpx2(mock):
        mock.get("/Patient/pat-1").respond(200, json=patient())
        data = await resolver(allow_http_fhir_server=True).resolve(
            TEMPLATES, {"labs": None}, TOKENS, http_base, None
        )
    assert [r["id"] for r in data.resources] == ["pat-1"]


async def test_the_resolver_uses_the_shared_http_client(ehr: respx.MockRouter) -> None:
    handed_out: list[httpx2.AsyncClient] = []
    async with httpx2.AsyncClient() as shared:

        def source() -> httpx2.AsyncClient:
            handed_out.append(shared)
            return shared

        data = await FhirDataResolver(Settings(), source).resolve(TEMPLATES, {}, TOKENS, BASE, None)
    assert handed_out == [shared]
    assert len(data.resources) == 2


async def test_the_base_resolver_cannot_fetch() -> None:
    data = await DataResolver().resolve(TEMPLATES, {}, TOKENS, BASE, None)
    assert set(data.gaps) == {DataGap("patient", "fetch-error"), DataGap("labs", "fetch-error")}


# --- through the app


def _app_client(settings: Settings, seen: list[Evaluation]) -> TestClient:
    def advisor(evaluation: Evaluation) -> list[Any]:
        seen.append(evaluation)
        return []

    return TestClient(create_app(settings, clock=lambda: NOW, advisor=advisor))


def test_the_app_fetches_absent_keys_from_fhir_server(settings: Settings) -> None:
    seen: list[Evaluation] = []
    body = patient_view_request(fhirServer=BASE)
    del body["prefetch"]["patient"]
    del body["prefetch"]["labs"]
    with (
        respx.mock(base_url=BASE, assert_all_called=True) as mock,
        serve_httpx2(mock),
        _app_client(settings, seen) as c,
    ):
        mock.get("/Patient/pat-1").respond(200, json=patient())
        mock.get("/Observation").respond(200, json=bundle(observation("hb1", "718-7")))
        response = c.post("/cds-services/prenatal-cramps-convulsions", json=body)
        assert mock.calls.call_count == 2
    assert response.status_code == 200
    assert [r["id"] for r in seen[0].data.resources] == ["pat-1", "hb1"]


def test_the_app_refuses_http_fhir_server_by_policy_with_400(tmp_path: Any) -> None:
    settings = Settings(allow_http_fhir_server=False, database_url=f"sqlite:///{tmp_path}/x.db")
    body = patient_view_request(fhirServer="http://ehr.example/fhir")
    with _app_client(settings, []) as c:
        response = c.post("/cds-services/prenatal-cramps-convulsions", json=body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["fhirServer"]


def test_the_app_answers_412_for_absent_keys_without_fhir_server(client: TestClient) -> None:
    body = patient_view_request()
    del body["prefetch"]["vitals"]
    response = client.post("/cds-services/prenatal-cramps-convulsions", json=body)
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.vitals"]
