"""Small readers shared by the fact builders: dates, codings, references."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.systems import canonical_system

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")

ACCEPTED_RESULT_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
FINAL_STATUSES = frozenset({"final", "amended", "corrected"})


def to_datetime(value: Any) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime (UTC when no zone is given).

    Partial dates ("2026-11", "2026") become the first day of the period.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # 3.11+: reads "Z" as UTC
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        except ValueError:
            match = _PARTIAL.match(value)
            if match:
                year, month, day = match.groups()
                return datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    return None


def concept_keys(concept: Any) -> list[CodeKey]:
    """(system, code) pairs of a typed CodeableConcept, systems canonicalised."""
    out: list[CodeKey] = []
    if concept is None:
        return out
    for coding in getattr(concept, "coding", None) or []:
        system = canonical_system(getattr(coding, "system", None))
        code = getattr(coding, "code", None)
        if system and code:
            out.append((system, code))
    return out


def concept_text(concept: Any) -> str | None:
    if concept is None:
        return None
    text = getattr(concept, "text", None)
    if text:
        return str(text)
    for coding in getattr(concept, "coding", None) or []:
        if getattr(coding, "display", None):
            return str(coding.display)
    return None


def reference_of(resource: Any) -> str | None:
    rid = getattr(resource, "id", None)
    rtype = getattr(resource, "__resource_type__", None) or type(resource).__name__
    return f"{rtype}/{rid}" if rid else None


def code_of(resource: Any, attr: str = "code") -> str | None:
    """A plain code field (``status``) as a string."""
    value = getattr(resource, attr, None)
    return None if value is None else str(value)


def effective_time(resource: Any) -> datetime | None:
    """Observation/Procedure clinically relevant time: effective[x] (period end, else start)."""
    for attr in ("effectiveDateTime", "effectiveInstant", "performedDateTime"):
        found = to_datetime(getattr(resource, attr, None))
        if found is not None:
            return found
    for attr in ("effectivePeriod", "performedPeriod"):
        period = getattr(resource, attr, None)
        if period is not None:
            found = to_datetime(getattr(period, "end", None)) or to_datetime(
                getattr(period, "start", None)
            )
            if found is not None:
                return found
    return None


def raw_effective_time(resource: dict[str, Any]) -> datetime | None:
    """:func:`effective_time` read from a raw Observation dict (no validation).

    For a resource that validates, this equals ``effective_time`` of its model: the read
    models keep date strings as they are, and both go through ``to_datetime``.
    """
    for attr in ("effectiveDateTime", "effectiveInstant", "performedDateTime"):
        found = to_datetime(resource.get(attr))
        if found is not None:
            return found
    for attr in ("effectivePeriod", "performedPeriod"):
        period = resource.get(attr)
        if isinstance(period, dict):
            found = to_datetime(period.get("end")) or to_datetime(period.get("start"))
            if found is not None:
                return found
    return None


def codeable_code_in(concepts: Any, system: str, codes: frozenset[str]) -> bool:
    for concept in concepts or []:
        for key in concept_keys(concept):
            if key[0] == system and key[1] in codes:
                return True
    return False
