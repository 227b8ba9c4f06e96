"""Electrolytes: potassium (R10), calcium (R11, R16), magnesium (R12, R12b), diuretics (R17).

The article names deficiencies of calcium, potassium and magnesium as the main causes of
cramps in pregnancy, vomiting and diuretics as the ways they are lost, and
hypoparathyroidism as a cause of hypocalcaemia. The rules here grade the *laboratory
finding* (RCEMLearning, Society for Endocrinology, NHS magnesium guidance) and never name
a diagnosis. A stale result is never graded (clinical.md 1.3); a preliminary one never
makes a critical card alone.

Postpartum (clinical.md 1.1 item 3: "severe electrolyte values" stay active): the (P)
rules R10-R12b run up to 42 days postpartum, but the mild (info) hypokalaemia band is
pregnancy-only, like the other nutritional cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cds_service.facts import Evidence, Measurement, PatientFacts, SymptomFact, fmt_number
from cds_service.knowledge.codes import CRAMP_FINDINGS, DIURETIC_CLASSES, TETANY_SIGNS
from cds_service.rules._registry import (
    Finding,
    Indicator,
    cap_preliminary,
    conditions,
    findings,
    labs,
    medications,
    rule,
)

# ---- R10 potassium, mmol/L (RCEMLearning: mild 3.0-3.5, moderate 2.5-3.0, severe <2.5) ----
K_LOW_BELOW = 3.5
K_MODERATE_BELOW = 3.0
K_SEVERE_BELOW = 2.5

# ---- R11 calcium, mmol/L ----
# Society for Endocrinology (Turner 2016): severe = adjusted Ca < 1.9 mmol/L and/or symptoms.
ADJUSTED_CA_SEVERE_BELOW = 1.9
# Payne 1973: adjusted Ca = Ca + 0.02 x (40 - albumin g/L).
PAYNE_ALBUMIN_REFERENCE_G_L = 40.0
PAYNE_FACTOR = 0.02
# Used only when the laboratory sends no reference range. clinical.md L8: the lower limit
# is lab-range dependent, typically 2.12-2.2 mmol/L; the upper end is the safer default.
ADJUSTED_CA_LOW_DEFAULT = 2.20
# clinical.md L9 verified no ionised threshold; 1.15 mmol/L is the common laboratory lower
# limit and is used only when the result carries no referenceRange (confirm locally).
IONISED_CA_LOW_DEFAULT = 1.15
# Albumin must come from (nearly) the same sample as the total calcium to adjust it.
ALBUMIN_PAIRING_DAYS = 2
# Symptoms that make low calcium critical (clinical.md R11; SfE "severe symptoms").
HYPOCALCAEMIA_SEVERE_SIGNS = (*TETANY_SIGNS, "seizure", "arrhythmia")

# ---- R12 magnesium, mmol/L (NHS guidance: normal 0.7-1.0; <0.5 IV; symptoms usually <0.4) ----
MG_LOW_BELOW = 0.7
MG_SEVERE_BELOW = 0.5
MG_CRITICAL_BELOW = 0.4
HYPOMAGNESAEMIA_SEVERE_SIGNS = (*TETANY_SIGNS, "seizure", "arrhythmia")

# ---- R12b magnesium sulfate toxicity (secondary sources; confirm against local protocol) ----
# 3.5 mmol/L (7 mEq/L) is the top of the commonly cited therapeutic range 2-3.5 mmol/L.
MG_TOXIC_ABOVE = 3.5
RESPIRATORY_RATE_BELOW = 12
# A level or a bedside sign older than this says nothing about the running infusion.
MGSO4_MONITORING_HOURS = 24

# ---- R16 known hypoparathyroidism / hypocalcaemia without a recent calcium ----
CALCIUM_CHECK_DAYS = 28

# ---- R17 diuretic + cramps: how recent a cramp report counts ----
CRAMP_RECENT_DAYS = 28

_KNOWN_CALCIUM_CONDITIONS = ("hypoparathyroidism", "hypocalcaemia")


def _k_band(value: float) -> Indicator | None:
    if value < K_SEVERE_BELOW:
        return "critical"
    if value < K_MODERATE_BELOW:
        return "warning"
    if value < K_LOW_BELOW:
        return "info"
    return None


@rule(
    id="R10",
    title="Hypokalaemia",
    family="electrolytes",
    citation="RCEMK",
    needs=(*labs("potassium", "magnesium"), *medications()),
    postpartum=True,
)
def hypokalaemia(facts: PatientFacts) -> Finding | None:
    """Serum/plasma or blood potassium below 3.5 mmol/L: mild 3.0 to <3.5 (info), moderate
    2.5 to <3.0 (warning), severe below 2.5 (critical). Loop/thiazide diuretics and
    beta-2 agonists are flagged as contributors. Postpartum only the moderate and severe
    bands are shown."""
    potassium = facts.fresh("potassium")
    if potassium is None:
        return None
    band = _k_band(potassium.value)
    if band is None:
        return None
    if band == "info" and not facts.pregnancy.pregnant:
        return None
    indicator = cap_preliminary(band, potassium)
    contributors = facts.on(*DIURETIC_CLASSES, "beta2-agonist")
    evidence = [potassium.evidence(), *(m.evidence() for m in contributors)]
    magnesium = facts.fresh("magnesium")
    if magnesium is not None:
        evidence.append(magnesium.evidence())
    severity = {"critical": "severe", "warning": "moderate", "info": "mild"}[band]
    headline = f"K {potassium.value_text()}"
    if contributors:
        headline += f" on {contributors[0].label.split()[0].lower()}"
    headline += f": {severity} hypokalaemia"
    action = {
        "critical": "urgent review, ECG and check Mg now",
        "warning": "review today, ECG and check Mg",
        "info": "repeat K and check Mg",
    }[indicator]
    notes = []
    if contributors:
        names = ", ".join(sorted({m.label for m in contributors}))
        notes.append(f"Possible contributors (NICE CKS drug causes): {names}; review the need.")
    if facts.on("potassium-chloride"):
        notes.append("Already on potassium chloride: replacement is under way.")
    return Finding(
        rule_id="R10",
        problem="hypokalaemia",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            "Potassium (mmol/L): mild 3.0 to <3.5, moderate 2.5 to <3.0, severe <2.5 "
            "(RCEMLearning). Vomiting, diuretics and beta-2 agonists lower potassium; low "
            "magnesium makes it hard to correct."
        ),
        evidence=tuple(evidence),
        orders=("ecg", "potassium-followup") if band != "info" else ("potassium-followup",),
        cautions=("Replacement route and dose per the local potassium protocol (no doses here).",),
        notes=tuple(notes),
        order_freshness="acute" if band != "info" else "routine",
    )


# --------------------------------------------------------------------------------------
# Calcium (R11)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalciumStatus:
    """The calcium value the rules judge, with how it was obtained."""

    kind: str  # "ionised" | "adjusted" | "lab-adjusted" | "total"
    value: float
    lower_limit: float
    evidence: tuple[Evidence, ...]
    measurements: tuple[Measurement, ...]

    @property
    def low(self) -> bool:
        return self.value < self.lower_limit

    def text(self) -> str:
        label = {
            "ionised": "Ionised Ca",
            "adjusted": "Adjusted Ca",
            "lab-adjusted": "Adjusted Ca",
            "total": "Total Ca",
        }[self.kind]
        return f"{label} {fmt_number(self.value, 2)} mmol/L"


def payne_adjusted_calcium(total_mmol_l: float, albumin_g_l: float) -> float:
    """Albumin-adjusted calcium (Payne 1973), mmol/L."""
    return total_mmol_l + PAYNE_FACTOR * (PAYNE_ALBUMIN_REFERENCE_G_L - albumin_g_l)


def calcium_status(facts: PatientFacts) -> CalciumStatus | None:
    """The freshest trustworthy calcium: ionised (vs its lab range) when present, else
    the lab's albumin-corrected value, else Payne-adjusted total Ca, else total Ca alone."""
    ionised = facts.fresh("calcium_ionised")
    if ionised is not None:
        low = ionised.reference_low if ionised.reference_low is not None else None
        return CalciumStatus(
            "ionised",
            ionised.value,
            low if low is not None else IONISED_CA_LOW_DEFAULT,
            (ionised.evidence(),),
            (ionised,),
        )
    total = facts.fresh("calcium_total")
    corrected = facts.fresh("calcium_adjusted")
    newest_total = total.when if total is not None and total.when is not None else None
    if corrected is not None and (
        newest_total is None or (corrected.when is not None and corrected.when >= newest_total)
    ):
        low = corrected.reference_low
        return CalciumStatus(
            "lab-adjusted",
            corrected.value,
            low if low is not None else ADJUSTED_CA_LOW_DEFAULT,
            (corrected.evidence(),),
            (corrected,),
        )
    if total is None:
        return None
    lower = total.reference_low if total.reference_low is not None else ADJUSTED_CA_LOW_DEFAULT
    albumin = _paired_albumin(facts, total)
    if albumin is None:
        return CalciumStatus("total", total.value, lower, (total.evidence(),), (total,))
    adjusted = payne_adjusted_calcium(total.value, albumin.value)
    calculated = Evidence(
        "adjusted Ca (Payne: Ca + 0.02 x (40 - albumin g/L))",
        f"{fmt_number(adjusted, 2)} mmol/L",
        total.when,
        "calculated",
    )
    return CalciumStatus(
        "adjusted",
        adjusted,
        lower,
        (total.evidence(), albumin.evidence(), calculated),
        (total, albumin),
    )


