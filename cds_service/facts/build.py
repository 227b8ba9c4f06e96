"""One pass from an :class:`Evaluation` (FHIR JSON) to a frozen :class:`PatientFacts`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from cds_service.facts.clinical import (
    build_medications,
    build_orders,
    build_symptoms,
    classes_of,
)
from cds_service.facts.common import concept_keys, to_datetime
from cds_service.facts.measurements import build_measurements
from cds_service.facts.model import MedicationFact, PatientFacts, PatientInfo
from cds_service.facts.pregnancy import build_pregnancy
from cds_service.facts.select import select_observations
from cds_service.fhir.data import Evaluation
from cds_service.fhir.parse import Candidate, models, parse_drafts, parse_resources, raw_codes
from cds_service.knowledge.policy import DEFAULT_POLICY, Policy
from cds_service.knowledge.systems import SEX_FOR_CLINICAL_USE


def _patient_info(patient: Any, now: datetime) -> PatientInfo:
    if patient is None:
        return PatientInfo()
    birth = getattr(patient, "birthDate", None)
    birth_date = birth if isinstance(birth, date) else None
    if birth_date is None and birth is not None:
        parsed = to_datetime(birth)
        birth_date = parsed.date() if parsed else None
    age = None
    if birth_date is not None:
        today = now.date()
        age = (
            today.year
            - birth_date.year
            - ((today.month, today.day) < (birth_date.month, birth_date.day))
        )
    sex = None
    for ext in getattr(patient, "extension", None) or []:
        if getattr(ext, "url", None) != SEX_FOR_CLINICAL_USE:
            continue
        for sub in getattr(ext, "extension", None) or []:
            if getattr(sub, "url", None) == "value":
                keys = concept_keys(getattr(sub, "valueCodeableConcept", None))
                sex = keys[0][1] if keys else sex
        keys = concept_keys(getattr(ext, "valueCodeableConcept", None))
        sex = keys[0][1] if keys else sex
    gender = getattr(patient, "gender", None)
    return PatientInfo(str(gender) if gender else None, birth_date, age, sex)


def build_facts(evaluation: Evaluation, policy: Policy = DEFAULT_POLICY) -> PatientFacts:
    """The patient snapshot for one hook call, as of ``evaluation.now``.

    Resources are chosen on raw JSON and validated only when read (``fhir.parse``): the
    few Patient/Condition/medicine/order resources that can matter are validated here,
    lab and vital-sign Observations lazily, newest first, as rules read them.
    """
    now = evaluation.now
    parsed = parse_resources(evaluation.data.resources)
    drafts, invalid_drafts = parse_drafts(evaluation.draft_orders)
    observations = select_observations(parsed.observations)
    conditions = models(parsed.of("Condition"))
    procedures = models(
        c for c in parsed.of("Procedure") if c.status not in _SKIPPED_PROCEDURE_STATUSES
    )
    requests = models(c for c in parsed.of("MedicationRequest") if _medicine_read(c))
    statements = models(
        c for c in parsed.of("MedicationStatement") if c.status == "active" and _medicine_read(c)
    )
    service_requests = models(
        c for c in parsed.of("ServiceRequest") if c.status in _SERVICE_REQUEST_STATUSES
    )
    medication_index = LazyMedications(parsed.of("Medication"))
    pregnancy = build_pregnancy(models(observations.pregnancy), conditions, procedures, now, policy)
    medications = build_medications(requests, statements, medication_index)
    measured = build_measurements(
        observations.measurements, now, policy, _iron_restaleness(medications, now, policy)
    )
    return PatientFacts(
        now=now,
        patient_id=evaluation.patient_id,
        hook=evaluation.hook,
        encounter_id=evaluation.encounter_id,
        pregnancy=pregnancy,
        patient=_patient_info(_first_patient(parsed.of("Patient")), now),
        measurements=measured.measurements,
        unit_problems=measured.unit_problems,
        blood_pressures=measured.blood_pressures,
        symptoms=MappingProxyType(dict(build_symptoms(models(observations.findings), conditions))),
        medications=medications,
        orders=build_orders(drafts, service_requests, requests, medication_index),
        data_gaps=evaluation.data.gaps,
        invalid_drafts=invalid_drafts,
        validation=parsed.stats,
        selections=evaluation.selections,
        policy=policy,
    )


# Statuses the builders read (facts.clinical / facts.pregnancy); any other resource of these
# types is never used, so it is not validated. A valid resource's status is its raw string.
_SERVICE_REQUEST_STATUSES = frozenset({"active", "draft"})
_SKIPPED_PROCEDURE_STATUSES = frozenset({"entered-in-error", "not-done", "preparation"})


def _medicine_read(candidate: Candidate) -> bool:
    """Whether facts.clinical can use this MedicationRequest/Statement: a draft is an order;
    an active one counts only in a medicine class. Without a ``medicationReference`` its
    codes are those of ``medicationCodeableConcept``, the same strings once validated."""
    status = candidate.status
    if status == "draft":
        return candidate.raw.get("resourceType") == "MedicationRequest"
    if status != "active":
        return False
    raw = candidate.raw
    if raw.get("medicationReference") is not None:
        return True  # codes of a referenced (or contained) Medication: validate to know
    return bool(classes_of(raw_codes(raw.get("medicationCodeableConcept"))))


def _first_patient(candidates: Sequence[Candidate]) -> Any | None:
    for candidate in candidates:
        model = candidate.model()
        if model is not None:
            return model
    return None


class LazyMedications(Mapping[str, Any]):
    """Medication resources by id, validated on lookup (the last valid one of an id wins)."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        self._by_id: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            rid = candidate.raw.get("id")
            if isinstance(rid, str) and rid:
                self._by_id.setdefault(rid, []).append(candidate)

    def __getitem__(self, key: str) -> Any:
        for candidate in reversed(self._by_id.get(key, ())):
            model = candidate.model()
            if model is not None and model.id == key:
                return model
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([key for key in self._by_id if key in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True


def _iron_restaleness(
    medications: Sequence[MedicationFact], now: datetime, policy: Policy
) -> Mapping[str, datetime]:
    """BSH 2020: once iron has run 2-3 weeks, an Hb taken before it started is out of date."""
    starts = [m.started for m in medications if "iron" in m.classes and m.started is not None]
    if not starts:
        return {}
    started = max(starts)
    if now - started < timedelta(days=policy.hb_on_iron_staleness_days):
        return {}
    return {"haemoglobin": started}
