"""Our prefetch search URLs against a REAL FHIR R4 engine (medplum fhir-router, in memory).

A mock accepts any URL; this engine parses every search parameter, modifier, ``_sort`` and
``_include`` (strictly: see ``tests/fhir_server/server.mjs``), so these tests prove that the
URLs rendered from ``hooks/*.toml`` (``${codes:…}`` expanded, ``_sort=-date``, ``_count``) are
valid FHIR, and that they return exactly the resources they should: an independent oracle
below applies the FHIR token/reference semantics to the seeded chart.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.fhir.client import FhirClient
from cds_service.fhir.data import DataGap, Evaluation
from cds_service.fhir.prefetch import render_template
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import ServiceDeclaration, ServiceRegistry
from cds_service.settings import Settings
from tests.conftest import NOW
from tests.fhir_server import seed
from tests.fhir_server.engine import Engine

pytestmark = pytest.mark.fhir_engine

REGISTRY = ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)
DECLARATIONS = sorted(REGISTRY.declarations.values(), key=lambda d: (d.id, d.hook))
TOKENS = {
    "context.patientId": seed.PATIENT_ID,
    "context.userId": "Practitioner/dr-1",
    "userPractitionerId": "dr-1",
    "context.encounterId": "enc-1",
}


def rendered(template: str) -> str:
    url = render_template(template, TOKENS)
    assert url is not None
    return url


RENDERED = [rendered(t) for d in DECLARATIONS for t in d.prefetch.values()]
TEMPLATE_CASES = [
    pytest.param(d, key, rendered(t), id=f"{d.id}/{d.hook}/{key}")
    for d in DECLARATIONS
    for key, t in d.prefetch.items()
]


@pytest.fixture(scope="module")
def chart(fhir_engine: Engine) -> list[dict[str, Any]]:
    """Seed the engine once (PUT keeps ids: idempotent) and return what was stored."""
    resources = seed.chart() + seed.template_hits(RENDERED)
    fhir_engine.transaction(resources)
    return resources


# --- an independent oracle: which seeded resources a search URL must return


def _token_match(codings: list[dict[str, Any]], value: str) -> bool:
    for token in value.split(","):
        system, bar, code = token.rpartition("|")
        for coding in codings:
            if coding.get("code") == code and (not bar or coding.get("system") == system):
                return True
    return False


def expected(url: str, chart: list[dict[str, Any]]) -> list[str]:
    """``Type/id`` of every seeded resource ``url`` should find (matches, then includes)."""
    parts = urlsplit(url)
    if "/" in parts.path:
        return (
            [parts.path]
            if any(f"{r['resourceType']}/{r['id']}" == parts.path for r in chart)
            else []
        )
    rtype, params = parts.path, parse_qs(parts.query)
    matches = []
    for r in chart:
        if r["resourceType"] != rtype:
            continue
        if "patient" in params and r.get("subject", {}).get("reference") != (
            f"Patient/{params['patient'][0]}"
        ):
            continue
        if "code" in params and not _token_match(
            r.get("code", {}).get("coding", []), params["code"][0]
        ):
            continue
        if "status" in params and r.get("status") not in params["status"][0].split(","):
            continue
        matches.append(r)
    found = [f"{r['resourceType']}/{r['id']}" for r in matches]
    for include in params.get("_include", []):
        field = include.split(":")[1]
        for r in matches:
            ref = (r.get(f"{field}Reference") or r.get(field) or {}).get("reference")
            if isinstance(ref, str) and ref not in found:
                found.append(ref)
    return found


def refs(resources: list[dict[str, Any]]) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


def _when(resource: dict[str, Any]) -> str:
    return str(resource.get("effectiveDateTime") or resource.get("performedDateTime") or "")


async def fetch(
    engine: Engine, queries: dict[str, str], *, token: str | None = None, max_pages: int = 20
) -> Any:
    async with httpx2.AsyncClient() as http:
        client = FhirClient(
            http,
            engine.base,
            access_token=token or engine.token,
            request_timeout=30.0,  # these tests are about URLs and paging, not speed
            max_pages=max_pages,
        )
        return await client.fetch_all(queries, deadline=60.0)


# --- every declared template against the engine


@pytest.mark.parametrize(("declaration", "key", "url"), TEMPLATE_CASES)
async def test_declared_template_is_valid_fhir_and_finds_exactly_its_resources(
    fhir_engine: Engine,
    chart: list[dict[str, Any]],
    declaration: ServiceDeclaration,
    key: str,
    url: str,
) -> None:
    outcome = await fetch(fhir_engine, {key: url})
    assert outcome.gaps == [], f"the engine refused or failed {key}: {outcome.results[0].status}"
    want = expected(url, chart)
    assert want, f"the seed has nothing for {key}: the test would prove nothing"
    got = refs(outcome.resources)
    assert sorted(got) == sorted(want)
    assert all(f"/{seed.OTHER_ID}" not in ref for ref in got)
    if "_sort=-date" in url:
        dates = [_when(r) for r in outcome.resources if r["resourceType"] != "Medication"]
        assert dates == sorted(dates, reverse=True)


def test_the_seeded_chart_exercises_the_filters(chart: list[dict[str, Any]]) -> None:
    """The oracle leaves out the distractors: other patient, unlisted codes, stopped orders."""
    everything = {ref for url in RENDERED for ref in expected(url, chart)}
    assert "Observation/bp-3" in everything
    assert "Observation/hb-2" in everything
    assert "Medication/med-prenatal" in everything  # via _include
    for left_out in (
        "Observation/chol-1",
        "Condition/cond-hayfever",
        "MedicationRequest/mr-quinine-stopped",
        "Observation/other-bp",
        "Condition/other-preg",
    ):
        assert left_out not in everything


# --- the whole app, nothing prefetched, fhirServer = the engine


def _request(declaration: ServiceDeclaration, engine: Engine, token: str) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": seed.PATIENT_ID}
    if declaration.hook == "encounter-start":
        context["encounterId"] = "enc-1"
    if declaration.hook in ("order-select", "order-sign"):
        draft = {
            "resourceType": "MedicationRequest",
            "id": "draft-1",
            "status": "draft",
            "intent": "proposal",
            "medicationCodeableConcept": seed._cc(seed.RXNORM, "9071", "Quinine"),
            "subject": {"reference": f"Patient/{seed.PATIENT_ID}"},
        }
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft}],
        }
        if declaration.hook == "order-select":
            context["selections"] = ["MedicationRequest/draft-1"]
    return {
        "hook": declaration.hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": engine.base,
        "fhirAuthorization": {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read user/Condition.read",
            "subject": "prenatal-cds",
        },
        "context": context,
    }


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, list[Evaluation]]]:
    seen: list[Evaluation] = []

    def advisor(evaluation: Evaluation) -> list[Any]:
        seen.append(evaluation)
        return []

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
        fhir_deadline_seconds=60.0,  # this test is about URLs, not speed
        fhir_request_timeout_seconds=30.0,
    )
    with TestClient(create_app(settings, clock=lambda: NOW, advisor=advisor)) as client:
        yield client, seen


@pytest.mark.parametrize(
    "declaration", DECLARATIONS, ids=[f"{d.id}/{d.hook}" for d in DECLARATIONS]
)
def test_the_app_fetches_every_key_from_the_engine(
    fhir_engine: Engine,
    chart: list[dict[str, Any]],
    app: tuple[TestClient, list[Evaluation]],
    declaration: ServiceDeclaration,
) -> None:
    client, seen = app
    body = _request(declaration, fhir_engine, fhir_engine.token)
    response = client.post(f"/cds-services/{declaration.id}", json=body)
    assert response.status_code == 200
    assert isinstance(response.json()["cards"], list)
    data = seen[-1].data
    assert data.gaps == ()
    want = {ref for t in declaration.prefetch.values() for ref in expected(rendered(t), chart)}
    assert set(refs(list(data.resources))) == want
    assert len(data.resources) == len(want)  # de-duplicated across keys
    assert f"Patient/{seed.PATIENT_ID}" in want


def test_a_token_the_engine_refuses_degrades_every_key(
    fhir_engine: Engine, chart: list[dict[str, Any]], app: tuple[TestClient, list[Evaluation]]
) -> None:
    client, seen = app
    declaration = REGISTRY.resolve("prenatal-cramps-convulsions", "patient-view")
    response = client.post(
        f"/cds-services/{declaration.id}", json=_request(declaration, fhir_engine, "expired")
    )
    assert response.status_code == 200
    assert seen[-1].data.resources == ()
    assert set(seen[-1].data.gaps) == {DataGap(k, "unauthorized") for k in declaration.prefetch}


# --- paging, errors and reads against the engine


async def test_paging_follows_the_engines_next_links(
    fhir_engine: Engine, chart: list[dict[str, Any]]
) -> None:
    url = f"Observation?patient={seed.PATIENT_ID}&_sort=-date&_count=3"
    everything = expected(f"Observation?patient={seed.PATIENT_ID}", chart)
    outcome = await fetch(fhir_engine, {"all": url})
    assert outcome.gaps == []
    assert sorted(refs(outcome.resources)) == sorted(everything)
    assert len(set(refs(outcome.resources))) == len(outcome.resources)  # pages do not overlap
    assert outcome.results[0].pages == math.ceil(len(everything) / 3)
    dates = [_when(r) for r in outcome.resources]
    assert dates == sorted(dates, reverse=True)


async def test_paging_stops_at_the_cap_against_the_engine(
    fhir_engine: Engine, chart: list[dict[str, Any]]
) -> None:
    url = f"Observation?patient={seed.PATIENT_ID}&_sort=-date&_count=2"
    outcome = await fetch(fhir_engine, {"all": url}, max_pages=2)
    assert outcome.gaps == [DataGap("all", "truncated")]
    assert len(outcome.resources) == 4


async def test_the_engine_offsets_pages_itself(
    fhir_engine: Engine, chart: list[dict[str, Any]]
) -> None:
    """``_offset``/``_count`` straight to the engine: disjoint pages that add up to the whole."""
    base = f"Observation?patient={seed.PATIENT_ID}&_sort=-date"
    whole = await fetch(fhir_engine, {"whole": f"{base}&_count=100"})
    pages = await fetch(
        fhir_engine,
        {f"p{o}": f"{base}&_count=4&_offset={o}" for o in range(0, 40, 4)},
        max_pages=1,
    )
    assert {g.reason for g in pages.gaps} <= {"truncated"}  # each page but the last links on
    assert refs(pages.resources) == refs(whole.resources)


@pytest.mark.parametrize(
    "query",
    [
        # The CDS Hooks spec's own example syntax, which is not valid FHIR R4 search:
        f"Observation?patient={seed.PATIENT_ID}&code=http://loinc.org|8480-6&_count=1&sort:desc=date",
        f"Observation?patient={seed.PATIENT_ID}&codes=http://loinc.org|718-7",
        f"Observation?patient={seed.PATIENT_ID}&_sort=-effective",
        f"MedicationRequest?patient={seed.PATIENT_ID}&_include=MedicationRequest:drug",
        f"Observation?patient={seed.PATIENT_ID}&code:fuzzy=718-7",
        f"Observation?patient={seed.PATIENT_ID}&date=yesterday",
    ],
)
async def test_invalid_searches_are_refused_by_the_engine(
    fhir_engine: Engine, chart: list[dict[str, Any]], query: str
) -> None:
    outcome = await fetch(fhir_engine, {"bad": query})
    assert outcome.gaps == [DataGap("bad", "operation-outcome")]
    assert outcome.results[0].status == 400
    assert outcome.resources == []


async def test_reading_a_missing_patient_finds_nothing(
    fhir_engine: Engine, chart: list[dict[str, Any]]
) -> None:
    outcome = await fetch(fhir_engine, {"patient": "Patient/nobody"})
    assert outcome.gaps == []
    assert outcome.resources == []
    assert outcome.results[0].status == 404
