# ruff: noqa: E501 - case descriptions are one-line clinical statements, kept whole.
"""The clinical core's fixture cases, written to ``fixtures/<case>/`` (request + expect).

Run ``python -m tests.clinical.fixture_cases`` to regenerate. Every request is a complete
CDS Hooks call: each prefetch key of the service's ``hooks/*.toml`` is present (a
searchset Bundle, or ``null`` when nothing matches), resources are filed under the key
whose query would return them, and all dates are absolute, relative to ``asOf``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cds_service.knowledge.systems import canonical_system
from cds_service.knowledge.value_sets import PREFETCH_CODE_SETS
from tests.clinical import builders as b
from tests.clinical.builders import NOW, ago, iso

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
AS_OF = iso(NOW)

SERVICES = {
    "prenatal-cramps-convulsions": (
        "patient-view",
        [
            "patient",
            "pregnancy",
            "vitals",
            "labs",
            "findings",
            "conditions",
            "medications",
            "deliveries",
            "orders",
        ],
    ),
    "prenatal-visit": (
        "encounter-start",
        [
            "patient",
            "pregnancy",
            "vitals",
            "labs",
            "findings",
            "conditions",
            "medications",
            "deliveries",
            "orders",
        ],
    ),
}


def _codes(resource: dict[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    concepts = [resource.get("code")] + [c.get("code") for c in resource.get("component") or []]
    for concept in concepts:
        for coding in (concept or {}).get("coding") or []:
            out.add((canonical_system(coding.get("system")) or "", coding.get("code", "")))
    return out


def prefetch_key(resource: dict[str, Any]) -> str:
    rtype = resource["resourceType"]
    if rtype == "Patient":
        return "patient"
    if rtype == "Observation":
        codes = _codes(resource)
        for key, name in (
            ("pregnancy", "pregnancy-observations"),
            ("vitals", "vital-observations"),
            ("labs", "lab-observations"),
            ("findings", "finding-observations"),
        ):
            if codes & PREFETCH_CODE_SETS[name].codes:
                return key
        raise ValueError(f"no prefetch key returns {codes}")
    return {
        "Condition": "conditions",
        "MedicationRequest": "medications",
        "Medication": "medications",
        "Procedure": "deliveries",
        "ServiceRequest": "orders",
    }[rtype]


def _bundle(resources: list[dict[str, Any]], case: str, key: str) -> dict[str, Any] | None:
    if not resources:
        return None
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case}/{key}")),
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


@dataclass
class Case:
    id: str
    description: str
    resources: Callable[[], list[dict[str, Any]]]
    cards: list[dict[str, Any]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    exact: bool = False
    service: str = "prenatal-cramps-convulsions"
    gap_keys: tuple[str, ...] = ()


def write(case: Case) -> None:
    hook, keys = SERVICES[case.service]
    resources = case.resources()
    if not any(r["resourceType"] == "Patient" for r in resources):
        resources.insert(0, b.patient())
    filed: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    for resource in resources:
        filed[prefetch_key(resource)].append(resource)
    prefetch: dict[str, Any] = {k: _bundle(filed[k], case.id, k) for k in keys}
    for key in case.gap_keys:
        prefetch[key] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout", "diagnostics": "upstream timeout"}],
        }
    context: dict[str, Any] = {"userId": "Practitioner/prac-1", "patientId": b.PATIENT_ID}
    if hook == "encounter-start":
        context["encounterId"] = "enc-1"
    request = {
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, case.id)),
        "hook": hook,
        "context": context,
        "prefetch": prefetch,
    }
    expect = {
        "service": case.service,
        "asOf": AS_OF,
        "description": case.description,
        "cards": case.cards,
        "absentRules": case.absent,
        "exactCards": case.exact,
    }
    folder = FIXTURES / case.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")
    (folder / "expect.json").write_text(json.dumps(expect, indent=2) + "\n", encoding="utf-8")


def card(rule: str, indicator: str, *orders: str) -> dict[str, Any]:
    return {"rule": rule, "indicator": indicator, "orders": list(orders)}


RED_FLAGS = ["R1", "R2", "R3", "R3b", "R4", "R5", "R6", "R13", "R13b", "R14"]


# Deterministic resource ids per case keep regenerated fixtures stable.
def _reset_ids() -> None:
    import itertools

    b._ids = itertools.count(1)


def _postpartum(days: int) -> list[dict[str, Any]]:
    return [
        b.pregnancy_status("LA15173-0", when=ago(days=days + 200)),
        b.edd((NOW - timedelta(days=days - 2)).date(), when=ago(days=days + 200)),
        b.delivery(ago(days=days)),
    ]


def _normal_fresh_labs() -> list[dict[str, Any]]:
    return [
        b.lab("haemoglobin", 121, "g/L", when=ago(days=3)),
        b.lab("platelets", 240, "10*9/L", when=ago(days=3)),
        b.lab("ferritin", 45, "ug/L", when=ago(days=3)),
        b.lab("calcium_total", 2.31, "mmol/L", when=ago(days=3)),
        b.lab("albumin", 36, "g/L", when=ago(days=3)),
        b.lab("magnesium", 0.82, "mmol/L", when=ago(days=3)),
        b.lab("potassium", 4.1, "mmol/L", when=ago(days=3)),
        b.lab("sodium", 138, "mmol/L", when=ago(days=3)),
        b.lab("phosphate", 1.1, "mmol/L", when=ago(days=3)),
        b.lab("glucose", 4.8, "mmol/L", when=ago(days=3)),
        b.lab("vitamin_d", 62, "nmol/L", when=ago(days=3)),
    ]


CASES: list[Case] = [
    # ---- R1 ----
    Case(
        "seizure-34w-critical",
        "Seizure 2 h ago at 34+2 w with normal BP: possible eclampsia, critical (R1).",
        lambda: [
            *b.pregnant(34, 2),
            b.symptom("seizure", when=ago(hours=2)),
            b.bp(126, 80, when=ago(hours=1)),
        ],
        [card("R1", "critical", "58410-2", "2345-7", "2890-2")],
        ["R2"],
        True,
    ),
    Case(
        "seizure-postpartum-day5-critical",
        "Seizure on postpartum day 5: eclampsia can occur after birth; critical (R1 is a (P) rule).",
        lambda: [*_postpartum(5), b.condition("seizure", onset=ago(hours=3))],
        [card("R1", "critical", "58410-2")],
        [],
        True,
    ),
    Case(
        "postpartum-day60-seizure-no-cards",
        "Seizure 60 days after delivery: outside the 42-day postpartum window, no cards.",
        lambda: [*_postpartum(60), b.condition("seizure", onset=ago(hours=3)), b.bp(168, 112)],
        [],
        RED_FLAGS,
        True,
    ),
    Case(
        "seizure-mgso4-started-after-warning",
        "Seizure, then IV magnesium sulfate started: already managed, warning to monitor for toxicity (R1 de-duplication).",
        lambda: [
            *b.pregnant(35),
            b.symptom("seizure", when=ago(hours=4)),
            b.medication(
                "6585",
                "B05XA05",
                display="Magnesium sulfate 4 g in 100 mL IV",
                route="iv",
                start=ago(hours=3),
            ),
            b.bp(148, 94, when=ago(hours=1)),
            b.lab("upcr", 55, "mg/mmol", when=ago(hours=2)),
        ],
        [card("R1", "warning")],
        [],
        False,
    ),
    Case(
        "seizure-after-mgso4-start-critical",
        "New seizure after IV magnesium sulfate started: stays critical (R1).",
        lambda: [
            *b.pregnant(35),
            b.medication(
                "6585", "B05XA05", display="Magnesium sulfate IV", route="iv", start=ago(hours=6)
            ),
            b.symptom("seizure", when=ago(hours=1)),
        ],
        [card("R1", "critical")],
        [],
        False,
    ),
    Case(
        "eclampsia-with-severe-bp-one-critical-card",
        "Seizure plus BP 172/114 at 36 w: one critical card for the problem (R1 leads, R2 merged).",
        lambda: [
            *b.pregnant(36),
            b.symptom("seizure", when=ago(hours=1)),
            b.bp(172, 114, when=ago(hours=0.5)),
        ],
        [card("R1", "critical", "58410-2")],
        ["R2"],
        True,
    ),
    Case(
        "unknown-status-seizure-critical-hedged",
        "Pregnancy status recorded as Unknown, seizure now: critical card kept with 'if pregnant or recently pregnant' wording.",
        lambda: [
            b.pregnancy_status("LA4489-6", when=ago(days=1)),
            b.symptom("seizure", when=ago(hours=1)),
        ],
        [card("R1", "critical")],
        [],
        True,
    ),
    # ---- R2 / R3 / R3b / R4 ----
    Case(
        "severe-bp-165-112-34w-critical",
        "BP 165/112 mmHg at 34 w: severe hypertension, critical; pre-eclampsia bloods, uPCR, PlGF (R2).",
        lambda: [*b.pregnant(34), b.bp(165, 112, when=ago(hours=0.3))],
        [card("R2", "critical", "58410-2", "24362-6", "2890-2")],
        [],
        True,
    ),
    Case(
        "severe-bp-encounter-start-critical",
        "Encounter start at 30 w with BP 170/105: severe hypertension via the prenatal-visit service (R2).",
        lambda: [*b.pregnant(30), b.bp(170, 105, when=ago(hours=0.2))],
        [card("R2", "critical")],
        [],
        True,
        "prenatal-visit",
    ),
    Case(
        "severe-bp-preliminary-warning",
        "Severe BP recorded with status preliminary only: may trigger a warning, never a critical card alone (R2).",
        lambda: [*b.pregnant(32), b.bp(164, 108, status="preliminary")],
        [card("R2", "warning")],
        [],
        True,
    ),
    Case(
        "transgender-man-pregnant-severe-bp-critical",
        "Patient.gender male with pregnancy evidence (transgender man) at 33 w, BP 168/110: processed normally, critical (R2).",
        lambda: [b.patient(gender="male"), *b.pregnant(33), b.bp(168, 110)],
        [card("R2", "critical")],
        [],
        True,
    ),
    Case(
        "pre-eclampsia-bp-150-95-upcr-45-warning",
        "BP 150/95 with uPCR 45 mg/mmol at 28 w: meets NICE pre-eclampsia criteria, warning (R3).",
        lambda: [*b.pregnant(28), b.bp(150, 95), b.lab("upcr", 45, "mg/mmol", when=ago(hours=3))],
        [card("R3", "warning", "58410-2", "24325-3")],
        ["R2"],
        True,
    ),
    Case(
        "pre-eclampsia-platelets-88-critical",
        "BP 152/98, uPCR 0.6 mg/mg and platelets 88 x10^9/L at 32 w: severe feature, critical (R3) with coagulation.",
        lambda: [
            *b.pregnant(32),
            b.bp(152, 98),
            b.lab("upcr", 0.6, "mg/mg", when=ago(hours=5)),
            b.lab("platelets", 88, "10*9/L", when=ago(hours=5)),
        ],
        [card("R3", "critical", "5902-2")],
        [],
        True,
    ),
    Case(
        "pre-eclampsia-on-labetalol-normal-bp-warning",
        "BP 128/82 on labetalol with uPCR 52 mg/mmol at 31 w: treatment must not mask pre-eclampsia (R3).",
        lambda: [
            *b.pregnant(31),
            b.bp(128, 82),
            b.medication("6185", "C07AG01", display="Labetalol 200 mg tablet"),
            b.lab("upcr", 52, "mg/mmol", when=ago(days=1)),
        ],
        [card("R3", "warning")],
        [],
        True,
    ),
    Case(
        "hypertension-142-92-no-urine-result-warning",
        "New BP 142/92 at 30 w with no urine protein result in 7 days: quantify proteinuria (R3b).",
        lambda: [*b.pregnant(30), b.bp(142, 92)],
        [card("R3b", "warning", "2890-2")],
        ["R3"],
        True,
    ),
    Case(
        "headache-32w-no-bp-today-warning",
        "Headache at 32 w with the last BP 3 days ago: check BP and urine protein now (R4).",
        lambda: [
            *b.pregnant(32),
            b.symptom("headache", when=ago(hours=3)),
            b.bp(118, 76, when=ago(days=3)),
        ],
        [card("R4", "warning", "24357-6")],
        [],
        True,
    ),
    # ---- R5 / R6 ----
    Case(
        "dvt-left-leg-11w-left-3-warning",
        "Left calf swelling, calf difference 2.5 cm, 11 w: LEFt 3/3, duplex today (R5).",
        lambda: [
            *b.pregnant(11),
            b.symptom("leg-swelling", side="left", when=ago(hours=5)),
            b.lab("calf_circumference_difference", 2.5, "cm", when=ago(hours=4)),
        ],
        [card("R5", "warning", "39420-5")],
        ["R6"],
        True,
    ),
    Case(
        "dvt-right-leg-30w-left-0-normal-d-dimer-warning",
        "Right leg pain and redness at 30 w, LEFt 0, D-dimer 0.3 mg/L: still a warning with duplex; D-dimer never down-grades (R5).",
        lambda: [
            *b.pregnant(30),
            b.symptom("leg-pain", side="right", when=ago(hours=6)),
            b.symptom("leg-redness", side="right", when=ago(hours=6)),
            b.lab("d_dimer", 0.3, "mg/L", when=ago(hours=2)),
        ],
        [card("R5", "warning", "39420-5")],
        [],
        True,
    ),
    Case(
        "pe-dyspnoea-tachycardia-leg-signs-critical",
        "Breathlessness, HR 118, SpO2 93% and left leg swelling at 30 w: possible PE, one critical card (R6 outranks R5).",
        lambda: [
            *b.pregnant(30),
            b.symptom("dyspnoea", when=ago(hours=1)),
            b.symptom("leg-swelling", side="left", when=ago(days=1)),
            b.lab("heart_rate", 118, "/min", when=ago(hours=0.5)),
            b.lab("spo2", 93, "%", when=ago(hours=0.5)),
        ],
        [card("R6", "critical", "29303009", "39420-5")],
        ["R5"],
        True,
    ),
    Case(
        "pe-haemoptysis-postpartum-day20-critical",
        "Haemoptysis on postpartum day 20: possible PE, critical (R6 is a (P) rule).",
        lambda: [*_postpartum(20), b.symptom("haemoptysis", when=ago(hours=2))],
        [card("R6", "critical", "29303009")],
        [],
        True,
    ),
    # ---- R13 / R13b ----
    Case(
        "preterm-contractions-6h-back-pain-31w-critical",
        "Contractions 6/h with back pain and brownish discharge at 31 w: urgent obstetric assessment (R13).",
        lambda: [
            *b.pregnant(31),
            b.lab("contraction_frequency", 6, "/h", when=ago(hours=1)),
            b.symptom("back-pain", when=ago(hours=2)),
            b.symptom("vaginal-discharge", when=ago(hours=2)),
        ],
        [card("R13", "critical", "11525-3")],
        [],
        True,
    ),
    Case(
        "miscarriage-risk-22w-contractions-bleeding-critical",
        "Regular contractions and vaginal bleeding at 22 w: possible miscarriage risk, same urgency (R13).",
        lambda: [
            *b.pregnant(22),
            b.symptom("regular-contractions", when=ago(hours=1)),
            b.symptom("vaginal-bleeding", when=ago(hours=1)),
        ],
        [card("R13", "critical")],
        [],
        True,
    ),
    Case(
        "preterm-contractions-without-pain-warning",
        "Contractions 3 per 20 minutes (9/h) at 30 w without pain or bleeding: assess today (R13b).",
        lambda: [*b.pregnant(30), b.lab("contraction_frequency", 3, "/20.min", when=ago(hours=1))],
        [card("R13b", "warning")],
        ["R13"],
        True,
    ),
    # ---- R14 ----
    Case(
        "left-arm-pain-chest-tightness-36w-critical",
        "Persistent left-arm pain with chest tightness at 36 w: ECG and troponin now (R14).",
        lambda: [
            *b.pregnant(36),
            b.symptom("left-arm-pain", when=ago(hours=3)),
            b.symptom("chest-tightness", when=ago(hours=1)),
        ],
        [card("R14", "critical", "29303009", "10839-9")],
        [],
        False,
    ),
    Case(
        "left-arm-pain-isolated-warning",
        "Isolated persistent left-arm cramp at 26 w: ECG and troponin today (R14 warning).",
        lambda: [*b.pregnant(26), b.symptom("left-arm-pain", when=ago(days=1))],
        [card("R14", "warning", "29303009")],
        [],
        True,
    ),
    # ---- R15 ----
    Case(
        "supine-dizziness-34w-info",
        "Dizziness lying supine at 34 w, BP 108/66: aortocaval compression, left lateral advice (R15 info).",
        lambda: [
            *b.pregnant(34),
            b.symptom("supine-dizziness", when=ago(hours=2)),
            b.bp(108, 66, when=ago(hours=1)),
        ],
        [card("R15", "info")],
        [],
        True,
    ),
    Case(
        "supine-syncope-36w-warning",
        "Faint when lying supine at 36 w: warning (R15) alongside possible-PE and eclampsia checks for the syncope.",
        lambda: [
            *b.pregnant(36),
            b.symptom("supine-dizziness", when=ago(hours=2)),
            b.symptom("syncope", when=ago(hours=2)),
            b.bp(96, 60, when=ago(hours=1)),
        ],
        [card("R15", "warning"), card("R1", "critical"), card("R6", "critical")],
        [],
        True,
    ),
    # ---- R24 and data edge cases ----
    Case(
        "conflicting-pregnancy-status-info",
        "Active pregnancy Condition but a newer 'Not pregnant' status: one info card to reconcile (R24); leg signs not graded while unresolved.",
        lambda: [
            b.condition("77386006", onset=ago(days=150)),
            b.pregnancy_status("LA26683-5", when=ago(days=2)),
            b.symptom("leg-swelling", side="left"),
        ],
        [card("R24", "info")],
        ["R5"],
        True,
    ),
    Case(
        "units-hb-no-unit-info",
        "Hb 98 with no unit at 30 w: not graded (Hb > 25 without unit is probably g/L); one unit-missing info card (R24).",
        lambda: [*b.pregnant(30), b.lab("haemoglobin", 98, None, when=ago(days=1))],
        [card("R24", "info")],
        ["R9"],
        True,
    ),
    Case(
        "units-k-no-unit-critical-flag-warning",
        "K 2.3 with no unit but a lab LL flag at 24 w: not graded, at least a warning (R24).",
        lambda: [
            *b.pregnant(24),
            b.lab("potassium", 2.3, None, when=ago(hours=3), interpretation="LL"),
        ],
        [card("R24", "warning")],
        ["R10"],
        True,
    ),
    Case(
        "stale-hb-10-weeks-info",
        "Last Hb 98 g/L is 10 weeks old at 30 w: repeat CBC before relying on it (R24); stale values never grade severity.",
        lambda: [*b.pregnant(30), b.lab("haemoglobin", 98, "g/L", when=ago(days=70))],
        [card("R24", "info", "58410-2")],
        [],
        False,
    ),
    Case(
        "entered-in-error-potassium-ignored",
        "K 2.1 marked entered-in-error with a fresh valid K 4.0: the error is ignored, no electrolyte card.",
        lambda: [
            *b.pregnant(26),
            b.lab("potassium", 4.0, "mmol/L", when=ago(days=1)),
            b.lab("potassium", 2.1, "mmol/L", when=ago(hours=2), status="entered-in-error"),
        ],
        [],
        ["R10", "R24"],
        True,
    ),
    Case(
        "stale-potassium-2-4-not-graded",
        "K 2.4 from 10 days ago: stale, never used to grade severity; info to repeat (R24), no R10 card.",
        lambda: [*b.pregnant(26), b.lab("potassium", 2.4, "mmol/L", when=ago(days=10))],
        [card("R24", "info", "2823-3")],
        ["R10"],
        True,
    ),
    Case(
        "data-gap-labs-timeout-info",
        "Labs prefetch returned an OperationOutcome: one DATA info card saying which data was unavailable.",
        lambda: [*b.pregnant(28)],
        [card("DATA", "info")],
        [],
        True,
        gap_keys=("labs",),
    ),
    # ---- negatives from issue 3 ----
    Case(
        "negative-benign-cramps-normal-fresh-labs",
        "Bilateral nocturnal calf cramps at 26 w, normal BP, normal fresh labs: no red-flag card (info or nothing).",
        lambda: [
            *b.pregnant(26),
            b.symptom("leg-cramp", when=ago(days=1), side="both"),
            b.symptom("nocturnal-leg-cramps", when=ago(days=1)),
            b.bp(112, 70, when=ago(hours=2)),
            *_normal_fresh_labs(),
        ],
        [],
        [*RED_FLAGS, "R24"],
        False,
    ),
    Case(
        "negative-not-pregnant-no-cards",
        "Pregnancy status 'Not pregnant' with seizure and BP 170/112: out of scope, no cards.",
        lambda: [
            b.pregnancy_status("LA26683-5", when=ago(days=1)),
            b.symptom("seizure", when=ago(hours=1)),
            b.bp(170, 112),
        ],
        [],
        RED_FLAGS,
        True,
    ),
    Case(
        "negative-male-without-pregnancy-evidence-no-cards",
        "Male, no pregnancy evidence, seizure and severe BP: no cards (scope uses pregnancy evidence, never gender alone).",
        lambda: [
            b.patient(gender="male", birth="1988-05-01"),
            b.symptom("seizure", when=ago(hours=1)),
            b.bp(172, 112),
            b.symptom("leg-swelling", side="left"),
        ],
        [],
        RED_FLAGS,
        True,
    ),
    Case(
        "negative-low-total-calcium-normal-ionised",
        "Total Ca 2.02 mmol/L with albumin 30 g/L but ionised Ca 1.19 mmol/L (in range) at 28 w: ionised Ca preferred, no hypocalcaemia card.",
        lambda: [
            *b.pregnant(28),
            b.lab("calcium_total", 2.02, "mmol/L", when=ago(days=1)),
            b.lab("albumin", 30, "g/L", when=ago(days=1)),
            _ionised(1.19),
        ],
        [],
        ["R11"],
        False,
    ),
    Case(
        "units-hb-118-g-l-no-card",
        "Hb 118 g/L (same LOINC as g/dL) at 24 w: converted by unit, normal, no anaemia card.",
        lambda: [*b.pregnant(24), b.lab("haemoglobin", 118, "g/L", when=ago(days=2))],
        [],
        ["R9", "R24"],
        True,
    ),
    Case(
        "units-hb-65-g-l-critical",
        "Hb 65 g/L at 30 w: severe anaemia by unit conversion (6.5 g/dL), critical (R9).",
        lambda: [*b.pregnant(30), b.lab("haemoglobin", 65, "g/L", when=ago(days=1))],
        [card("R9", "critical")],
        [],
        False,
    ),
    Case(
        "units-glucose-50-mg-dl-confusion-critical",
        "Glucose 50 mg/dL (2.8 mmol/L) with confusion at 29 w: severe hypoglycaemia, critical (R8).",
        lambda: [
            *b.pregnant(29),
            b.lab("glucose", 50, "mg/dL", code_index=4, when=ago(hours=1)),
            b.symptom("confusion", when=ago(hours=1)),
        ],
        [card("R8", "critical")],
        [],
        False,
    ),
    Case(
        "units-magnesium-0-7-meq-l-critical",
        "Mg 0.7 mEq/L (0.35 mmol/L) at 27 w: below 0.4 mmol/L, critical (R12) after mEq/L conversion.",
        lambda: [
            *b.pregnant(27),
            b.lab("magnesium", 0.7, "meq/L", code_index=1, when=ago(hours=6)),
        ],
        [card("R12", "critical")],
        [],
        False,
    ),
]


def _ionised(value: float) -> dict[str, Any]:
    res = b.lab("calcium_ionised", value, "mmol/L", code_index=1, when=ago(days=1))
    res["referenceRange"] = [
        {
            "low": {
                "value": 1.12,
                "unit": "mmol/L",
                "system": "http://unitsofmeasure.org",
                "code": "mmol/L",
            },
            "high": {
                "value": 1.32,
                "unit": "mmol/L",
                "system": "http://unitsofmeasure.org",
                "code": "mmol/L",
            },
        }
    ]
    return res


def main() -> None:
    for case in CASES:
        _reset_ids()
        write(case)
    print(f"wrote {len(CASES)} fixtures to {FIXTURES}")


if __name__ == "__main__":
    main()
