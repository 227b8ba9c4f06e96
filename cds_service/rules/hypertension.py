"""Hypertension in pregnancy and pre-eclampsia (R2, R3, R3b, R4).

NICE NG133 definitions: hypertension >= 140/90 mmHg, severe >= 160/110 mmHg; pre-eclampsia
= new hypertension after 20 weeks with proteinuria or maternal organ dysfunction.
ACOG PB 222 severe features. An active antihypertensive counts as hypertension present
(a normal reading on treatment never suppresses these rules). All four rules share the
problem key "pre-eclampsia" (with R1) so the clinician sees one card at the highest level.
"""

from __future__ import annotations

from cds_service.facts import BloodPressure, Evidence, Measurement, PatientFacts
from cds_service.knowledge.codes import PRE_ECLAMPSIA_CONDITIONS, PRE_ECLAMPSIA_SYMPTOMS
from cds_service.rules._registry import (
    GA_UNKNOWN_GAP,
    Finding,
    Indicator,
    blood_pressure,
    conditions,
    findings,
    gestation_at_least,
    labs,
    medications,
    rule,
)

# NICE NG133 / ACOG 222 thresholds (mmHg).
HYPERTENSION_SBP, HYPERTENSION_DBP = 140, 90
SEVERE_SBP, SEVERE_DBP = 160, 110
# Proteinuria (NICE NG133 / CG107): uPCR >= 30 mg/mmol, ACR >= 8 mg/mmol, dipstick >= 2+.
UPCR_PROTEINURIA = 30.0
ACR_PROTEINURIA = 8.0
DIPSTICK_PROTEINURIA = 2.0
DIPSTICK_QUANTIFY = 1.0
# Organ involvement (NICE): creatinine >= 90 umol/L, ALT/AST > 40 IU/L, platelets < 150.
CREATININE_NICE = 90.0
TRANSAMINASE_NICE = 40.0
PLATELETS_NICE = 150.0
# Severe features (ACOG 222): platelets < 100, creatinine > 1.1 mg/dL (97 umol/L),
# transaminases >= 2x the upper limit of normal.
PLATELETS_SEVERE = 100.0
CREATININE_SEVERE = 97.0
TRANSAMINASE_ULN_DEFAULT = 40.0
# How far back a raised BP counts as "hypertension present" (days), and how recent the
# supporting results must be (days).
HYPERTENSION_WINDOW_DAYS = 7
FEATURE_WINDOW_DAYS = 7
URINE_WINDOW_DAYS = 7
SEVERE_BP_WINDOW_HOURS = 24
R4_BP_WINDOW_HOURS = 24
# NICE DG49: PlGF-based testing at 20+0 to 36+6 weeks, once per episode.
PLGF_FROM_DAYS, PLGF_TO_DAYS = 20 * 7, 36 * 7 + 6

_NOT_RULE_OUT = (
    "Normal blood pressure on antihypertensives, or absent proteinuria, does not rule out "
    "pre-eclampsia."
)
_NO_BIRTH_TIMING = "Do not use PlGF-based testing to decide the timing of birth (NICE DG49)."


def _hypertensive_readings(facts: PatientFacts) -> tuple[BloodPressure, ...]:
    return tuple(
        b
        for b in facts.bps_within(HYPERTENSION_WINDOW_DAYS * 24)
        if b.at_least(HYPERTENSION_SBP, HYPERTENSION_DBP)
    )


def _recent(
    facts: PatientFacts, analyte: str, days: int = FEATURE_WINDOW_DAYS
) -> Measurement | None:
    values = facts.within(analyte, days)
    return values[0] if values else None


def _plgf_eligible(facts: PatientFacts) -> bool:
    days = facts.ga_days
    if days is None or not PLGF_FROM_DAYS <= days <= PLGF_TO_DAYS:
        return False
    start = facts.pregnancy.episode_start
    done = [
        m
        for m in facts.history("plgf")
        if m.when is not None and (start is None or m.when.date() >= start)
    ]
    return not done


# ---- R2 ---------------------------------------------------------------------------------


