"""Small builders for realistic FHIR R4 test resources and evaluations.

Codes come from the knowledge layer by key (finding keys, analyte keys), so a test reads
like the clinical statement it checks: ``lab("potassium", 2.4, "mmol/L")``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cds_service.cards import build_cards
from cds_service.engine import EngineResult, evaluate
from cds_service.facts import PatientFacts, build_facts
from cds_service.fhir.data import DataGap, Evaluation, PatientData
from cds_service.knowledge import codes as k
from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.policy import DEFAULT_POLICY, Policy
from cds_service.knowledge.systems import (
    ATC,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    INTERPRETATION,
    LOINC,
    RXNORM,
    SNOMED,
    UCUM,
)
from cds_service.wire import Card

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT_ID = "pat-1"
_ids = itertools.count(1)

Resource = dict[str, Any]


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def iso(when: datetime | date) -> str:
    if isinstance(when, datetime):
        return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return when.isoformat()


def ago(days: float = 0, hours: float = 0, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days, hours=hours)


def patient(
    gender: str | None = "female",
    birth: str | None = "1994-03-02",
    sex_for_clinical_use: str | None = None,
) -> Resource:
    res: Resource = {"resourceType": "Patient", "id": PATIENT_ID}
    if gender:
        res["gender"] = gender
    if birth:
        res["birthDate"] = birth
    if sex_for_clinical_use:
        res["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse",
                "extension": [
                    {
                        "url": "value",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/sex-parameter-for-clinical-use",
                                    "code": sex_for_clinical_use,
                                }
                            ]
                        },
                    }
                ],
            }
        ]
    return res


def _subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT_ID}"}


def observation(
    system: str,
    code: str,
    *,
    display: str | None = None,
    when: datetime | None = None,
    status: str = "final",
    category: str = "laboratory",
    value: float | None = None,
    unit: str | None = None,
    ucum_code: str | None = None,
    extra: dict[str, Any] | None = None,
    interpretation: str | None = None,
    ident: str | None = None,
) -> Resource:
    when = when or NOW
    res: Resource = {
        "resourceType": "Observation",
        "id": ident or _id("obs"),
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": category,
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": system, "code": code, **({"display": display} if display else {})}
            ]
        },
        "subject": _subject(),
        "effectiveDateTime": iso(when),
        "issued": iso(when + timedelta(minutes=30)),
    }
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity["unit"] = unit
        code_unit = ucum_code if ucum_code is not None else unit
        if code_unit is not None:
            quantity["system"] = UCUM
            quantity["code"] = code_unit
        res["valueQuantity"] = quantity
    if interpretation:
        res["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": interpretation}]}]
    if extra:
        res.update(extra)
    return res


def lab(
    analyte: str,
    value: float,
    unit: str | None,
    *,
    code_index: int = 0,
    when: datetime | None = None,
    no_code: bool = False,
    **kw: Any,
) -> Resource:
    """A result for ``analyte`` (knowledge key) using its ``code_index``-th LOINC code."""
    concept = ANALYTES[analyte].concepts[code_index]
    category = (
        "vital-signs" if ANALYTES[analyte].freshness in ("vital", "bedside") else "laboratory"
    )
    return (
        observation(
            concept.system,
            concept.code,
            display=concept.display,
            when=when,
            category=kw.pop("category", category),
            value=value,
            unit=unit,
            ucum_code="" if no_code else None,
            **kw,
        )
        if not no_code
        else _unit_text_only(
            concept.system, concept.code, concept.display, value, unit, when, category, **kw
        )
    )


def _unit_text_only(
    system: str,
    code: str,
    display: str,
    value: float,
    unit: str | None,
    when: datetime | None,
    category: str,
    **kw: Any,
) -> Resource:
    res = observation(system, code, display=display, when=when, category=category, **kw)
    res["valueQuantity"] = {"value": value, **({"unit": unit} if unit else {})}
    return res


def bp(
    systolic: float,
    diastolic: float,
    *,
    when: datetime | None = None,
    status: str = "final",
    ident: str | None = None,
) -> Resource:
    res = observation(
        LOINC,
        "85354-9",
        display="Blood pressure panel with all children optional",
        when=when,
        status=status,
        category="vital-signs",
        ident=ident,
    )
    res["component"] = [
        {
            "code": {
                "coding": [
                    {"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}
                ]
            },
            "valueQuantity": {"value": systolic, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
        {
            "code": {
                "coding": [
                    {"system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure"}
                ]
            },
            "valueQuantity": {"value": diastolic, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
    ]
    return res


def _finding_concept(key: str) -> k.Concept:
    return k.FINDINGS[key].concepts[0]


def _body_site(side: str | None) -> dict[str, Any] | None:
    if side is None:
        return None
    if side == "left":
        return {
            "coding": [{"system": SNOMED, "code": "7771000", "display": "Left"}],
            "text": "left lower leg",
        }
    if side == "right":
        return {
            "coding": [{"system": SNOMED, "code": "24028007", "display": "Right"}],
            "text": "right lower leg",
        }
    return {"text": "both legs"}


def symptom(
    key: str,
    *,
    when: datetime | None = None,
    present: bool | None = True,
    side: str | None = None,
    status: str = "final",
    ident: str | None = None,
) -> Resource:
    """A finding recorded as an Observation (clinical.md F)."""
    concept = _finding_concept(key)
    res = observation(
        concept.system,
        concept.code,
        display=concept.display,
        when=when,
        status=status,
        category="exam",
        ident=ident,
    )
    if present is False:
        res["valueCodeableConcept"] = {
            "coding": [{"system": SNOMED, "code": "373067005", "display": "No"}]
        }
    elif present is True:
        res["valueCodeableConcept"] = {
            "coding": [{"system": SNOMED, "code": "373066001", "display": "Yes"}]
        }
    site = _body_site(side)
    if site:
        res["bodySite"] = site
    return res


def condition(
    key_or_code: str,
    *,
    system: str = SNOMED,
    onset: datetime | None = None,
    clinical: str = "active",
    verification: str = "confirmed",
    side: str | None = None,
    abatement: datetime | None = None,
    ident: str | None = None,
) -> Resource:
    if key_or_code in k.FINDINGS:
        concept = _finding_concept(key_or_code)
        system, code, display = concept.system, concept.code, concept.display
    else:
        code, display = key_or_code, None
    res: Resource = {
        "resourceType": "Condition",
        "id": ident or _id("cond"),
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": clinical}]},
        "verificationStatus": {
            "coding": [{"system": CONDITION_VERIFICATION, "code": verification}]
        },
        "code": {
            "coding": [
                {"system": system, "code": code, **({"display": display} if display else {})}
            ]
        },
        "subject": _subject(),
        "recordedDate": iso(onset or NOW),
    }
    if onset is not None:
        res["onsetDateTime"] = iso(onset)
    if abatement is not None:
        res["abatementDateTime"] = iso(abatement)
    site = _body_site(side)
    if site:
        res["bodySite"] = [site]
    return res


def medication(
    rxnorm: str | None = None,
    atc: str | None = None,
    *,
    display: str = "medicine",
    status: str = "active",
    route: str | None = None,
    start: datetime | None = None,
    ident: str | None = None,
    intent: str = "order",
) -> Resource:
    codings = []
    if rxnorm:
        codings.append({"system": RXNORM, "code": rxnorm, "display": display})
    if atc:
        codings.append({"system": ATC, "code": atc, "display": display})
    res: Resource = {
        "resourceType": "MedicationRequest",
        "id": ident or _id("med"),
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": {"coding": codings, "text": display},
        "subject": _subject(),
        "authoredOn": iso(start or ago(days=30)),
    }
    dosage: dict[str, Any] = {"text": "as directed"}
    if route == "iv":
        dosage["route"] = {
            "coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]
        }
    elif route == "oral":
        dosage["route"] = {
            "coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]
        }
    if start is not None:
        dosage["timing"] = {"repeat": {"boundsPeriod": {"start": iso(start)}}}
    res["dosageInstruction"] = [dosage]
    return res


def delivery(when: datetime, *, code: str = "236973005", ident: str | None = None) -> Resource:
    return {
        "resourceType": "Procedure",
        "id": ident or _id("proc"),
        "status": "completed",
        "code": {
            "coding": [
                {"system": SNOMED, "code": code, "display": "Delivery procedure (procedure)"}
            ]
        },
        "subject": _subject(),
        "performedDateTime": iso(when),
    }


def pregnancy_status(
    answer: str, *, when: datetime | None = None, status: str = "final"
) -> Resource:
    display = {"LA15173-0": "Pregnant", "LA26683-5": "Not pregnant", "LA4489-6": "Unknown"}[answer]
    res = observation(
        LOINC,
        "82810-3",
        display="Pregnancy status",
        when=when,
        status=status,
        category="social-history",
    )
    res["valueCodeableConcept"] = {
        "coding": [{"system": LOINC, "code": answer, "display": display}]
    }
    return res


def edd(edd_date: date, *, when: datetime | None = None, code: str = "11778-8") -> Resource:
    res = observation(
        LOINC, code, display="Delivery date Estimated", when=when or ago(days=60), category="exam"
    )
    res["valueDateTime"] = edd_date.isoformat()
    return res


def pregnant(weeks: int, days: int = 0, *, now: datetime = NOW) -> list[Resource]:
    """Pregnancy evidence for a gestation of weeks+days on ``now``: status + EDD."""
    ga = weeks * 7 + days
    due = now.date() + timedelta(days=280 - ga)
    return [
        pregnancy_status("LA15173-0", when=now - timedelta(days=min(ga, 60))),
        edd(due, when=now - timedelta(days=min(ga, 60))),
    ]


def postpartum(days: int, *, now: datetime = NOW) -> list[Resource]:
    delivered = now - timedelta(days=days)
    return [
        pregnancy_status("LA15173-0", when=delivered - timedelta(days=100)),
        edd((delivered + timedelta(days=3)).date(), when=delivered - timedelta(days=100)),
        delivery(delivered),
    ]


def evaluation(
    resources: Iterable[Resource],
    *,
    hook: str = "patient-view",
    families: Sequence[str] = ("all",),
    now: datetime = NOW,
    drafts: Sequence[Resource] = (),
    gaps: Sequence[DataGap] = (),
    with_patient: bool = True,
) -> Evaluation:
    items = list(resources)
    if with_patient and not any(r.get("resourceType") == "Patient" for r in items):
        items.insert(0, patient())
    return Evaluation(
        hook=hook,
        service_id="test",
        rule_families=tuple(families),
        patient_id=PATIENT_ID,
        user_id="Practitioner/example",
        now=now,
        data=PatientData(tuple(items), tuple(gaps)),
        encounter_id=None,
        draft_orders=tuple(drafts),
    )


def facts_of(
    resources: Iterable[Resource],
    *,
    now: datetime = NOW,
    policy: Policy = DEFAULT_POLICY,
    **kw: Any,
) -> PatientFacts:
    return build_facts(evaluation(resources, now=now, **kw), policy)


def run(resources: Iterable[Resource], **kw: Any) -> EngineResult:
    policy = kw.pop("policy", DEFAULT_POLICY)
    return evaluate(evaluation(resources, **kw), policy)


def findings_for(resources: Iterable[Resource], rule_id: str, **kw: Any) -> list[Any]:
    return [f for f in run(resources, **kw).findings if f.rule_id == rule_id]


def one(resources: Iterable[Resource], rule_id: str, **kw: Any) -> Any | None:
    found = findings_for(resources, rule_id, **kw)
    assert len(found) <= 1, found
    return found[0] if found else None


def cards_for(resources: Iterable[Resource], **kw: Any) -> list[Card]:
    return build_cards(run(resources, **kw))


def rule_of(card: Card) -> str:
    assert card.source.topic is not None
    return card.source.topic.code


def new_uuid() -> str:
    return str(uuid.uuid4())
