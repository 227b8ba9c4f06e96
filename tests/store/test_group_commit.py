"""Group commit of issued cards (``FeedbackStore.remember``): calls that queue while a write runs
share the next transaction; one call's failing records cost no other call theirs; shutdown
writes what is still queued. Against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from cds_service.store import FeedbackStore
from cds_service.store.engine import create_db_engine
from cds_service.store.feedback import IssuedCardRecord
from cds_service.store.models import IssuedCard
from cds_service.wire import Card, Source
from tests.store.conftest import SERVICE

ISSUED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _cards(count: int = 3) -> list[Card]:
    return [
        Card(
            uuid=str(uuid.uuid4()),
            summary="Test advice",
            indicator="info",
            source=Source(label="Test source"),
        )
        for _ in range(count)
    ]


async def _remember(store: FeedbackStore, hook_instance: str, cards: list[Card]) -> None:
    await store.remember(
        cards,
        service_id=SERVICE,
        hook="patient-view",
        hook_instance=hook_instance,
        issued_at=ISSUED_AT,
    )


def _recorded(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(IssuedCard.uuid)))


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(IssuedCard)).scalar_one())


class _Transactions:
    """Wraps ``record_issued``: how many rows each call (one transaction) wrote; can hold the
    first write until released, and can fail writes that carry a given hook instance."""

    def __init__(self, store: FeedbackStore, *, fail_on: str | None = None) -> None:
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._real = store.record_issued
        self._fail_on = fail_on
        store.record_issued = self  # type: ignore[method-assign]

    def __call__(self, records: Sequence[IssuedCardRecord]) -> int:
        self.entered.set()
        self.release.wait(timeout=10)
        if self._fail_on is not None and any(r.hook_instance == self._fail_on for r in records):
            self.sizes.append(-len(records))
            raise RuntimeError("simulated database error")
        self.sizes.append(len(records))
        return self._real(records)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[FeedbackStore]:
    store = FeedbackStore(create_db_engine(database_url), record_timeout_seconds=10.0)
    await store.start()
    try:
        yield store
    finally:
        await store.drain()
        store.close()


async def test_calls_queued_behind_a_running_write_share_the_next_transaction(
    store: FeedbackStore, engine: Engine
) -> None:
    writes = _Transactions(store)
    writes.release.clear()  # the first write waits inside its transaction
    first_cards = _cards()
    first = asyncio.create_task(_remember(store, "h-first", first_cards))
    assert await asyncio.to_thread(writes.entered.wait, 10)  # the write is in its thread
    later_cards = [_cards() for _ in range(9)]
    later = [asyncio.create_task(_remember(store, f"h-{n}", c)) for n, c in enumerate(later_cards)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in later)  # each call waits for its own write
    writes.release.set()
    await asyncio.gather(first, *later)
    assert writes.sizes == [3, 27]  # two transactions for ten calls
    expected = {card.uuid for cards in [first_cards, *later_cards] for card in cards}
    assert _recorded(engine) == expected


async def test_a_call_alone_is_written_at_once_in_its_own_transaction(
    store: FeedbackStore, engine: Engine
) -> None:
    writes = _Transactions(store)
    cards = _cards(2)
    await _remember(store, "h-1", cards)
    assert writes.sizes == [2]
    assert _recorded(engine) == {card.uuid for card in cards}  # written before remember returned


async def test_one_failing_call_in_a_batch_costs_only_its_own_records(
    store: FeedbackStore, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    writes = _Transactions(store, fail_on="h-bad")
    writes.release.clear()
    blocker = asyncio.create_task(_remember(store, "h-first", _cards(1)))
    assert await asyncio.to_thread(writes.entered.wait, 10)  # the write is in its thread
    good_cards, bad_cards, other_cards = _cards(), _cards(), _cards()
    batch = [
        asyncio.create_task(_remember(store, "h-good", good_cards)),
        asyncio.create_task(_remember(store, "h-bad", bad_cards)),
        asyncio.create_task(_remember(store, "h-other", other_cards)),
    ]
    with caplog.at_level(logging.WARNING, logger="cds_service.store"):
        await asyncio.sleep(0.01)
        writes.release.set()
        await asyncio.gather(blocker, *batch)  # remember never raises
    # the batch of three failed as a whole, then each call was written on its own
    assert writes.sizes == [1, -9, 3, -3, 3]
    recorded = _recorded(engine)
    assert {c.uuid for c in good_cards + other_cards} <= recorded
    assert not {c.uuid for c in bad_cards} & recorded
    messages = [r.getMessage() for r in caplog.records]
    assert any("recording call by call" in m for m in messages)
    assert sum("issued cards not recorded" in m for m in messages) == 1


async def test_a_slow_write_answers_after_the_timeout_and_shutdown_still_writes_it(
    database_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    store = FeedbackStore(create_db_engine(database_url), record_timeout_seconds=0.05)
    await store.start()
    writes = _Transactions(store)
    writes.release.clear()
    cards = _cards()
    try:
        with caplog.at_level(logging.WARNING, logger="cds_service.store"):
            await asyncio.wait_for(_remember(store, "h-slow", cards), timeout=5)
        assert any("answered without waiting" in r.getMessage() for r in caplog.records)
        assert _count(engine) == 0  # answered before the write
        writes.release.set()
        await store.drain()
    finally:
        writes.release.set()
        store.close()
    assert _recorded(engine) == {card.uuid for card in cards}


async def test_the_writer_survives_a_failed_thread_hop(
    store: FeedbackStore, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    real_run = store._run
    hops = 0

    async def failing_once(*args: object) -> object:
        nonlocal hops
        hops += 1
        if hops == 1:
            raise RuntimeError("simulated worker-thread failure")
        return await real_run(*args)  # type: ignore[arg-type]

    store._run = failing_once  # type: ignore[method-assign]
    lost, kept = _cards(1), _cards(2)
    with caplog.at_level(logging.ERROR, logger="cds_service.store"):
        await asyncio.wait_for(_remember(store, "h-lost", lost), timeout=5)  # answered, not raised
        await store.drain()
        await asyncio.wait_for(_remember(store, "h-kept", kept), timeout=5)
    assert any("issued cards not recorded" in r.getMessage() for r in caplog.records)
    assert _recorded(engine) == {card.uuid for card in kept}


async def test_a_writer_left_on_another_event_loop_is_replaced(
    store: FeedbackStore, engine: Engine
) -> None:
    other_loop = asyncio.new_event_loop()
    stranded = other_loop.create_task(asyncio.sleep(60))  # never runs: its loop is not running
    store._writer = stranded
    cards = _cards(2)
    try:
        await asyncio.wait_for(_remember(store, "h-1", cards), timeout=5)
    finally:

        def wind_down_other_loop() -> None:  # in a thread: this one's loop is running
            stranded.cancel()
            other_loop.run_until_complete(asyncio.gather(stranded, return_exceptions=True))
            other_loop.close()

        await asyncio.to_thread(wind_down_other_loop)
    assert _recorded(engine) == {card.uuid for card in cards}