@rule(
    id="R2",
    title="Severe hypertension",
    family="hypertension",
    citation="NG133",
    needs=(*blood_pressure(), *labs("plgf")),
    postpartum=True,
    when_unknown=True,
    severities=("warning", "critical"),
)
def severe_hypertension(facts: PatientFacts) -> Finding | None:
    """SBP >= 160 or DBP >= 110 mmHg on any reading in the last 24 hours, at any
    gestation or postpartum: a single reading triggers; the card asks for a repeat within
    15 minutes and urgent obstetric review (NICE NG133; treat confirmed severe hypertension
    within 30-60 minutes, ACOG CO 767)."""
    severe = [
        b for b in facts.bps_within(SEVERE_BP_WINDOW_HOURS) if b.at_least(SEVERE_SBP, SEVERE_DBP)
    ]
    if not severe:
        return None
    worst = max(
        severe, key=lambda b: ((b.systolic or 0) - SEVERE_SBP, (b.diastolic or 0) - SEVERE_DBP)
    )
    indicator: Indicator = "warning" if all(b.preliminary for b in severe) else "critical"
    evidence = [b.evidence() for b in severe[:3]]
    latest = facts.latest_bp()
    notes: list[str] = []
    if latest is not None and latest not in severe:
        evidence.append(latest.evidence())
        notes.append(
            f"Latest reading {latest.text()} is lower; the severe reading still needs review."
        )
    orders = ["pre-eclampsia-bloods", "urine-protein"]
    if _plgf_eligible(facts):
        orders.append("plgf")
    return Finding(
        rule_id="R2",
        problem="pre-eclampsia",
        indicator=indicator,
        headline=f"Severe BP {worst.text()}",
        action="repeat within 15 min and arrange urgent obstetric review",
        rule_text=(
            f"Severe hypertension: SBP >= {SEVERE_SBP} or DBP >= {SEVERE_DBP} mmHg on any reading "
            f"in the last {SEVERE_BP_WINDOW_HOURS} h (single reading; confirm within 15 minutes)."
        ),
        evidence=tuple(evidence),
        orders=tuple(orders),
        cautions=(
            "Do not delay antihypertensive treatment awaiting test results: treat confirmed "
            "severe hypertension within 30-60 minutes per local protocol (ACOG CO 767).",
            _NOT_RULE_OUT,
        ),
        notes=tuple(notes),
        order_freshness="acute",
    )


# ---- R3 ---------------------------------------------------------------------------------


def _features(facts: PatientFacts) -> tuple[list[tuple[str, Evidence]], list[tuple[str, Evidence]]]:
    """(features, severe features) as (short text, evidence)."""
    features: list[tuple[str, Evidence]] = []
    severe: list[tuple[str, Evidence]] = []
    upcr = _recent(facts, "upcr", URINE_WINDOW_DAYS)
    if upcr is not None and upcr.value >= UPCR_PROTEINURIA:
        features.append((f"uPCR {upcr.value_text()}", upcr.evidence()))
    acr = _recent(facts, "uacr", URINE_WINDOW_DAYS)
    if acr is not None and acr.value >= ACR_PROTEINURIA:
        features.append((f"ACR {acr.value_text()}", acr.evidence()))
    dip = _recent(facts, "urine_protein_dipstick", URINE_WINDOW_DAYS)
    if dip is not None and dip.value >= DIPSTICK_PROTEINURIA:
        features.append((f"urine protein {dip.value_text()}", dip.evidence()))
    creat = _recent(facts, "creatinine")
    if creat is not None and creat.value >= CREATININE_NICE:
        features.append((f"creatinine {creat.value_text()}", creat.evidence()))
        if creat.value > CREATININE_SEVERE:
            severe.append((f"creatinine {creat.value_text()}", creat.evidence()))
    for key in ("alt", "ast"):
        value = _recent(facts, key)
        if value is not None and value.value > TRANSAMINASE_NICE:
            features.append((f"{value.label} {value.value_text()}", value.evidence()))
            uln = value.reference_high or TRANSAMINASE_ULN_DEFAULT
            if value.value >= 2 * uln:
                severe.append((f"{value.label} {value.value_text()}", value.evidence()))
    plt = _recent(facts, "platelets")
    if plt is not None and plt.value < PLATELETS_NICE:
        features.append((f"platelets {plt.value_text()}", plt.evidence()))
        if plt.value < PLATELETS_SEVERE:
            severe.append((f"platelets {plt.value_text()}", plt.evidence()))
    for symptom in facts.symptoms_present(PRE_ECLAMPSIA_SYMPTOMS):
        features.append((symptom.label, symptom.evidence()))
        # Visual/cerebral symptoms and epigastric (RUQ) pain are ACOG severe features.
        severe.append((symptom.label, symptom.evidence()))
    for key in ("pulmonary-oedema", "confusion"):
        found = facts.symptom(key)
        if found is not None:
            features.append((found.label, found.evidence()))
            severe.append((found.label, found.evidence()))
    for key in PRE_ECLAMPSIA_CONDITIONS:
        found = facts.symptom(key, within_days=facts.policy.pregnancy_evidence_max_age_days)
        if found is not None and key != "gestational-hypertension":
            features.append((f"known {found.label}", found.evidence()))
            if key in ("severe-pre-eclampsia", "hellp"):
                severe.append((f"known {found.label}", found.evidence()))
    return features, severe


