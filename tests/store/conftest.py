"""Every store test runs on SQLite (a temp file) and on a real PostgreSQL server.

PostgreSQL comes from ``CDS_TEST_POSTGRES_URL`` (``.ci/run`` starts one on loopback). One
fresh database per test session (dropped at the end), one fresh schema per test. The
PostgreSQL cases skip only when no server is reachable and ``CI`` is not ``true``; in CI
an unreachable server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from cds_service.api.app import create_app
from cds_service.fhir.data import Evaluation
from cds_service.settings import Settings
from cds_service.store import RULE_SYSTEM
from cds_service.store.engine import create_db_engine
from cds_service.store.models import Feedback, IssuedCard
from cds_service.wire import Action, Card, Coding, Source, Suggestion
from tests.conftest import NOW

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/cds_test"
SERVICE = "prenatal-cramps-convulsions"
OTHER_SERVICE = "prenatal-visit"
OVERRIDE_SYSTEM = "urn:prenatal-cds:override-reason"
PATIENT_ID = "pat-1"


def _libpq(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL as a libpq conninfo for psycopg (admin work)."""
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the test server for this session; dropped at the end."""
    server = os.environ.get("CDS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        admin = psycopg.connect(_libpq(server), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"no PostgreSQL server at CDS_TEST_POSTGRES_URL ({type(exc).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"cds_store_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _fresh_schema(database_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    yield from _fresh_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A separate engine for the test's own checks (the app has its own)."""
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


# -- an advisor that issues real cards ----------------------------------------------------

RULES: tuple[tuple[str | None, str], ...] = (
    ("R1", "critical"),
    ("R5", "warning"),
    (None, "info"),  # a card without a rule topic is recorded with rule id NULL
)
OFFERED_REASONS = [
    Coding(system=OVERRIDE_SYSTEM, code="already-done", display="Already ordered or done"),
    Coding(system=OVERRIDE_SYSTEM, code="not-pregnant", display="Patient is not pregnant"),
]


def stub_advisor(evaluation: Evaluation) -> list[Card]:
    """Three cards with uuids and two suggestions each, plus one card without a uuid."""
    cards = []
    for rule, indicator in RULES:
        topic = Coding(system=RULE_SYSTEM, code=rule, display=f"Rule {rule}") if rule else None
        order = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{evaluation.patient_id}"},
            "code": {"text": "Serum magnesium"},
        }
        suggestions = [
            Suggestion(
                label=f"Order test {n}",
                uuid=str(uuid.uuid4()),
                actions=[Action(type="create", description="Order", resource=order)],
            )
            for n in (1, 2)
        ]
        cards.append(
            Card(
                uuid=str(uuid.uuid4()),
                summary=f"Test advice for {evaluation.patient_id} ({indicator})",
                indicator=indicator,  # type: ignore[arg-type]
                source=Source(label="Test source", topic=topic),
                suggestions=suggestions,
                selection_behavior="any",
                override_reasons=OFFERED_REASONS,
            )
        )
    cards.append(
        Card(summary="No uuid: no feedback possible", indicator="info", source=Source(label="x"))
    )
    return cards


def make_app(database_url: str, **overrides: Any) -> FastAPI:
    settings = Settings(database_url=database_url, **overrides)
    return create_app(settings, advisor=stub_advisor, clock=lambda: NOW)


@pytest.fixture
def app(database_url: str) -> FastAPI:
    return make_app(database_url)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


CONTEXTS: dict[str, dict[str, str]] = {
    "patient-view": {"userId": "Practitioner/x", "patientId": PATIENT_ID},
    "encounter-start": {"userId": "Practitioner/x", "patientId": PATIENT_ID, "encounterId": "e1"},
}


def issue_cards(client: TestClient, service: str = SERVICE) -> list[dict[str, Any]]:
    """One real service call (every prefetch key "queried, nothing found"); the cards with a
    uuid, as JSON."""
    registry = client.app.state.cds.registry  # type: ignore[attr-defined]
    declaration = next(d for (sid, hook), d in registry.declarations.items() if sid == service)
    body = {
        "hook": declaration.hook,
        "hookInstance": str(uuid.uuid4()),
        "context": CONTEXTS[declaration.hook],
        "prefetch": dict.fromkeys(declaration.prefetch),
    }
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.text
    return [card for card in response.json()["cards"] if "uuid" in card]


def accepted(card: dict[str, Any], *, at: str = "2026-11-25T10:05:00Z") -> dict[str, Any]:
    return {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": at,
    }


def overridden(
    card: dict[str, Any], code: str | None = "already-done", *, at: str = "2026-11-25T10:06:00Z"
) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": at}
    if code is not None:
        item["overrideReason"] = {"reason": {"system": OVERRIDE_SYSTEM, "code": code}}
    return item


def count_rows(engine: Engine, model: type[Feedback] | type[IssuedCard]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def feedback_rows(engine: Engine) -> Sequence[Feedback]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return session.scalars(select(Feedback).order_by(Feedback.id)).all()
