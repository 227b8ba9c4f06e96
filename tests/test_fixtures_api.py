"""Every ``fixtures/<case>/`` with an ``expect.json`` runs through the HTTP API.

The service clock is pinned to the fixture's ``asOf``; the request is posted unchanged
and the response is checked against the expectation (TEAM.md fixture contract): each
expected card appears (rule id from ``source.topic``, indicator, and order codes among
its suggestions), no ``absentRules`` card appears, and with ``exactCards`` no other
clinical card appears.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.api.app import create_app
from cds_service.cards import advise
from cds_service.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASES = (
    sorted(p.name for p in FIXTURES.iterdir() if (p / "expect.json").is_file())
    if FIXTURES.is_dir()
    else []
)
NON_CLINICAL = {"DATA"}


class _Clock:
    now: datetime = datetime.fromisoformat("2026-11-25T10:00:00+00:00")

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> _Clock:
    return _Clock()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, clock: _Clock) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("fixtures-db") / "cds.sqlite3"
    app = create_app(Settings(database_url=f"sqlite:///{db}"), advisor=advise, clock=clock)
    with TestClient(app) as client:
        yield client


def _rule(card: dict[str, Any]) -> str:
    return str(((card.get("source") or {}).get("topic") or {}).get("code", ""))


def _order_codes(card: dict[str, Any]) -> set[str]:
    return {
        coding["code"]
        for suggestion in card.get("suggestions") or []
        for action in suggestion.get("actions") or []
        if action.get("type") == "create"
        for coding in ((action.get("resource") or {}).get("code") or {}).get("coding") or []
    }


@pytest.mark.parametrize("case", CASES)
def test_fixture(case: str, api: TestClient, clock: _Clock) -> None:
    folder = FIXTURES / case
    expect = json.loads((folder / "expect.json").read_text(encoding="utf-8"))
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    clock.now = datetime.fromisoformat(expect["asOf"].replace("Z", "+00:00"))

    response = api.post(f"/cds-services/{expect['service']}", json=request)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    got = [(_rule(c), c["indicator"]) for c in cards]

    for card in cards:
        assert card.get("uuid"), case
        assert len(card["summary"]) < 140, card["summary"]
        assert not card["summary"].endswith("…"), f"{case}: summary was truncated"
        for suggestion in card.get("suggestions") or []:
            assert suggestion.get("uuid")
            for action in suggestion.get("actions") or []:
                if action["type"] == "create":
                    ServiceRequest.model_validate(action["resource"])

    for wanted in expect.get("cards", []):
        matches = [
            c for c in cards if _rule(c) == wanted["rule"] and c["indicator"] == wanted["indicator"]
        ]
        assert matches, f"{case}: expected {wanted['rule']} {wanted['indicator']}, got {got}"
        missing = set(wanted.get("orders", [])) - set().union(*(_order_codes(c) for c in matches))
        assert not missing, f"{case}: {wanted['rule']} card lacks order codes {sorted(missing)}"

    for absent in expect.get("absentRules", []):
        assert absent not in {r for r, _ in got}, f"{case}: {absent} must not fire, got {got}"

    if expect.get("exactCards"):
        allowed = {w["rule"] for w in expect.get("cards", [])}
        extra = [(r, i) for r, i in got if r not in allowed and r not in NON_CLINICAL]
        assert not extra, f"{case}: unexpected cards {extra}"