def _hypertension_present(facts: PatientFacts) -> tuple[str, list[Evidence], bool] | None:
    """(text, evidence, preliminary only) if hypertension is present: a raised reading in
    the window, an active antihypertensive, or a known hypertensive disorder of pregnancy."""
    readings = _hypertensive_readings(facts)
    treated = facts.on("antihypertensive")
    known = facts.symptom("gestational-hypertension", facts.policy.pregnancy_evidence_max_age_days)
    if readings:
        worst = max(readings, key=lambda b: (b.systolic or 0, b.diastolic or 0))
        evidence = [b.evidence() for b in readings[:2]] + [m.evidence() for m in treated]
        return f"BP {worst.text()}", evidence, all(b.preliminary for b in readings)
    if treated:
        return f"on {treated[0].label}", [m.evidence() for m in treated], False
    if known is not None:
        return f"known {known.label}", [known.evidence()], False
    return None


@rule(
    id="R3",
    title="Possible pre-eclampsia (NICE criteria)",
    family="hypertension",
    citation="NG133",
    needs=(
        *blood_pressure(),
        *labs(
            "upcr",
            "uacr",
            "urine_protein_dipstick",
            "creatinine",
            "alt",
            "ast",
            "platelets",
            "plgf",
        ),
        *findings(*PRE_ECLAMPSIA_SYMPTOMS, "pulmonary-oedema", "confusion"),
        *conditions(*PRE_ECLAMPSIA_CONDITIONS),
        *medications(),
    ),
    postpartum=True,
    severities=("warning", "critical"),
)
def possible_pre_eclampsia(facts: PatientFacts) -> Finding | None:
    """At >= 20 weeks or postpartum, hypertension (>= 140/90 in the last 7 days, or an
    active antihypertensive, or known gestational hypertension) with >= 1 of: uPCR >= 30
    mg/mmol, ACR >= 8 mg/mmol, dipstick >= 2+, creatinine >= 90 umol/L, ALT or AST > 40
    IU/L, platelets < 150 x10^9/L, new headache, visual disturbance or epigastric pain.
    Critical with a severe feature: platelets < 100, creatinine > 97 umol/L, ALT/AST >= 2x
    the upper limit, epigastric pain, visual/cerebral symptoms, pulmonary oedema."""
    gestation = gestation_at_least(facts, 20)
    if gestation is False:
        return None
    hypertension = _hypertension_present(facts)
    if hypertension is None:
        return None
    features, severe = _features(facts)
    if not features:
        return None
    bp_text, bp_evidence, _ = hypertension
    # clinical.md 1.3: a preliminary result alone never makes the card critical.
    confirmed_severe = [f for f in severe if not (f[1].status or "").startswith("preliminary")]
    indicator: Indicator = "critical" if confirmed_severe else "warning"
    trigger = (severe or features)[0][0]
    headline = f"{bp_text} with {trigger}"
    if indicator == "critical":
        action = "possible pre-eclampsia with severe features - urgent obstetric review now"
    else:
        action = "meets NICE pre-eclampsia criteria - same-day obstetric review"
    orders = ["pre-eclampsia-bloods"]
    plt = _recent(facts, "platelets")
    if plt is not None and plt.value < PLATELETS_NICE:
        orders.append("coagulation")
    if _plgf_eligible(facts):
        orders.append("plgf")
    orders.append("obstetric-ultrasound")
    evidence = bp_evidence + [ev for _, ev in features]
    return Finding(
        rule_id="R3",
        problem="pre-eclampsia",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            "Hypertension (>= 140/90 mmHg, or on antihypertensives) at >= 20 weeks or postpartum "
            "with proteinuria (uPCR >= 30 mg/mmol, ACR >= 8 mg/mmol, dipstick >= 2+) or organ "
            "involvement (creatinine >= 90 umol/L, ALT/AST > 40 IU/L, platelets < 150 x10^9/L, "
            "headache, visual disturbance, epigastric pain) meets NICE pre-eclampsia criteria. "
            "Severe features (ACOG): platelets < 100, creatinine > 97 umol/L, transaminases >= 2x "
            "upper limit, epigastric/RUQ pain, visual or cerebral symptoms, pulmonary oedema."
        ),
        evidence=tuple(evidence),
        orders=tuple(orders),
        cautions=(_NOT_RULE_OUT, _NO_BIRTH_TIMING),
        gaps=(GA_UNKNOWN_GAP,) if gestation is None else (),
        notes=("Fetal assessment (CTG if viable; ultrasound for growth) per local pathway.",),
        order_freshness="acute",
    )


