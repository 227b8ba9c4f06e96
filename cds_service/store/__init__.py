"""Durable state: the cards this service issued and the feedback EHRs sent on them.

SQLAlchemy 2 over SQLite (WAL, the default) or PostgreSQL (``CDS_DATABASE_URL``);
schema migrations with Alembic, shipped in ``migrations/`` and run at start-up.
"""

from cds_service.knowledge.systems import RULE as RULE_SYSTEM
from cds_service.store.feedback import (
    FeedbackStore,
    IssuedCardRecord,
    StoreResult,
    StoreUnavailable,
    batch_location,
    dedupe_key,
    issued_records,
)
from cds_service.store.report import FeedbackReport, RuleStats, build_report, parse_since

__all__ = [
    "RULE_SYSTEM",
    "FeedbackReport",
    "FeedbackStore",
    "IssuedCardRecord",
    "RuleStats",
    "StoreResult",
    "StoreUnavailable",
    "batch_location",
    "build_report",
    "dedupe_key",
    "issued_records",
    "parse_since",
]
