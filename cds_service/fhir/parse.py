"""Typed FHIR R4 (``fhir.resources.R4B``) views of the resources the engine reads.

Raw JSON is filtered by code *first* (a dict lookup per coding), so resources no rule
reads are never validated. A resource that fails validation is skipped and counted,
never a 500; only counts are logged (no PHI).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.systems import canonical_system
from cds_service.knowledge.value_sets import PREFETCH_CODE_SETS

log = logging.getLogger("cds_service.fhir.parse")


def _codes(*set_names: str) -> frozenset[CodeKey]:
    return frozenset(k for name in set_names for k in PREFETCH_CODE_SETS[name].codes)


# Codes worth validating, per resource type (derived from the knowledge value sets).
OBSERVATION_CODES = _codes(
    "pregnancy-observations", "vital-observations", "lab-observations", "finding-observations"
)
CONDITION_CODES = _codes("conditions")
PROCEDURE_CODES = _codes("delivery-procedures")

_MODELS: Mapping[str, Any] = MappingProxyType(
    {
        "Patient": Patient,
        "Observation": Observation,
        "Condition": Condition,
        "MedicationRequest": MedicationRequest,
        "MedicationStatement": MedicationStatement,
        "Medication": Medication,
        "Procedure": Procedure,
        "ServiceRequest": ServiceRequest,
    }
)


def raw_codes(concept: Any) -> list[CodeKey]:
    """(system, code) pairs of a raw CodeableConcept dict, systems canonicalised."""
    out: list[CodeKey] = []
    if not isinstance(concept, dict):
        return out
    for coding in concept.get("coding") or []:
        if not isinstance(coding, dict):
            continue
        system = canonical_system(coding.get("system"))
        code = coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            out.append((system, code))
    return out


def _relevant(resource: dict[str, Any]) -> bool:
    rtype = resource.get("resourceType")
    if rtype == "Observation":
        keys = raw_codes(resource.get("code"))
        for component in resource.get("component") or []:
            if isinstance(component, dict):
                keys.extend(raw_codes(component.get("code")))
        return any(k in OBSERVATION_CODES for k in keys)
    if rtype == "Condition":
        return any(k in CONDITION_CODES for k in raw_codes(resource.get("code")))
    if rtype == "Procedure":
        return any(k in PROCEDURE_CODES for k in raw_codes(resource.get("code")))
    return rtype in _MODELS


@dataclass(frozen=True)
class ParsedData:
    """Validated resources by type. ``invalid`` counts skipped resources (no PHI kept)."""

    patient: Any | None = None
    observations: tuple[Any, ...] = ()
    conditions: tuple[Any, ...] = ()
    medication_requests: tuple[Any, ...] = ()
    medication_statements: tuple[Any, ...] = ()
    medications: Mapping[str, Any] = field(default_factory=dict)
    procedures: tuple[Any, ...] = ()
    service_requests: tuple[Any, ...] = ()
    invalid: int = 0
    ignored: int = 0


def validate(resource: dict[str, Any]) -> Any | None:
    """One resource as its R4B model, or ``None`` if it is not a valid resource we read."""
    model = _MODELS.get(str(resource.get("resourceType")))
    if model is None:
        return None
    try:
        return model.model_validate(resource)
    except Exception:
        return None


# Observations per code kept for validation, newest first. The rules read the latest value
# and short histories (BP over 7 days, weight trend); older results are never graded.
MAX_OBSERVATIONS_PER_CODE = 25
_IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled"})


def _raw_time(resource: dict[str, Any]) -> str:
    """Sortable effective time of a raw Observation (ISO strings sort chronologically)."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        value = resource.get(key)
        if isinstance(value, str):
            return value
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        value = period.get("end") or period.get("start")
        if isinstance(value, str):
            return value
    issued = resource.get("issued")
    return issued if isinstance(issued, str) else ""


def _newest_per_code(observations: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Keep the newest observations per code (entered-in-error/cancelled never count)."""
    groups: dict[tuple[CodeKey, ...], list[dict[str, Any]]] = {}
    dropped = 0
    for obs in observations:
        if obs.get("status") in _IGNORED_STATUSES:
            dropped += 1
            continue
        key = tuple(sorted(raw_codes(obs.get("code"))))
        groups.setdefault(key, []).append(obs)
    kept: list[dict[str, Any]] = []
    for group in groups.values():
        group.sort(key=_raw_time, reverse=True)
        kept.extend(group[:MAX_OBSERVATIONS_PER_CODE])
        dropped += max(0, len(group) - MAX_OBSERVATIONS_PER_CODE)
    return kept, dropped


def parse_resources(resources: Iterable[dict[str, Any]]) -> ParsedData:
    """Filter by code, keep the newest observations per code, validate, group by type."""
    by_type: dict[str, list[Any]] = {name: [] for name in _MODELS}
    invalid = 0
    ignored = 0
    relevant: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    for resource in resources:
        if not isinstance(resource, dict) or not _relevant(resource):
            ignored += 1
        elif resource.get("resourceType") == "Observation":
            observations.append(resource)
        else:
            relevant.append(resource)
    kept, dropped = _newest_per_code(observations)
    ignored += dropped
    for resource in (*relevant, *kept):
        parsed = validate(resource)
        if parsed is None:
            invalid += 1
            continue
        by_type[str(resource["resourceType"])].append(parsed)
    if invalid:
        log.warning("skipped invalid FHIR resources", extra={"invalid": invalid})
    patients = by_type["Patient"]
    medications = {m.id: m for m in by_type["Medication"] if m.id}
    return ParsedData(
        patient=patients[0] if patients else None,
        observations=tuple(by_type["Observation"]),
        conditions=tuple(by_type["Condition"]),
        medication_requests=tuple(by_type["MedicationRequest"]),
        medication_statements=tuple(by_type["MedicationStatement"]),
        medications=MappingProxyType(medications),
        procedures=tuple(by_type["Procedure"]),
        service_requests=tuple(by_type["ServiceRequest"]),
        invalid=invalid,
        ignored=ignored,
    )


def parse_drafts(resources: Iterable[dict[str, Any]]) -> tuple[tuple[Any, ...], int]:
    """Draft orders from the hook context (any request type we read), and the invalid count."""
    out: list[Any] = []
    invalid = 0
    for resource in resources:
        if not isinstance(resource, dict):
            invalid += 1
            continue
        parsed = validate(resource)
        if parsed is None:
            if resource.get("resourceType") in _MODELS:
                invalid += 1
            continue
        out.append(parsed)
    return tuple(out), invalid