def _paired_albumin(facts: PatientFacts, total: Measurement) -> Measurement | None:
    albumin = facts.fresh("albumin")
    if albumin is None or albumin.when is None or total.when is None:
        return albumin
    if abs(albumin.when - total.when) > timedelta(days=ALBUMIN_PAIRING_DAYS):
        return None
    return albumin


@rule(
    id="R11",
    title="Hypocalcaemia (adjusted or ionised calcium)",
    family="electrolytes",
    citation="SFE",
    needs=(
        *labs("calcium_total", "calcium_adjusted", "calcium_ionised", "albumin"),
        *findings(*HYPOCALCAEMIA_SEVERE_SIGNS, "paraesthesia"),
    ),
    postpartum=True,
    severities=("warning", "critical"),
)
def hypocalcaemia(facts: PatientFacts) -> Finding | None:
    """Calcium below the laboratory range, judged on ionised Ca when it is available (a
    normal ionised Ca overrides a low total or adjusted Ca), else on albumin-adjusted Ca
    (Payne) or the lab's corrected value. Critical when adjusted Ca is below 1.9 mmol/L or
    when tetany signs (carpopedal spasm, Chvostek/Trousseau, tetany, trismus,
    laryngospasm), a seizure or an arrhythmia accompany a low value; otherwise warning."""
    status = calcium_status(facts)
    if status is None or not status.low:
        return None
    severe_signs = facts.symptoms_present(HYPOCALCAEMIA_SEVERE_SIGNS)
    paraesthesia = facts.symptom("paraesthesia")
    severe_value = status.kind in ("adjusted", "lab-adjusted") and (
        status.value < ADJUSTED_CA_SEVERE_BELOW
    )
    band: Indicator = "critical" if severe_value or severe_signs else "warning"
    indicator = cap_preliminary(band, *status.measurements)
    evidence = [*status.evidence, *(s.evidence() for s in severe_signs)]
    if paraesthesia is not None:
        evidence.append(paraesthesia.evidence())
    magnesium = facts.fresh("magnesium")
    if magnesium is not None:
        evidence.append(magnesium.evidence())
    if severe_signs:
        headline = f"{status.text()} with {severe_signs[0].label}: symptomatic hypocalcaemia"
    elif severe_value:
        headline = f"{status.text()}: severe hypocalcaemia"
    else:
        headline = f"{status.text()}: below the lab range"
    action = (
        "urgent review now"
        if indicator == "critical"
        else "review today; check ionised Ca, Mg, PTH"
    )
    gaps = []
    source = "laboratory range" if status.measurements[0].reference_low is not None else ("default")
    notes = [
        f"Lower limit used: {fmt_number(status.lower_limit, 2)} mmol/L ({source}).",
        "Albumin falls in pregnancy, so adjusted calcium is less reliable; ionised calcium "
        "is preferred when available.",
    ]
    if status.kind == "total":
        gaps.append(
            "No albumin from the same sample: adjusted calcium could not be calculated and "
            "the total calcium was compared with the lab range as reported."
        )
    if status.kind == "ionised" and status.measurements[0].reference_low is None:
        gaps.append(
            f"The ionised calcium has no laboratory reference range; "
            f"{IONISED_CA_LOW_DEFAULT} mmol/L was used as the lower limit."
        )
    elif status.kind != "ionised" and status.measurements[0].reference_low is None:
        gaps.append(
            f"No laboratory reference range on the calcium result; {ADJUSTED_CA_LOW_DEFAULT} "
            "mmol/L was used as the lower limit."
        )
    return Finding(
        rule_id="R11",
        problem="hypocalcaemia",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            "Calcium below the laboratory range (ionised Ca preferred; else adjusted Ca = "
            "Ca + 0.02 x (40 - albumin g/L)). Critical if adjusted Ca < 1.9 mmol/L or with "
            "tetany signs, seizure or arrhythmia (Society for Endocrinology)."
        ),
        evidence=tuple(evidence),
        orders=("calcium-workup", "ecg") if indicator == "critical" else ("calcium-workup",),
        cautions=(
            "Do not rely on total calcium alone in pregnancy (low albumin).",
            "Calcium replacement per the local hypocalcaemia protocol (no doses here).",
        ),
        gaps=tuple(gaps),
        notes=tuple(notes),
        order_freshness="acute" if indicator == "critical" else "routine",
    )


