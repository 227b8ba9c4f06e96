"""``/readyz``: configuration loaded and the database reachable (issue 2, item 10)."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.store.conftest import issue_cards, make_app


def test_ready_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["config"] == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/no-such-directory/store.sqlite3",
        # nothing listens on port 1: connection refused at once
        "postgresql+psycopg://postgres@127.0.0.1:1/cds?connect_timeout=2",
    ],
    ids=["sqlite-unopenable", "postgresql-refused"],
)
def test_not_ready_is_503_json_and_the_service_still_answers(tmp_path: Path, url: str) -> None:
    with TestClient(make_app(url.format(tmp=tmp_path))) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "unavailable (OperationalError)"
        assert "127.0.0.1" not in response.text and "postgres" not in response.text
        assert client.get("/healthz").status_code == 200
        assert len(issue_cards(client)) == 3  # the clinical answer does not need the store


def test_ready_again_once_the_database_is_usable(database_url: str, tmp_path: Path) -> None:
    """Start-up could not migrate (no directory / no schema yet); readiness retries it."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        directory = tmp_path / "later"
        broken = f"sqlite:///{directory / 'store.sqlite3'}"
    else:
        schema = f"later_{uuid.uuid4().hex[:12]}"
        broken = parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    with TestClient(make_app(broken)) as client:
        assert client.get("/readyz").status_code == 503
        if parsed.get_backend_name() == "sqlite":
            directory.mkdir()
        else:
            admin = parsed.set(drivername="postgresql", query={}).render_as_string(
                hide_password=False
            )
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        assert client.get("/readyz").status_code == 200
        cards = issue_cards(client)
        feedback = {
            "card": cards[0]["uuid"],
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-25T10:06:00Z",
        }
        response = client.post("/cds-services/prenatal-cramps-convulsions/feedback", json=feedback)
        assert response.status_code == 200
