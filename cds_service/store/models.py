"""The feedback store's schema as typed SQLAlchemy 2 ORM classes.

Two tables, no PHI: ``issued_card`` remembers what this service said (card uuid,
service, hook, hook instance, rule id, indicator, suggestion uuids, time), never
whom it was said about or the card text. ``feedback`` keeps what the EHR reported
back (spec §4, F-3). ``migrations/versions`` must create exactly this schema; a test
compares them with Alembic's autogenerate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on every dialect.

    SQLite has no time zones: values are stored as naive UTC text, and come back
    tagged as UTC so comparisons and ``--since`` filters behave as on PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IssuedCard(Base):
    """A card this service returned: enough to accept feedback on it and report per rule."""

    __tablename__ = "issued_card"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    hook: Mapped[str] = mapped_column(String(64))
    hook_instance: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str | None] = mapped_column(String(32))
    indicator: Mapped[str] = mapped_column(String(16))
    suggestion_uuids: Mapped[list[str]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class Feedback(Base):
    """One feedback item (F-3) as received. ``dedupe_key`` makes retries land once."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(
        String(64), ForeignKey("issued_card.uuid", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    override_reason_system: Mapped[str | None] = mapped_column(Text)
    override_reason_code: Mapped[str | None] = mapped_column(Text)
    override_reason_display: Mapped[str | None] = mapped_column(Text)
    override_user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
