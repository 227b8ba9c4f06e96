"""Responses never carry ``null``, ``""``, ``[]`` or ``{}`` (CDS Hooks D-8, C-2).

The one exception in a service answer is ``"cards": []`` (no advice); in discovery it is
``"services": []`` (no services, D-3). Checked on discovery, on an empty answer, on cards from a
stub engine with every optional member set, and on cards whose optional members are unset or
empty in the models (the wire must drop them), plus on error bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.services import Advisor, no_advice
from cds_service.settings import Settings
from tests.conftest import NOW
from tests.contract.support import (
    CapturingAdvisor,
    RecordingResolver,
    empties,
    full_cards,
    schema_errors,
    services,
    sparse_cards,
    valid_request,
)


def _client(settings: Settings, advisor: Advisor) -> TestClient:
    app = create_app(settings, advisor=advisor, resolver=RecordingResolver(), clock=lambda: NOW)
    return TestClient(app)


@pytest.fixture
def empty_client(settings: Settings) -> Iterator[TestClient]:
    with _client(settings, no_advice) as client:
        yield client


@pytest.fixture
def full_client(settings: Settings) -> Iterator[TestClient]:
    with _client(settings, CapturingAdvisor(full_cards())) as client:
        yield client


@pytest.fixture
def sparse_client(settings: Settings) -> Iterator[TestClient]:
    with _client(settings, CapturingAdvisor(sparse_cards())) as client:
        yield client


def test_discovery_has_no_empty_members(empty_client: TestClient) -> None:
    body = empty_client.get("/cds-services").json()
    assert body["services"]
    assert empties(body) == []
    assert schema_errors("DiscoveryResponse", body) == []


def test_no_services_is_an_empty_services_array(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    settings = Settings(hooks_dir=hooks, database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with TestClient(create_app(settings)) as client:
        response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.json() == {"services": []}


@pytest.mark.parametrize(("service_id", "hook"), services())
def test_no_advice_is_exactly_an_empty_cards_array(
    empty_client: TestClient, service_id: str, hook: str
) -> None:
    response = empty_client.post(
        f"/cds-services/{service_id}", json=valid_request(service_id, hook)
    )
    assert response.status_code == 200
    assert response.content == b'{"cards":[]}'


def test_cards_with_every_member_set_conform_and_have_no_empties(full_client: TestClient) -> None:
    body = full_client.post(
        "/cds-services/prenatal-cramps-convulsions",
        json=valid_request("prenatal-cramps-convulsions", "patient-view"),
    ).json()
    assert len(body["cards"]) == 2
    assert empties(body) == []
    assert schema_errors("CdsResponse", body) == []
    critical = body["cards"][0]
    assert set(critical) == {
        "uuid",
        "summary",
        "detail",
        "indicator",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
        "links",
    }
    assert set(critical["source"]) == {"label", "url", "icon", "topic"}
    assert set(critical["suggestions"][0]) == {"label", "uuid", "isRecommended", "actions"}
    assert set(critical["links"][1]) == {"label", "url", "type", "appContext", "autolaunchable"}
    assert "systemActions" not in body


def test_unset_and_empty_optional_members_are_omitted(sparse_client: TestClient) -> None:
    body = sparse_client.post(
        "/cds-services/prenatal-cramps-convulsions",
        json=valid_request("prenatal-cramps-convulsions", "patient-view"),
    ).json()
    assert empties(body) == []
    assert schema_errors("CdsResponse", body) == []
    info, warning, suggestion_only = body["cards"]
    assert set(info) == {"summary", "indicator", "source"}
    assert set(warning) == {"uuid", "summary", "indicator", "source"}
    assert warning["source"] == {"label": "prenatal-cds"}
    assert suggestion_only["suggestions"][0].keys() == {"label", "uuid"}


def test_false_booleans_are_kept(full_client: TestClient) -> None:
    """``false`` is a value, not an empty member: only null/""/[]/{} are dropped."""
    body = full_client.post(
        "/cds-services/prenatal-cramps-convulsions",
        json=valid_request("prenatal-cramps-convulsions", "patient-view"),
    ).json()
    assert body["cards"][0]["links"][1]["autolaunchable"] is False


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/cds-services/nope", {"hook": "patient-view"}, 404),
        ("/cds-services/prenatal-cramps-convulsions", {"hook": "patient-view"}, 400),
        ("/cds-services/prenatal-cramps-convulsions", [1], 400),
    ],
)
def test_error_bodies_have_no_empty_members(
    empty_client: TestClient, path: str, body: object, status: int
) -> None:
    response = empty_client.post(path, json=body)
    assert response.status_code == status
    assert empties(response.json()) == []
    assert schema_errors("OperationOutcome", response.json()) == []
