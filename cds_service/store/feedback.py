"""The feedback store: which cards we issued, and what the EHR said about them.

Blocking SQLAlchemy work runs in worker threads (``anyio.to_thread``) with a limiter
sized to the connection pool, so the event loop never waits on the database and no
thread queues for a connection it cannot get.

Guarantees:

- **Idempotent**: each feedback item has a ``dedupe_key`` (SHA-256 over card, outcome,
  timestamp, accepted suggestions and override reason) under a UNIQUE constraint;
  inserts use ``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike, so a retried
  item is stored once, also when the retries race.
- **Atomic per request**: a batch naming a card this service never issued, or a
  suggestion that is not the card's, is rejected whole and nothing is stored.
- **The clinical answer never waits long on, or fails because of, the store**:
  :meth:`FeedbackStore.remember` logs a failure (no PHI) and returns; it waits at most
  ``database_record_timeout_seconds`` and otherwise lets the insert finish in the
  background.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine, Insert, Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from cds_service.errors import ConfigurationError, InvalidRequest, UnknownCard
from cds_service.knowledge.systems import RULE as RULE_SYSTEM
from cds_service.settings import Settings
from cds_service.store import migrate
from cds_service.store.engine import create_db_engine
from cds_service.store.models import Feedback, IssuedCard
from cds_service.store.report import FeedbackReport, build_report
from cds_service.wire import Card, FeedbackItem

log = logging.getLogger("cds_service.store")

# Rows per multi-row INSERT / values per IN list: far below SQLite's 32,766 and
# PostgreSQL's 65,535 bound-parameter limits.
CHUNK = 500
READY_TIMEOUT_SECONDS = 2.0
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")

Locate = Callable[[int, str], str]


def batch_location(index: int, name: str) -> str:
    """Where a field sits in a 2.0 batch body, e.g. ``feedback.2.card``."""
    return f"feedback.{index}.{name}"


class StoreUnavailable(Exception):
    """The database could not be reached or refused the work (→ 503). Carries no data."""


@dataclass(frozen=True)
class IssuedCardRecord:
    uuid: str
    service_id: str
    hook: str
    hook_instance: str
    rule_id: str | None
    indicator: str
    suggestion_uuids: tuple[str, ...]
    issued_at: datetime


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int
    # newly stored items per outcome (for metrics); duplicates are not counted here
    stored_by_outcome: Mapping[str, int] = field(default_factory=dict)

    def wire(self) -> dict[str, int]:
        return {"stored": self.stored, "duplicates": self.duplicates}


def rule_id_of(card: Card) -> str | None:
    topic = card.source.topic
    if topic is not None and topic.system == RULE_SYSTEM and topic.code:
        return topic.code
    return None


def issued_records(
    cards: Iterable[Card],
    *,
    service_id: str,
    hook: str,
    hook_instance: str,
    issued_at: datetime,
) -> list[IssuedCardRecord]:
    """Cards with a uuid (no uuid → no feedback can name it, F-4), minus their text."""
    return [
        IssuedCardRecord(
            uuid=card.uuid,
            service_id=service_id,
            hook=hook,
            hook_instance=hook_instance,
            rule_id=rule_id_of(card),
            indicator=card.indicator,
            suggestion_uuids=tuple(s.uuid for s in card.suggestions or () if s.uuid),
            issued_at=issued_at,
        )
        for card in cards
        if card.uuid
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _accepted_ids(item: FeedbackItem) -> list[str]:
    return list(dict.fromkeys(s.id for s in item.accepted_suggestions or ()))


def dedupe_key(item: FeedbackItem) -> str:
    """Same card, outcome, instant, suggestions and reason → same key (F-4 retries)."""
    override = item.override_reason
    reason = override.reason if override else None
    payload = [
        item.card,
        item.outcome,
        _utc(item.outcome_timestamp).isoformat(),
        sorted(_accepted_ids(item)),
        reason.system if reason else None,
        reason.code if reason else None,
        reason.display if reason else None,
        override.user_comment if override else None,
    ]
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _feedback_row(item: FeedbackItem, key: str, received_at: datetime) -> dict[str, Any]:
    override = item.override_reason
    reason = override.reason if override else None
    return {
        "card_uuid": item.card,
        "outcome": item.outcome,
        "accepted_suggestions": _accepted_ids(item),
        "override_reason_system": reason.system if reason else None,
        "override_reason_code": reason.code if reason else None,
        "override_reason_display": reason.display if reason else None,
        "override_user_comment": override.user_comment if override else None,
        "outcome_timestamp": _utc(item.outcome_timestamp),
        "received_at": _utc(received_at),
        "dedupe_key": key,
    }


def _check_text(items: Sequence[FeedbackItem], locate: Locate) -> None:
    """PostgreSQL text cannot hold NUL: refuse it as a bad request before any SQL runs."""
    for index, item in enumerate(items):
        override = item.override_reason
        reason = override.reason if override else None
        fields: list[tuple[str, str | None]] = [("card", item.card)]
        fields += [
            (f"acceptedSuggestions.{n}.id", s.id)
            for n, s in enumerate(item.accepted_suggestions or ())
        ]
        if reason is not None:
            fields += [
                ("overrideReason.reason.system", reason.system),
                ("overrideReason.reason.code", reason.code),
                ("overrideReason.reason.display", reason.display),
            ]
        if override is not None:
            fields.append(("overrideReason.userComment", override.user_comment))
        for name, value in fields:
            if value is not None and "\x00" in value:
                path = locate(index, name)
                raise InvalidRequest(f"{path}: must not contain NUL characters", field=path)


def _insert_ignoring_duplicates(table: Table, dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise ConfigurationError(f"the feedback store supports SQLite and PostgreSQL, not {dialect}")


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _name(value: str) -> str:
    """A client-supplied id, quoted in an error only when it looks like an id."""
    return repr(value) if _SAFE_ID.match(value) else "(not an issued card id)"


class FeedbackStore:
    """Issued cards and feedback over one pooled engine. Sync core, async wrappers."""

    def __init__(
        self,
        engine: Engine,
        *,
        record_timeout_seconds: float = 0.25,
        threads: int = 15,
    ) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"the feedback store supports SQLite and PostgreSQL, not {engine.dialect.name}"
            )
        self.engine = engine
        self.record_timeout_seconds = record_timeout_seconds
        self._threads = threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        # SQLite has one writer at a time: queue this process's writers on a lock rather
        # than in SQLite's busy handler (which polls); other processes still wait there.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        # Issued-card records waiting for the writer task (see ``remember``).
        self._queued: list[tuple[Sequence[IssuedCardRecord], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        issued = IssuedCard.__table__
        assert isinstance(issued, Table)
        self._insert_issued = _insert_ignoring_duplicates(issued, engine.dialect.name).returning(
            issued.c.uuid
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackStore:
        engine = create_db_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
        )
        return cls(
            engine,
            record_timeout_seconds=settings.database_record_timeout_seconds,
            threads=settings.database_pool_size + settings.database_max_overflow,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------

    def upgrade(self) -> str | None:
        """``alembic upgrade head`` under the migration lock (safe with several workers)."""
        with self._schema_lock:
            revision = migrate.upgrade(self.engine)
            self._schema_ready = True
            return revision

    def _ensure_schema(self) -> None:
        if not self._schema_ready:
            self.upgrade()

    def schema_is_current(self) -> bool:
        """Whether the database is at the packaged head revision (read only)."""
        try:
            return migrate.current_revision(self.engine) == migrate.head_revision()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot read the database ({type(exc).__name__})") from exc

    def report(self, since: datetime | None = None) -> FeedbackReport:
        try:
            return build_report(self.engine, since)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot read the database ({type(exc).__name__})") from exc

    # -- sync core ------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock or nullcontext(), self.engine.connect() as connection:
            if self.dialect == "sqlite":
                connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    def ping(self) -> None:
        """Schema at head (migrating if start-up could not) and ``SELECT 1`` answers."""
        self._ensure_schema()
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()

    def record_issued(self, records: Sequence[IssuedCardRecord]) -> int:
        """Insert the records; a uuid already recorded is left as it is (a retried call).

        One statement built per store and run with a list of parameter sets: SQLAlchemy
        compiles it once (its compiled cache) and sends the rows as one multi-row INSERT
        ("insertmanyvalues", SQLite and psycopg alike), where building ``.values(rows)``
        anew compiled a statement with fresh bind names on every call.
        """
        if not records:
            return 0
        self._ensure_schema()
        inserted = 0
        with self._write() as connection:
            for chunk in _chunks(records):
                rows = [
                    {
                        "uuid": r.uuid,
                        "service_id": r.service_id,
                        "hook": r.hook,
                        "hook_instance": r.hook_instance,
                        "rule_id": r.rule_id,
                        "indicator": r.indicator,
                        "suggestion_uuids": list(r.suggestion_uuids),
                        "issued_at": _utc(r.issued_at),
                    }
                    for r in chunk
                ]
                inserted += len(connection.execute(self._insert_issued, rows).all())
        return inserted

    def store_feedback(
        self,
        service_id: str,
        items: Sequence[FeedbackItem],
        received_at: datetime,
        locate: Locate = batch_location,
    ) -> StoreResult:
        """Validate every item against the cards ``service_id`` issued, then insert all.

        Raises :class:`UnknownCard` (→ 404) or :class:`InvalidRequest` (→ 400) naming the
        first offending field; in that case nothing of the batch is stored.
        """
        if not items:
            return StoreResult(0, 0)
        _check_text(items, locate)
        self._ensure_schema()
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            key = dedupe_key(item)
            rows.setdefault(key, _feedback_row(item, key, received_at))
        table = Feedback.__table__
        assert isinstance(table, Table)
        stored: Counter[str] = Counter()
        with self._write() as connection:
            offered = self._suggestions_by_card(connection, service_id, {i.card for i in items})
            for index, item in enumerate(items):
                suggestions = offered.get(item.card)
                if suggestions is None:
                    raise UnknownCard(
                        f"card {_name(item.card)} was not issued by service {service_id!r}",
                        field=locate(index, "card"),
                    )
                for position, accepted in enumerate(item.accepted_suggestions or ()):
                    if accepted.id not in suggestions:
                        raise InvalidRequest(
                            f"suggestion {_name(accepted.id)} is not a suggestion of card "
                            f"{_name(item.card)}",
                            field=locate(index, f"acceptedSuggestions.{position}.id"),
                        )
            for chunk in _chunks(list(rows.values())):
                statement = _insert_ignoring_duplicates(table, self.dialect).values(list(chunk))
                # RETURNING lists only the rows inserted; rowcount is unreliable for a
                # multi-row INSERT … ON CONFLICT with some drivers.
                stored.update(connection.execute(statement.returning(table.c.outcome)).scalars())
        total = stored.total()
        return StoreResult(stored=total, duplicates=len(items) - total, stored_by_outcome=stored)

    def _suggestions_by_card(
        self, connection: Connection, service_id: str, cards: set[str]
    ) -> dict[str, frozenset[str]]:
        found: dict[str, frozenset[str]] = {}
        for chunk in _chunks(sorted(cards)):
            query = select(IssuedCard.uuid, IssuedCard.suggestion_uuids).where(
                IssuedCard.service_id == service_id, IssuedCard.uuid.in_(chunk)
            )
            for uuid, suggestions in connection.execute(query):
                found[uuid] = frozenset(suggestions or ())
        return found

    # -- async wrappers (what the routes call) --------------------------------------------

    async def _run(self, fn: Callable[..., Any], *args: Any, abandon: bool = False) -> Any:
        return await anyio.to_thread.run_sync(
            fn, *args, limiter=self._limiter, abandon_on_cancel=abandon
        )

    async def start(self) -> None:
        """App start-up: own thread limiter, then migrate. A database that is down is logged
        and retried by readiness and by the first write, so the clinical service still starts.
        """
        self._limiter = anyio.CapacityLimiter(self._threads)
        try:
            revision = await self._run(self.upgrade)
        except Exception as exc:
            log.error(
                "feedback store: migration at start-up failed; will retry",
                extra={"dialect": self.dialect, "error_type": type(exc).__name__},
            )
        else:
            log.info("feedback store ready", extra={"dialect": self.dialect, "revision": revision})

    async def remember(
        self,
        cards: Sequence[Card],
        *,
        service_id: str,
        hook: str,
        hook_instance: str,
        issued_at: datetime,
    ) -> None:
        """Record issued cards; never raises and never holds the answer beyond the timeout.

        Group commit: the call's records join a queue, and one writer task writes everything
        queued in one transaction, in a worker thread. Calls that arrive while a write is
        running are written together by the next one, so under load a transaction and a
        thread hop serve several calls (one call alone still gets its own, at once). Each
        call waits for the write that carries its records, up to the timeout.
        """
        records = issued_records(
            cards,
            service_id=service_id,
            hook=hook,
            hook_instance=hook_instance,
            issued_at=issued_at,
        )
        if not records:
            return
        written = asyncio.get_running_loop().create_future()
        self._queued.append((records, written))
        if not self._writer_running():
            self._writer = asyncio.create_task(self._write_queued(), name="feedback-store-writer")
        # In a worker thread even on SQLite: inline, a write could stall every call on the
        # event loop behind another process's write lock (busy_timeout) or a WAL checkpoint's
        # fsync, and this timeout could no longer be kept.
        with anyio.move_on_after(self.record_timeout_seconds) as scope:
            await asyncio.shield(written)
        if scope.cancelled_caught:
            log.warning(
                "feedback store: recording issued cards is slow; answered without waiting",
                extra={"service": service_id, "cards": len(records)},
            )

    async def _write_queued(self) -> None:
        """The writer task: write what is queued, batch after batch, until the queue is empty."""
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                await self._run(self._record_batch, [records for records, _ in batch])
            except Exception as exc:
                # Only the thread hop itself can fail here (the batch logs its own errors);
                # the writer must survive it, or every later call would wait out its timeout.
                log.error(
                    "feedback store: issued cards not recorded",
                    extra={"calls": len(batch), "error_type": type(exc).__name__},
                )
            finally:
                for _, written in batch:
                    if not written.done():
                        written.set_result(None)

    def _record_batch(self, batch: Sequence[Sequence[IssuedCardRecord]]) -> None:
        """One transaction for the whole batch; if it fails, each call's records on their own,
        so one call's bad record cannot cost the others theirs."""
        if len(batch) > 1:
            try:
                self.record_issued([record for records in batch for record in records])
                return
            except Exception:
                log.warning(
                    "feedback store: a batch of issued cards failed; recording call by call",
                    extra={"calls": len(batch)},
                )
        for records in batch:
            self._record_logged(records)

    async def drain(self) -> None:
        """Wait for queued issued-card writes (app shutdown: nothing queued is dropped)."""
        while (writer := self._writer) is not None and self._writer_running():
            await asyncio.shield(writer)

    def _writer_running(self) -> bool:
        """A writer task is at work on this event loop (one left on another loop, by a test
        client or a restarted app, never runs and cannot be awaited here)."""
        return (
            self._writer is not None
            and not self._writer.done()
            and self._writer.get_loop() is asyncio.get_running_loop()
        )

    def _record_logged(self, records: Sequence[IssuedCardRecord]) -> None:
        try:
            self.record_issued(records)
        except Exception as exc:
            # The cards still go to the clinician; feedback on them will be a 404.
            log.error(
                "feedback store: issued cards not recorded",
                extra={
                    "service": records[0].service_id,
                    "cards": len(records),
                    "error_type": type(exc).__name__,
                },
            )

    async def save_feedback(
        self,
        service_id: str,
        items: Sequence[FeedbackItem],
        received_at: datetime,
        locate: Locate = batch_location,
    ) -> StoreResult:
        try:
            result: StoreResult = await self._run(
                self.store_feedback, service_id, items, received_at, locate
            )
        except (SQLAlchemyError, OSError) as exc:
            log.error(
                "feedback store: feedback not stored",
                extra={
                    "service": service_id,
                    "items": len(items),
                    "error_type": type(exc).__name__,
                },
            )
            raise StoreUnavailable("the feedback store is unavailable") from exc
        return result

    async def readiness(self) -> str | None:
        """``None`` when the database answers, else a short reason without details."""
        try:
            with anyio.fail_after(READY_TIMEOUT_SECONDS):
                await self._run(self.ping, abandon=True)
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return f"unavailable ({type(exc).__name__})"
        return None