# --------------------------------------------------------------------------------------
# Magnesium (R12, R12b)
# --------------------------------------------------------------------------------------


@rule(
    id="R12",
    title="Hypomagnesaemia",
    family="electrolytes",
    citation="MG",
    needs=(
        *labs("magnesium", "potassium", "calcium_total"),
        *findings(*HYPOMAGNESAEMIA_SEVERE_SIGNS),
    ),
    postpartum=True,
    severities=("warning", "critical"),
)
def hypomagnesaemia(facts: PatientFacts) -> Finding | None:
    """Magnesium below 0.7 mmol/L is a warning; below 0.4 mmol/L, or below 0.5 mmol/L with
    tetany signs, seizure or an arrhythmia, is critical (NHS magnesium guidance:
    symptoms usually appear below 0.4)."""
    magnesium = facts.fresh("magnesium")
    if magnesium is None or magnesium.value >= MG_LOW_BELOW:
        return None
    signs = facts.symptoms_present(HYPOMAGNESAEMIA_SEVERE_SIGNS)
    band: Indicator = "warning"
    if magnesium.value < MG_CRITICAL_BELOW or (magnesium.value < MG_SEVERE_BELOW and signs):
        band = "critical"
    indicator = cap_preliminary(band, magnesium)
    evidence = [magnesium.evidence(), *(s.evidence() for s in signs)]
    for analyte in ("potassium", "calcium_total"):
        value = facts.fresh(analyte)
        if value is not None:
            evidence.append(value.evidence())
    severe = magnesium.value < MG_SEVERE_BELOW
    headline = f"Mg {magnesium.reported_text()}"
    if signs and band == "critical":
        headline += f" with {signs[0].label}"
    headline += ": severe hypomagnesaemia" if severe else ": hypomagnesaemia"
    return Finding(
        rule_id="R12",
        problem="hypomagnesaemia",
        indicator=indicator,
        headline=headline,
        action="urgent review now; check K and Ca"
        if indicator == "critical"
        else ("review today; check K and Ca"),
        rule_text=(
            "Magnesium (normal 0.7-1.0 mmol/L): low <0.7 (warning); critical <0.4 mmol/L, or "
            "<0.5 mmol/L with tetany, seizure or arrhythmia. Low Mg keeps K and Ca low."
        ),
        evidence=tuple(evidence),
        orders=("magnesium-followup", "ecg")
        if indicator == "critical"
        else ("magnesium-followup",),
        cautions=("Magnesium replacement route and dose per local protocol (no doses here).",),
        order_freshness="acute" if indicator == "critical" else "routine",
    )