# ---- R3b --------------------------------------------------------------------------------


@rule(
    id="R3b",
    title="Hypertension without a proteinuria result",
    family="hypertension",
    citation="CG107",
    needs=(*blood_pressure(), *labs("upcr", "uacr", "urine_protein_dipstick")),
    postpartum=True,
    severities=("warning",),
)
def hypertension_unquantified_proteinuria(facts: PatientFacts) -> Finding | None:
    """At >= 20 weeks or postpartum with BP >= 140/90 mmHg in the last 7 days: a dipstick
    >= 1+ without a uPCR/ACR, or no urine protein result at all in the last 7 days, means
    proteinuria must be quantified today (NICE CG107: >= 1+ -> uPCR)."""
    gestation = gestation_at_least(facts, 20)
    if gestation is False:
        return None
    readings = _hypertensive_readings(facts)
    if not readings:
        return None
    worst = max(readings, key=lambda b: (b.systolic or 0, b.diastolic or 0))
    quantified = _recent(facts, "upcr", URINE_WINDOW_DAYS) or _recent(
        facts, "uacr", URINE_WINDOW_DAYS
    )
    if quantified is not None:
        return None
    dip = _recent(facts, "urine_protein_dipstick", URINE_WINDOW_DAYS)
    evidence = [worst.evidence()]
    if dip is None:
        headline = f"BP {worst.text()} without a proteinuria result"
    elif dip.value >= DIPSTICK_QUANTIFY:
        headline = f"BP {worst.text()} with urine protein {dip.value_text()} (not quantified)"
        evidence.append(dip.evidence())
    else:
        return None
    return Finding(
        rule_id="R3b",
        problem="pre-eclampsia",
        indicator="warning",
        headline=headline,
        action="quantify uPCR and assess for pre-eclampsia today",
        rule_text=(
            "BP >= 140/90 mmHg at >= 20 weeks or postpartum needs a quantified proteinuria result: "
            "dipstick >= 1+ -> uPCR (significant >= 30 mg/mmol) or ACR (>= 8 mg/mmol); no urine "
            f"result in {URINE_WINDOW_DAYS} days -> test today."
        ),
        evidence=tuple(evidence),
        orders=("urine-protein-or-acr",),
        cautions=(_NOT_RULE_OUT,),
        gaps=(GA_UNKNOWN_GAP,) if gestation is None else (),
        order_freshness="acute",
    )


# ---- R4 ---------------------------------------------------------------------------------


@rule(
    id="R4",
    title="Pre-eclampsia symptoms without a recent BP",
    family="hypertension",
    citation="NG133",
    needs=(*findings(*PRE_ECLAMPSIA_SYMPTOMS, "oedema"), *blood_pressure()),
    postpartum=True,
    severities=("warning",),
)
def symptoms_without_bp(facts: PatientFacts) -> Finding | None:
    """Headache, visual disturbance, epigastric pain or sudden oedema at >= 20 weeks or
    postpartum with no blood pressure recorded in the last 24 hours: check BP and urine
    protein now (NICE NG133 lists these as pre-eclampsia symptoms)."""
    gestation = gestation_at_least(facts, 20)
    if gestation is False:
        return None
    symptoms = facts.symptoms_present((*PRE_ECLAMPSIA_SYMPTOMS, "oedema"))
    if not symptoms or facts.bps_within(R4_BP_WINDOW_HOURS):
        return None
    names = " and ".join(s.label for s in symptoms[:2])
    headline = names[:1].upper() + names[1:] + " with no BP recorded today"
    return Finding(
        rule_id="R4",
        problem="pre-eclampsia",
        indicator="warning",
        headline=headline,
        action="check BP and urine protein now to assess for pre-eclampsia",
        rule_text=(
            "Headache, visual disturbance, epigastric pain or sudden oedema at >= 20 weeks or "
            f"postpartum with no BP in the last {R4_BP_WINDOW_HOURS} h: measure BP and test urine "
            "for protein now."
        ),
        evidence=tuple(s.evidence() for s in symptoms),
        orders=("urine_dipstick", "urine-protein"),
        gaps=(GA_UNKNOWN_GAP,) if gestation is None else (),
        order_freshness="acute",
    )
