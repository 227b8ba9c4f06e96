"""One pass from an :class:`Evaluation` (FHIR JSON) to a frozen :class:`PatientFacts`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from cds_service.facts.clinical import build_medications, build_orders, build_symptoms
from cds_service.facts.common import concept_keys, to_datetime
from cds_service.facts.measurements import build_measurements
from cds_service.facts.model import Measurement, PatientFacts, PatientInfo
from cds_service.facts.pregnancy import build_pregnancy
from cds_service.fhir.data import Evaluation
from cds_service.fhir.parse import parse_drafts, parse_resources
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
    """The patient snapshot for one hook call, as of ``evaluation.now``."""
    now = evaluation.now
    parsed = parse_resources(evaluation.data.resources)
    drafts, invalid_drafts = parse_drafts(evaluation.draft_orders)
    pregnancy = build_pregnancy(
        parsed.observations, parsed.conditions, parsed.procedures, now, policy
    )
    measured = build_measurements(parsed.observations, now, policy)
    medications = build_medications(
        parsed.medication_requests, parsed.medication_statements, parsed.medications
    )
    measurements = dict(measured.measurements)
    _iron_restaleness(measurements, medications, now, policy)
    return PatientFacts(
        now=now,
        patient_id=evaluation.patient_id,
        hook=evaluation.hook,
        encounter_id=evaluation.encounter_id,
        pregnancy=pregnancy,
        patient=_patient_info(parsed.patient, now),
        measurements=MappingProxyType(measurements),
        unit_problems=measured.unit_problems,
        blood_pressures=measured.blood_pressures,
        symptoms=MappingProxyType(dict(build_symptoms(parsed.observations, parsed.conditions))),
        medications=medications,
        orders=build_orders(
            drafts, parsed.service_requests, parsed.medication_requests, parsed.medications
        ),
        data_gaps=evaluation.data.gaps,
        invalid_resources=parsed.invalid + invalid_drafts,
        selections=evaluation.selections,
        policy=policy,
    )


def _iron_restaleness(
    measurements: dict[str, tuple[Measurement, ...]],
    medications: Any,
    now: datetime,
    policy: Policy,
) -> None:
    """BSH 2020: once iron has run 2-3 weeks, an Hb taken before it started is out of date."""
    starts = [m.started for m in medications if "iron" in m.classes and m.started is not None]
    if not starts:
        return
    started = max(starts)
    if now - started < timedelta(days=policy.hb_on_iron_staleness_days):
        return
    values = measurements.get("haemoglobin")
    if not values:
        return
    measurements["haemoglobin"] = tuple(
        replace(m, stale=True) if m.when is not None and m.when < started else m for m in values
    )
