"""The sandbox over HTTP: page and assets, on/off by settings, shifted fixtures, compose."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.services import ServiceRegistry
from tests.conftest import NOW
from tests.integrator.conftest import AppFactory, production_settings, write_case

SANDBOX_URLS = (
    "/sandbox",
    "/sandbox/static/sandbox.js",
    "/sandbox/static/markdown.js",
    "/sandbox/static/sandbox.css",
    "/sandbox/fixtures",
)


def test_page_is_served_with_a_strict_content_security_policy(make_client: AppFactory) -> None:
    response = make_client().get("/sandbox")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp


def test_page_uses_only_its_own_assets_no_cdn(make_client: AppFactory) -> None:
    client = make_client()
    html = client.get("/sandbox").text
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html) if not a.startswith("#")]
    assert assets and all(a.startswith("/sandbox/static/") or a == "data:," for a in assets)
    assert "<script>" not in html and "style=" not in html  # nothing inline (CSP)
    for asset in assets:
        if asset.startswith("/sandbox/static/"):
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert "http://" not in response.text and "https://cdn" not in response.text


def test_sandbox_is_off_in_production_by_default(tmp_path: Path) -> None:
    with TestClient(create_app(production_settings(tmp_path), clock=lambda: NOW)) as client:
        for url in SANDBOX_URLS:
            assert client.get(url).status_code == 404, url
        assert client.post("/sandbox/compose", json={}).status_code == 404


def test_sandbox_can_be_enabled_in_production(tmp_path: Path) -> None:
    settings = production_settings(tmp_path, sandbox_enabled=True)
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        for url in SANDBOX_URLS:
            assert client.get(url).status_code == 200, url


def test_sandbox_can_be_disabled_in_development(make_client: AppFactory) -> None:
    client = make_client(sandbox_enabled=False)
    for url in SANDBOX_URLS:
        assert client.get(url).status_code == 404, url


def test_fixture_list_has_services_and_the_builder_vocabulary(
    make_client: AppFactory, tmp_path: Path, registry: ServiceRegistry
) -> None:
    folder = tmp_path / "fixtures"
    write_case(folder, registry, "b-critical", expect=("R1:critical",), postpartum_days=5)
    write_case(folder, registry, "a-quiet", gestational_age_days=200)
    (folder / "broken").mkdir()
    (folder / "broken" / "request.json").write_text("{}")
    (folder / "broken" / "expect.json").write_text("not json")
    body = make_client(fixtures_dir=folder).get("/sandbox/fixtures").json()
    assert [(f["id"], f["worst"]) for f in body["fixtures"]] == [
        ("a-quiet", None),
        ("b-critical", "critical"),
    ]
    assert len(body["problems"]) == 1 and body["problems"][0].startswith("broken:")
    assert {(s["id"], s["hook"]) for s in body["services"]} == set(registry.declarations)
    names = {m["name"] for m in body["vocabulary"]["measurements"]}
    assert {"hb", "k", "glucose", "calf-diff"} <= names
    assert "seizure" in {s["name"] for s in body["vocabulary"]["symptoms"]}
    assert body["now"] == "2026-11-25T10:00:00Z"


def test_fixture_request_is_shifted_to_the_service_clock(
    make_client: AppFactory, tmp_path: Path, registry: ServiceRegistry
) -> None:
    folder = tmp_path / "fixtures"
    ten_days_ago = NOW - timedelta(days=10)
    write_case(folder, registry, "old", as_of=ten_days_ago, gestational_age_days=200,
               blood_pressure=(150, 95))  # fmt: skip
    body = make_client(fixtures_dir=folder).get("/sandbox/fixtures/old").json()
    assert body["asOf"] == "2026-11-15T10:00:00Z"
    assert body["shiftedTo"] == "2026-11-25T10:00:00Z"
    vitals = body["request"]["prefetch"]["vitals"]["entry"][0]["resource"]
    assert vitals["effectiveDateTime"] == "2026-11-25T09:45:00Z"  # recorded 15 min before asOf
    assert body["keyValues"]["gestationalAge"] == "28+4"  # 200 days, as recorded "today"
    assert body["keyValues"]["bloodPressure"] == "150/95"


def test_unknown_or_escaping_fixture_ids_are_404(make_client: AppFactory) -> None:
    client = make_client()
    assert client.get("/sandbox/fixtures/no-such-case").status_code == 404
    assert client.get("/sandbox/fixtures/..%2F..%2Fpyproject.toml").status_code == 404


def test_compose_applies_the_form_and_the_result_calls_the_real_service(
    make_client: AppFactory, tmp_path: Path, registry: ServiceRegistry
) -> None:
    folder = tmp_path / "fixtures"
    write_case(folder, registry, "quiet", gestational_age_days=30 * 7, blood_pressure=(118, 72))
    client = make_client(fixtures_dir=folder)
    fixture = client.get("/sandbox/fixtures/quiet").json()
    assert client.post("/cds-services/prenatal-cramps-convulsions",
                       json=fixture["request"]).json() == {"cards": []}  # fmt: skip
    key_values = fixture["keyValues"]
    key_values["bloodPressure"] = "168/114"
    composed = client.post(
        "/sandbox/compose",
        json={
            "request": fixture["request"],
            "service": "prenatal-visit",
            "hook": "encounter-start",
            "keyValues": key_values,
        },
    ).json()
    assert composed["warnings"] == []
    assert composed["keyValues"]["bloodPressure"] == "168/114"
    assert composed["request"]["hook"] == "encounter-start"
    cards = client.post("/cds-services/prenatal-visit", json=composed["request"]).json()["cards"]
    assert ("critical", "R2") in {(c["indicator"], c["source"]["topic"]["code"]) for c in cards}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"request": "nope"}, "request"),
        ({"request": {"hook": "patient-view", "context": {}}, "keyValues": {}}, "keyValues"),
        ({"request": {"hook": "no-such-hook", "context": {"patientId": "p"}}}, "keyValues"),
    ],
)
def test_compose_rejects_bad_input_with_an_operation_outcome(
    make_client: AppFactory, payload: dict[str, object], field: str
) -> None:
    response = make_client().post("/sandbox/compose", json=payload)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == [field]