@rule(
    id="R12b",
    title="Magnesium sulfate toxicity risk",
    family="electrolytes",
    citation="MGTOX",
    needs=(
        *labs("magnesium", "respiratory_rate"),
        *findings("reflexes-absent", "oliguria"),
        *medications(),
    ),
    postpartum=True,
    severities=("warning", "critical"),
)
def magnesium_sulfate_toxicity(facts: PatientFacts) -> Finding | None:
    """On parenteral magnesium sulfate and any of: serum Mg above 3.5 mmol/L, absent
    tendon reflexes, respiratory rate below 12/min or oliguria, recorded in the last 24
    hours. Always critical: check reflexes, respiratory rate and urine output now and
    follow the local MgSO4 protocol."""
    infusions = [m for m in facts.on("magnesium-sulfate") if m.parenteral is not False]
    if not infusions:
        return None
    window_days = MGSO4_MONITORING_HOURS / 24
    triggers: list[Evidence] = []
    reasons: list[str] = []
    levels = facts.within("magnesium", window_days)
    level = levels[0] if levels else None
    if level is not None and level.value > MG_TOXIC_ABOVE:
        triggers.append(level.evidence())
        reasons.append(f"Mg {level.value_text()}")
    for key, reason in (("reflexes-absent", "reflexes absent"), ("oliguria", "oliguria")):
        sign = facts.symptom(key, window_days)
        if sign is not None:
            triggers.append(sign.evidence())
            reasons.append(reason)
    breaths = facts.within("respiratory_rate", window_days)
    if breaths and breaths[0].value < RESPIRATORY_RATE_BELOW:
        triggers.append(breaths[0].evidence())
        reasons.append(f"RR {fmt_number(breaths[0].value, 0)}/min")
    if not triggers:
        return None
    # A preliminary level alone never makes a critical card (clinical.md 1.3).
    only_level = level is not None and len(triggers) == 1 and level.value > MG_TOXIC_ABOVE
    indicator = cap_preliminary("critical", level) if only_level else "critical"
    evidence = [*triggers, *(m.evidence() for m in infusions)]
    return Finding(
        rule_id="R12b",
        problem="magnesium-toxicity",
        indicator=indicator,
        headline=f"On IV MgSO4 with {', '.join(reasons[:2])}: risk of toxicity",
        action="check reflexes, RR and urine output now",
        rule_text=(
            "On parenteral magnesium sulfate: serum Mg >3.5 mmol/L (top of the usual "
            "therapeutic range), absent tendon reflexes, respiratory rate <12/min or "
            "oliguria in the last 24 h signal possible toxicity (secondary sources; confirm "
            "thresholds against the local MgSO4 protocol)."
        ),
        evidence=tuple(evidence),
        orders=("magnesium-level",),
        cautions=(
            "Stop/adjust the infusion and give any antidote only per the local MgSO4 "
            "protocol (no doses here).",
        ),
        order_freshness="acute",
    )


