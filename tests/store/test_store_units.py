"""Store building blocks: dedupe keys, card records, the engine factory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from cds_service.errors import ConfigurationError
from cds_service.store import RULE_SYSTEM, FeedbackStore, dedupe_key, issued_records
from cds_service.store.engine import create_db_engine
from cds_service.store.models import Feedback
from cds_service.wire import Card, Coding, FeedbackItem, Source, Suggestion


def _item(**overrides: Any) -> FeedbackItem:
    body: dict[str, Any] = {
        "card": "c-1",
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "s-1"}, {"id": "s-2"}],
        "outcomeTimestamp": "2026-11-25T10:00:00Z",
        **overrides,
    }
    return FeedbackItem.model_validate(body)


def test_dedupe_key_ignores_spelling_but_not_meaning() -> None:
    base = dedupe_key(_item())
    assert dedupe_key(_item(outcomeTimestamp="2026-11-25T12:00:00+02:00")) == base
    assert dedupe_key(_item(acceptedSuggestions=[{"id": "s-2"}, {"id": "s-1"}])) == base
    assert (
        dedupe_key(_item(acceptedSuggestions=[{"id": "s-1"}, {"id": "s-2"}, {"id": "s-1"}])) == base
    )
    assert dedupe_key(_item(outcomeTimestamp="2026-11-25T10:00:01Z")) != base
    assert dedupe_key(_item(acceptedSuggestions=[{"id": "s-1"}])) != base
    assert dedupe_key(_item(card="c-2")) != base
    overridden = {"outcome": "overridden", "acceptedSuggestions": None}
    comment = {"overrideReason": {"userComment": "later"}}
    assert dedupe_key(_item(**overridden)) != dedupe_key(_item(**overridden, **comment))


def test_issued_records_keep_ids_and_rule_but_no_text() -> None:
    cards = [
        Card(
            uuid="c-1",
            summary="Check magnesium for Jane Doe",
            indicator="critical",
            source=Source(label="NICE", topic=Coding(system=RULE_SYSTEM, code="R3")),
            suggestions=[Suggestion(label="Order", uuid="s-1"), Suggestion(label="No uuid")],
            selection_behavior="any",
        ),
        Card(
            uuid="c-2",
            summary="Other topic system",
            indicator="info",
            source=Source(label="x", topic=Coding(system="http://example.org", code="R3")),
        ),
        Card(summary="No uuid", indicator="info", source=Source(label="x")),
    ]
    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    records = issued_records(
        cards, service_id="svc", hook="patient-view", hook_instance="h", issued_at=at
    )
    assert [(r.uuid, r.rule_id, r.suggestion_uuids) for r in records] == [
        ("c-1", "R3", ("s-1",)),
        ("c-2", None, ()),
    ]
    assert "Jane" not in repr(records)


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    engine.dispose()


def test_feedback_for_a_card_not_in_issued_card_violates_the_foreign_key(engine: Engine) -> None:
    FeedbackStore(engine).upgrade()
    row = {
        "card_uuid": "never-issued",
        "outcome": "overridden",
        "accepted_suggestions": [],
        "outcome_timestamp": datetime(2026, 11, 25, tzinfo=UTC),
        "received_at": datetime(2026, 11, 25, tzinfo=UTC),
        "dedupe_key": "k",
    }
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(Feedback).values(row))


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    store = FeedbackStore(create_db_engine("sqlite://"))
    assert store.upgrade() == "0001"
    store.ping()


def test_postgres_urls_mean_psycopg_3_with_a_connect_timeout() -> None:
    engine = create_db_engine("postgresql://u@db.example/cds")
    assert engine.dialect.driver == "psycopg"
    assert make_url(str(engine.url)).drivername == "postgresql+psycopg"
    engine.dispose()


def test_other_databases_are_refused() -> None:
    engine = create_db_engine("sqlite://")
    engine.dialect.name = "mysql"  # stands in for a dialect whose driver is not installed
    with pytest.raises(ConfigurationError):
        FeedbackStore(engine)
