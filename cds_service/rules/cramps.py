"""Leg cramps: the work-up (R19), benign nocturnal cramps (R20), focal spasms (R21).

The article's core theme: cramps in pregnancy are common, mostly nocturnal calf cramps,
and are blamed on deficiencies (Ca, K, Mg, B vitamins, vitamin D), anaemia, low glucose,
varicose veins and vena cava compression; "frequent spasms in one place may indicate
neuropathy". NICE CKS Leg cramps: investigations are not usually needed unless a cause is
suspected (electrolytes, Ca, glucose, TFT, LFT, Mg, CK); exclude mimics such as DVT; drug
causes include diuretics, salbutamol and nifedipine. Cochrane 2020: Mg/Ca/vitamin
treatments have low or very-low certainty evidence; quinine is not recommended.

These are pregnancy-only cards (clinical.md 1.1 item 3: nutritional cramp cards stop at
delivery). "Recent" and "fresh" use the policy staleness windows (clinical.md 1.3:
electrolytes and glucose 7 days, Hb and ferritin 4 weeks, vitamin D 12 weeks), the same
windows the cards layer uses to drop a test that was already resulted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cds_service.facts import Measurement, PatientFacts, SymptomFact
from cds_service.knowledge.codes import CRAMP_FINDINGS, DIURETIC_CLASSES
from cds_service.rules._registry import Finding, blood_pressure, findings, labs, medications, rule
from cds_service.rules.anaemia import anaemia_cutoff
from cds_service.rules.electrolytes import calcium_status

# A BP this recent counts for "BP normal" in R20 (days).
BP_RECENT_DAYS = 28
# A cramp report this recent is "current" (days).
CRAMP_RECENT_DAYS = 28
# Lower limits used to call a work-up result normal when the lab sends no range.
POTASSIUM_LOW = 3.5
SODIUM_LOW = 135.0
MAGNESIUM_LOW = 0.7
GLUCOSE_LOW = 3.9
GLUCOSE_RANDOM_HIGH = 11.1  # clinical.md L16: random >= 11.1 mmol/L needs follow-up
PHOSPHATE_LOW = 0.8
PHOSPHATE_HIGH = 1.5  # the article names high phosphate; lab range preferred
FERRITIN_LOW = 30.0  # BSH 2020 iron deficiency
VITAMIN_D_LOW = 25.0  # SACN 2016 deficiency, nmol/L
BP_NORMAL_SYSTOLIC_BELOW = 140
BP_NORMAL_DIASTOLIC_BELOW = 90
# R21: the same focal symptom recorded on this many separate days within the window.
RECURRENT_MIN_EPISODES = 2
RECURRENT_WINDOW_DAYS = 84

_DVT_MIMICS = ("leg-swelling", "leg-redness", "leg-pain", "thrombophlebitis", "dvt")
_DRUG_CAUSES = ("beta2-agonist", "nifedipine", "corticosteroid")
_FOCAL = ("focal-spasms", "paraesthesia")


@dataclass(frozen=True)
class WorkupItem:
    """One test of the core cramp work-up (clinical.md C) and how to judge its result."""

    order: str
    analytes: tuple[str, ...]
    normal: Callable[[PatientFacts, Measurement], bool]


def _in_range(
    low: float | None = None, high: float | None = None
) -> Callable[[PatientFacts, Measurement], bool]:
    def check(facts: PatientFacts, m: Measurement) -> bool:
        lower = m.reference_low if m.reference_low is not None else low
        upper = m.reference_high if m.reference_high is not None else high
        return (lower is None or m.value >= lower) and (upper is None or m.value <= upper)

    return check


def _at_least(low: float) -> Callable[[PatientFacts, Measurement], bool]:
    return lambda _facts, m: m.value >= low


def _hb_normal(facts: PatientFacts, m: Measurement) -> bool:
    cutoff = anaemia_cutoff(facts)
    return cutoff is None or m.value >= cutoff[0]


def _glucose_normal(_facts: PatientFacts, m: Measurement) -> bool:
    return GLUCOSE_LOW <= m.value < GLUCOSE_RANDOM_HIGH


WORKUP: tuple[WorkupItem, ...] = (
    WorkupItem("cbc", ("haemoglobin",), _hb_normal),
    WorkupItem("ferritin", ("ferritin",), _at_least(FERRITIN_LOW)),
    WorkupItem("potassium", ("potassium",), _at_least(POTASSIUM_LOW)),
    WorkupItem("sodium", ("sodium",), _in_range(SODIUM_LOW)),
    WorkupItem("magnesium", ("magnesium",), _at_least(MAGNESIUM_LOW)),
    WorkupItem("phosphate", ("phosphate",), _in_range(PHOSPHATE_LOW, PHOSPHATE_HIGH)),
    WorkupItem("glucose", ("glucose", "glucose_fasting"), _glucose_normal),
    WorkupItem("vitamin_d", ("vitamin_d",), _at_least(VITAMIN_D_LOW)),
)
# Calcium is judged as a pair (total + albumin, or ionised, or lab-adjusted).
CALCIUM_ORDERS = ("calcium", "albumin")
CALCIUM_ANALYTES = ("calcium_total", "calcium_adjusted", "calcium_ionised")


def workup_result(facts: PatientFacts, item: WorkupItem) -> Measurement | None:
    """The newest fresh result for a work-up item, or ``None``."""
    found = [m for analyte in item.analytes if (m := facts.fresh(analyte)) is not None]
    if not found:
        return None
    return max(found, key=lambda m: m.when or facts.now)


def calcium_done(facts: PatientFacts) -> bool:
    """A fresh ionised or lab-adjusted Ca, or a fresh total Ca with a fresh albumin."""
    if facts.fresh("calcium_ionised") or facts.fresh("calcium_adjusted"):
        return True
    return facts.fresh("calcium_total") is not None and facts.fresh("albumin") is not None


def missing_workup(facts: PatientFacts) -> tuple[str, ...]:
    """Order keys of the core work-up items with no fresh result."""
    missing = [item.order for item in WORKUP if workup_result(facts, item) is None]
    if not calcium_done(facts):
        missing.append("calcium")
        if facts.fresh("albumin") is None:
            missing.append("albumin")
    return tuple(missing)


def _nothing_done(facts: PatientFacts) -> bool:
    if any(workup_result(facts, item) is not None for item in WORKUP):
        return False
    return not any(facts.fresh(a) for a in (*CALCIUM_ANALYTES, "albumin"))


def current_cramps(facts: PatientFacts) -> tuple[SymptomFact, ...]:
    return facts.symptoms_present(CRAMP_FINDINGS, CRAMP_RECENT_DAYS)


_SHORT = {
    "cbc": "CBC",
    "ferritin": "ferritin",
    "calcium": "Ca",
    "albumin": "albumin",
    "magnesium": "Mg",
    "potassium": "K",
    "sodium": "Na",
    "phosphate": "PO4",
    "glucose": "glucose",
    "vitamin_d": "vit D",
}


@rule(
    id="R19",
    title="Leg cramps without a recent work-up",
    family="cramps",
    citation="CKS",
    needs=(
        *findings(*CRAMP_FINDINGS),
        *labs(
            "haemoglobin",
            "ferritin",
            "calcium_total",
            "calcium_adjusted",
            "calcium_ionised",
            "albumin",
            "magnesium",
            "potassium",
            "sodium",
            "phosphate",
            "glucose",
            "glucose_fasting",
            "vitamin_d",
        ),
    ),
    severities=("info",),
)
def cramps_workup(facts: PatientFacts) -> Finding | None:
    """Leg cramps reported in the last 4 weeks and at least one core work-up test (CBC,
    ferritin, Ca + albumin or ionised Ca, Mg, K, Na, phosphate, glucose, 25-OH vitamin D)
    with no result in its window: suggest only the missing or stale tests (info)."""
    if not facts.pregnancy.pregnant:
        return None
    cramps = current_cramps(facts)
    if not cramps:
        return None
    missing = missing_workup(facts)
    if not missing:
        return None
    every = _nothing_done(facts)
    names = ", ".join(_SHORT[m] for m in missing)
    headline = "Leg cramps, no recent labs" if every else "Leg cramps, work-up incomplete"
    evidence = [cramps[0].evidence()]
    for item in WORKUP:
        result = workup_result(facts, item)
        if result is not None:
            evidence.append(result.evidence())
    return Finding(
        rule_id="R19",
        problem="leg-cramps",
        indicator="info",
        headline=headline,
        action=f"consider {names}" if len(names) <= 64 else "consider the cramp work-up bloods",
        rule_text=(
            "Cramps with no recent results: check the tests that can reveal a treatable cause "
            "(CBC, ferritin, Ca + albumin or ionised Ca, Mg, K, Na, phosphate, glucose, 25-OH "
            "vitamin D). NICE CKS: investigate when a cause is suspected; only missing or "
            "stale tests are suggested."
        ),
        evidence=tuple(evidence),
        orders=("cramp-workup",),
        cautions=("Quinine is not recommended for cramps in pregnancy.",),
        gaps=(
            f"No result within its freshness window for: {names} (electrolytes and glucose "
            "7 days, CBC and ferritin 4 weeks, vitamin D 12 weeks).",
        ),
    )


def _workup_normal(facts: PatientFacts) -> bool:
    for item in WORKUP:
        result = workup_result(facts, item)
        if result is None or result.preliminary or not item.normal(facts, result):
            return False
    calcium = calcium_status(facts) if calcium_done(facts) else None
    return calcium is not None and not calcium.low


def _bp_normal(facts: PatientFacts) -> bool:
    recent = []
    for b in facts.blood_pressures:  # newest first, undated last: stop at the first old one
        if b.when is None or (facts.now - b.when).days > BP_RECENT_DAYS:
            break
        recent.append(b)
    if not recent or facts.on("antihypertensive"):
        return False
    return not recent[0].at_least(BP_NORMAL_SYSTOLIC_BELOW, BP_NORMAL_DIASTOLIC_BELOW)


@rule(
    id="R20",
    title="Benign nocturnal leg cramps",
    family="cramps",
    citation="CKS",
    needs=(
        *findings("nocturnal-leg-cramps", *CRAMP_FINDINGS, *_DVT_MIMICS),
        *blood_pressure(),
        *medications(),
        *labs("haemoglobin", "potassium", "magnesium", "calcium_total", "vitamin_d"),
    ),
    severities=("info",),
)
def benign_nocturnal_cramps(facts: PatientFacts) -> Finding | None:
    """Bilateral nocturnal leg cramps with no leg swelling, redness or pain, a normal BP in
    the last 4 weeks (not on antihypertensives), not on a loop/thiazide diuretic, and a
    complete normal work-up in its window: stretching advice; quinine is not recommended
    (info, or no card when the deployment turns it off)."""
    if not facts.pregnancy.pregnant or not facts.policy.benign_cramps_card:
        return None
    nocturnal = facts.symptom("nocturnal-leg-cramps", CRAMP_RECENT_DAYS)
    if nocturnal is None or nocturnal.laterality != "bilateral":
        return None
    if facts.symptoms_present(_DVT_MIMICS) or facts.on(*DIURETIC_CLASSES):
        return None
    if not _bp_normal(facts) or not _workup_normal(facts):
        return None
    evidence = [nocturnal.evidence()]
    bp = facts.blood_pressures[0]
    evidence.append(bp.evidence())
    for item in WORKUP:
        result = workup_result(facts, item)
        if result is not None:
            evidence.append(result.evidence())
    calcium = calcium_status(facts)
    if calcium is not None:
        evidence.extend(calcium.evidence)
    for key in ("leg-swelling", "leg-redness"):
        statements = facts.symptoms.get(key, ())
        if statements and not statements[0].present:
            evidence.append(statements[0].evidence())
    notes = [
        "Advice: calf stretching before bed, regular rest for the legs, comfortable low "
        "shoes; magnesium or calcium are options by preference, with low or very-low "
        "certainty evidence (WHO ANC 2016, Cochrane 2020).",
        "Review if cramps become one-sided, with swelling, redness or pain (DVT), or "
        "with other symptoms.",
    ]
    drugs = facts.on(*_DRUG_CAUSES)
    if drugs:
        names = ", ".join(sorted({m.label for m in drugs}))
        notes.append(f"Possible drug contributor (NICE CKS): {names}.")
    return Finding(
        rule_id="R20",
        problem="leg-cramps",
        indicator="info",
        headline="Nocturnal calf cramps, normal labs and BP",
        action="stretching advice; quinine is not recommended in pregnancy",
        rule_text=(
            "Bilateral nocturnal calf cramps without leg swelling or redness, with a normal "
            "BP and a normal, recent work-up, are usually benign in pregnancy (NICE CKS)."
        ),
        evidence=tuple(evidence),
        cautions=("Do not prescribe quinine for cramps in pregnancy (Cochrane 2020).",),
        notes=tuple(notes),
    )


def _recurrent_focal(facts: PatientFacts) -> tuple[SymptomFact, ...]:
    for key in _FOCAL:
        statements = facts.symptoms.get(key, ())
        if not statements or facts.symptom(key, CRAMP_RECENT_DAYS) is None:
            continue
        if key == "focal-spasms" or statements[0].resource_type == "Condition":
            return (statements[0],)
        days = set()
        for statement in statements:
            stamp = statement.when or statement.recorded
            recent = stamp is not None and (facts.now - stamp).days <= RECURRENT_WINDOW_DAYS
            if statement.present and recent and stamp is not None:
                days.add(stamp.date())
        if len(days) >= RECURRENT_MIN_EPISODES:
            return tuple(s for s in statements if s.present)
    return ()


@rule(
    id="R21",
    title="Recurrent focal spasms or paraesthesia",
    family="cramps",
    citation="CKS",
    needs=(
        *findings(*_FOCAL),
        *labs("potassium", "magnesium", "calcium_total", "calcium_ionised", "albumin", "glucose"),
    ),
    severities=("info",),
)
def recurrent_focal_spasms(facts: PatientFacts) -> Finding | None:
    """Recurrent focal muscle spasms or paraesthesia (on two or more days in 12 weeks, or
    recorded as recurrent) with fresh, normal K, Mg and calcium: consider a
    neurological review for neuropathy (info). When those results are missing they are
    suggested first; a low result is left to the electrolyte rules."""
    if not facts.pregnancy.pregnant:
        return None
    episodes = _recurrent_focal(facts)
    if not episodes:
        return None
    checks = {
        "potassium": (_at_least(POTASSIUM_LOW), "potassium"),
        "magnesium": (_at_least(MAGNESIUM_LOW), "magnesium"),
    }
    missing: list[str] = []
    evidence = [s.evidence() for s in episodes[:3]]
    for analyte, (normal, order) in checks.items():
        value = facts.fresh(analyte)
        if value is None:
            missing.append(order)
            continue
        if not normal(facts, value):
            return None
        evidence.append(value.evidence())
    calcium = calcium_status(facts) if calcium_done(facts) else None
    if calcium is None:
        missing.extend(CALCIUM_ORDERS)
    elif calcium.low:
        return None
    else:
        evidence.extend(calcium.evidence)
    glucose = facts.fresh("glucose")
    if glucose is not None and glucose.value < GLUCOSE_LOW:
        return None
    site = f" ({episodes[0].laterality})" if episodes[0].laterality else ""
    label = episodes[0].label
    if missing:
        headline = f"Recurrent {label}{site}, electrolytes not checked"
        action = "check K, Mg and Ca; if normal consider neurology review"
    else:
        headline = f"Recurrent {label}{site} with normal electrolytes"
        action = "consider neurological review for neuropathy"
    return Finding(
        rule_id="R21",
        problem="focal-spasms",
        indicator="info",
        headline=headline,
        action=action,
        rule_text=(
            "Spasms or paraesthesia recurring in one place without a laboratory cause (low "
            "K, Mg or Ca) may indicate a neuropathy (source article); consider a "
            "neurological review."
        ),
        evidence=tuple(evidence),
        orders=("spasm-electrolytes",) if missing else (),
        gaps=(f"No recent result for: {', '.join(missing)}.",) if missing else (),
    )