# --------------------------------------------------------------------------------------
# Known hypoparathyroidism (R16) and diuretics with cramps (R17)
# --------------------------------------------------------------------------------------


def known_condition(facts: PatientFacts, key: str) -> SymptomFact | None:
    """A chronic condition that is present now, whatever its onset date."""
    statements = facts.symptoms.get(key, ())
    if statements and statements[0].present:
        return statements[0]
    return None


@rule(
    id="R16",
    title="Hypoparathyroidism in pregnancy without a recent calcium",
    family="electrolytes",
    citation="SFE",
    needs=(
        *conditions(*_KNOWN_CALCIUM_CONDITIONS),
        *labs("calcium_total", "calcium_adjusted", "calcium_ionised"),
    ),
    severities=("warning",),
)
def hypoparathyroidism_without_calcium(facts: PatientFacts) -> Finding | None:
    """Known hypoparathyroidism or hypocalcaemia, pregnant, and no total, adjusted or
    ionised calcium in the last 4 weeks: check adjusted/ionised Ca, Mg, phosphate, PTH
    and vitamin D (warning)."""
    if not facts.pregnancy.pregnant:
        return None
    known = [c for k in _KNOWN_CALCIUM_CONDITIONS if (c := known_condition(facts, k))]
    if not known:
        return None
    recent = [
        m
        for analyte in ("calcium_total", "calcium_adjusted", "calcium_ionised")
        for m in facts.within(analyte, CALCIUM_CHECK_DAYS)
    ]
    if recent:
        return None
    evidence = [known[0].evidence()]
    last = [
        m
        for analyte in ("calcium_ionised", "calcium_adjusted", "calcium_total")
        if (m := facts.latest(analyte))
    ]
    gaps = ["No calcium result in the last 4 weeks."]
    if last:
        newest = min(last, key=lambda m: m.age_days if m.age_days is not None else 1e9)
        evidence.append(newest.evidence())
        gaps = ["Last calcium is older than 4 weeks (stale: not used to grade severity)."]
    return Finding(
        rule_id="R16",
        problem="hypocalcaemia",
        indicator="warning",
        headline=f"{known[0].label.capitalize()} without a calcium in 4 weeks",
        action="check adjusted/ionised Ca, Mg, PO4, PTH, vit D",
        rule_text=(
            "Known hypoparathyroidism or hypocalcaemia in pregnancy needs calcium checked at "
            "least every 4 weeks: calcium needs change across pregnancy and low calcium "
            "causes tetany and cramps (Society for Endocrinology investigations)."
        ),
        evidence=tuple(evidence),
        orders=("calcium-workup",),
        gaps=tuple(gaps),
    )


