"""Every named value set, in one registry, and the code lists the prefetch templates use.

Rules declare data needs by value-set name; the start-up check compares those names with
the codes each service's prefetch asks for. Prefetch code lists are *derived* from the
value sets here, never written by hand (knowledge/prefetch_sets.py only formats them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from cds_service.knowledge import codes as c
from cds_service.knowledge.analytes import ANALYTES, BP_PANEL, LAB_ANALYTES, VITAL_ANALYTES
from cds_service.knowledge.codes import Concept, ValueSet
from cds_service.knowledge.orders import ORDER_ITEMS


def _union(name: str, title: str, parts: Iterable[Iterable[Concept]]) -> ValueSet:
    seen: dict[tuple[str, str], Concept] = {}
    for part in parts:
        for concept in part:
            seen.setdefault(concept.key, concept)
    return ValueSet(name, title, tuple(seen.values()))


def _all_value_sets() -> dict[str, ValueSet]:
    out: dict[str, ValueSet] = {}
    for finding in c.FINDINGS.values():
        out[finding.value_set.name] = finding.value_set
    for analyte in ANALYTES.values():
        out[analyte.value_set.name] = analyte.value_set
    for vs in (
        c.PREGNANT_VALUES,
        c.NOT_PREGNANT_VALUES,
        c.UNKNOWN_VALUES,
        c.EDD,
        c.GESTATIONAL_AGE,
        c.PREGNANCY_CONDITIONS,
        c.NOT_PREGNANT_CONDITIONS,
        c.POSTPARTUM_CONDITIONS,
        c.DELIVERY_PROCEDURES,
    ):
        out[vs.name] = vs
    out["pregnancy-status"] = ValueSet(
        "pregnancy-status", "Pregnancy status", (c.PREGNANCY_STATUS,)
    )
    out["lmp"] = ValueSet("lmp", "Last menstrual period", (c.LMP,))
    out["blood-pressure"] = ValueSet(
        "blood-pressure",
        "Blood pressure (panel and components)",
        (BP_PANEL, *ANALYTES["systolic_bp"].concepts, *ANALYTES["diastolic_bp"].concepts),
    )
    return out


VALUE_SETS: Mapping[str, ValueSet] = MappingProxyType(_all_value_sets())


def value_set(name: str) -> ValueSet:
    found = VALUE_SETS.get(name)
    if found is None:
        raise KeyError(f"unknown value set {name!r}")
    return found


def _concepts(*names: str) -> list[Concept]:
    return [concept for name in names for concept in value_set(name).concepts]


# What each prefetch code list contains, derived from the value sets above.
_PREGNANCY_OBS = _union(
    "pregnancy-observations",
    "Pregnancy status and dating observations",
    [_concepts("pregnancy-status", "edd", "gestational-age", "lmp")],
)
_VITALS = _union(
    "vital-observations",
    "Vital signs",
    [
        _concepts("blood-pressure"),
        *(ANALYTES[k].concepts for k in VITAL_ANALYTES),
        ANALYTES["body_weight"].concepts,
    ],
)
_LABS = _union(
    "lab-observations", "Laboratory results", [ANALYTES[k].concepts for k in LAB_ANALYTES]
)
_FINDING_OBS = _union(
    "finding-observations",
    "Symptoms, signs and bedside findings recorded as Observations",
    [
        *(f.concepts for f in c.FINDINGS.values()),
        ANALYTES["calf_circumference_difference"].concepts,
        ANALYTES["contraction_frequency"].concepts,
        ANALYTES["puqe_score"].concepts,
    ],
)
_PREGNANCY_CONDITIONS = _union(
    "pregnancy-conditions",
    "Pregnancy, not-pregnant and postpartum conditions",
    [_concepts("pregnancy-condition", "not-pregnant-condition", "postpartum-condition")],
)
_CONDITIONS = _union(
    "conditions",
    "Conditions: pregnancy context, symptoms and disorders",
    [_PREGNANCY_CONDITIONS.concepts, *(f.concepts for f in c.FINDINGS.values())],
)
_ORDER_LABS = _union(
    "order-lab-observations",
    "Electrolytes and renal function for the order checks",
    [
        ANALYTES[k].concepts
        for k in (
            "potassium",
            "sodium",
            "chloride",
            "magnesium",
            "calcium_total",
            "calcium_adjusted",
            "calcium_ionised",
            "albumin",
            "creatinine",
        )
    ],
)
_DELIVERIES = _union("delivery-procedures", "Delivery procedures", [c.DELIVERY_PROCEDURES.concepts])
_ORDERABLES = _union(
    "orderable-services",
    "Orderable services (section C)",
    [i.codings for i in ORDER_ITEMS.values()],
)

PREFETCH_CODE_SETS: Mapping[str, ValueSet] = MappingProxyType(
    {
        vs.name: vs
        for vs in (
            _PREGNANCY_OBS,
            _VITALS,
            _LABS,
            _FINDING_OBS,
            _CONDITIONS,
            _PREGNANCY_CONDITIONS,
            _ORDER_LABS,
            _DELIVERIES,
            _ORDERABLES,
        )
    }
)
