"""Requests copied from the CDS Hooks spec and hook library examples are accepted (issue 2).

Each ``examples/<hook>.json`` holds the request (``request``), the service it is posted to
(``service``), where it was copied from (``source``) and how it was adapted to a pregnant
patient (``adapted``). The app runs the real engine (default advisor) behind a resolver that
records fetches instead of making them: every prefetch key is present, so nothing may be
fetched, and the answer must be a schema-valid CDS response. Keys a service declares after an
example was written are sent as ``null`` ("queried, nothing found"), so the examples keep up
with ``hooks/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.settings import Settings
from tests.conftest import NOW
from tests.contract.support import (
    EXAMPLES_DIR,
    RecordingResolver,
    empties,
    registry,
    schema_errors,
)

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    request = document["request"]
    declared = registry().declarations[(document["service"], request["hook"])].prefetch
    for key in declared:
        request["prefetch"].setdefault(key, None)
    return document


@pytest.fixture
def resolver() -> RecordingResolver:
    return RecordingResolver()


@pytest.fixture
def real_client(settings: Settings, resolver: RecordingResolver) -> Iterator[TestClient]:
    with TestClient(create_app(settings, resolver=resolver, clock=lambda: NOW)) as client:
        yield client


def test_there_is_an_example_for_each_hook_we_serve(real_client: TestClient) -> None:
    hooks = {_load(p)["request"]["hook"] for p in EXAMPLES}
    served = {s["hook"] for s in real_client.get("/cds-services").json()["services"]}
    assert hooks == served == {"patient-view", "encounter-start", "order-select", "order-sign"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_documents_its_source(path: Path) -> None:
    document = _load(path)
    assert {"source", "adapted", "service", "request"} <= set(document)
    assert "cds-hooks" in document["source"]
    assert schema_errors("HookRequest", document["request"]) == []
    declared = registry().declarations[(document["service"], document["request"]["hook"])]
    assert set(document["request"]["prefetch"]) == set(declared.prefetch)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_spec_example_is_accepted(
    real_client: TestClient, resolver: RecordingResolver, path: Path
) -> None:
    document = _load(path)
    response = real_client.post(f"/cds-services/{document['service']}", json=document["request"])
    assert response.status_code == 200, response.text
    assert resolver.fetches == []
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["cards"], list)
    assert schema_errors("CdsResponse", body) == []
    assert empties(body, allowed=["$.cards"]) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_spec_example_without_fhir_server_and_one_key_missing_is_412(
    real_client: TestClient, path: Path
) -> None:
    """The same example from a client that cannot be called back: a missing key is R-7's 412."""
    request = _load(path)["request"]
    request.pop("fhirServer", None)
    request.pop("fhirAuthorization", None)
    del request["prefetch"]["pregnancy"]
    response = real_client.post(f"/cds-services/{_load(path)['service']}", json=request)
    assert response.status_code == 412, response.text
    outcome = response.json()
    assert schema_errors("OperationOutcome", outcome) == []
    assert "pregnancy" in outcome["issue"][0]["diagnostics"]