@rule(
    id="R17",
    title="Loop or thiazide diuretic with cramps",
    family="electrolytes",
    citation="CKS",
    needs=(*medications(), *findings(*CRAMP_FINDINGS), *labs("potassium", "sodium", "magnesium")),
    severities=("info",),
)
def diuretic_with_cramps(facts: PatientFacts) -> Finding | None:
    """An active loop or thiazide diuretic and leg cramps reported in the last 4 weeks:
    check K, Mg, Na and Ca and review the need for the diuretic (NICE CKS lists
    diuretics among drug causes of cramps)."""
    if not facts.pregnancy.pregnant:
        return None
    diuretics = facts.on(*DIURETIC_CLASSES)
    cramps = facts.symptoms_present(CRAMP_FINDINGS, CRAMP_RECENT_DAYS)
    if not diuretics or not cramps:
        return None
    evidence = [*(m.evidence() for m in diuretics), cramps[0].evidence()]
    for analyte in ("potassium", "magnesium", "sodium", "calcium_total"):
        value = facts.latest(analyte)
        if value is not None:
            evidence.append(value.evidence())
    return Finding(
        rule_id="R17",
        problem="leg-cramps",
        indicator="info",
        headline=f"On {diuretics[0].label.split()[0].lower()} with leg cramps",
        action="check K, Mg, Na and review the need for the diuretic",
        rule_text=(
            "Loop and thiazide diuretics lower potassium, magnesium and sodium and are a "
            "recognised drug cause of cramps (NICE CKS Leg cramps)."
        ),
        evidence=tuple(evidence),
        orders=("diuretic-electrolytes",),
        cautions=("Quinine is not recommended for cramps in pregnancy.",),
    )
