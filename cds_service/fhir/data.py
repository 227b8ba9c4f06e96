"""The request's FHIR data once prefetch and fetch are resolved: what the engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

GapReason = Literal[
    "operation-outcome",  # the EHR put an OperationOutcome where the data should be
    "unauthorized",  # the FHIR server answered 401/403
    "timeout",  # the FHIR server did not answer within the deadline
    "fetch-error",  # connection error, 5xx, or a body that is not FHIR JSON
    "truncated",  # more pages than the paging cap
]


@dataclass(frozen=True)
class DataGap:
    """A prefetch key whose data is (partly) unavailable. Carries no PHI."""

    key: str
    reason: GapReason


@dataclass(frozen=True)
class PatientData:
    """Raw FHIR R4 resources (dicts) gathered for one call, de-duplicated by type/id."""

    resources: tuple[dict[str, Any], ...] = ()
    gaps: tuple[DataGap, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """Everything the clinical engine needs for one hook call ("request facts in")."""

    hook: str
    service_id: str
    rule_families: tuple[str, ...]
    patient_id: str
    user_id: str
    now: datetime
    data: PatientData
    encounter_id: str | None = None
    draft_orders: tuple[dict[str, Any], ...] = ()
    selections: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)
