"""Recording issued cards: one prepared INSERT … ON CONFLICT DO NOTHING per store, run with a
list of rows. A retried call (same card uuids) changes nothing; sizes above one chunk work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, func, select

from cds_service.store import FeedbackStore
from cds_service.store.engine import create_db_engine
from cds_service.store.feedback import CHUNK, IssuedCardRecord
from cds_service.store.models import IssuedCard
from tests.store.conftest import SERVICE

ISSUED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=timezone(timedelta(hours=2)))


def _records(count: int, *, hook_instance: str = "h-1") -> list[IssuedCardRecord]:
    return [
        IssuedCardRecord(
            uuid=str(uuid.uuid4()),
            service_id=SERVICE,
            hook="patient-view",
            hook_instance=hook_instance,
            rule_id="R1" if n % 2 else None,
            indicator="critical",
            suggestion_uuids=(f"s-{n}-1", f"s-{n}-2"),
            issued_at=ISSUED_AT,
        )
        for n in range(count)
    ]


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(IssuedCard)).scalar_one())


def test_a_retried_call_records_its_cards_once(database_url: str, engine: Engine) -> None:
    store = FeedbackStore(create_db_engine(database_url))
    try:
        first = _records(3)
        assert store.record_issued(first) == 3
        assert store.record_issued(first) == 0  # the same cards again: nothing new
        later = _records(2, hook_instance="h-2")
        assert store.record_issued([first[0], *later, first[1]]) == 2  # only the new ones
        assert store.record_issued([]) == 0
    finally:
        store.close()
    assert _rows(engine) == 5
    with engine.connect() as connection:
        row = connection.execute(select(IssuedCard).where(IssuedCard.uuid == first[1].uuid)).one()
    assert row.hook_instance == "h-1"
    assert row.rule_id == "R1"
    assert row.suggestion_uuids == ["s-1-1", "s-1-2"]
    assert row.issued_at == ISSUED_AT.astimezone(UTC)


def test_more_cards_than_one_chunk_are_all_recorded_once(database_url: str, engine: Engine) -> None:
    store = FeedbackStore(create_db_engine(database_url))
    try:
        records = _records(CHUNK * 2 + 7)
        assert store.record_issued(records) == len(records)
        assert store.record_issued(records[CHUNK - 3 :]) == 0
    finally:
        store.close()
    assert _rows(engine) == CHUNK * 2 + 7


def test_each_store_prepares_its_insert_once(database_url: str) -> None:
    store = FeedbackStore(create_db_engine(database_url))
    try:
        statement = store._insert_issued
        store.record_issued(_records(1))
        store.record_issued(_records(4))
        assert store._insert_issued is statement
    finally:
        store.close()
