"""Venous thromboembolism in pregnancy and the puerperium (R5 possible DVT, R6 possible PE).

RCOG GTG 37b: any woman with symptoms or signs suggestive of VTE needs objective testing
expeditiously; compression duplex for suspected DVT (repeat on days 3 and 7 if negative
with high suspicion). The LEFt rule (Chan 2009: Left leg, calf circumference difference
>= 2 cm, first trimester) only prioritises: LEFt 0 never suppresses the card and a
D-dimer never down-grades it. R5 and R6 share the problem key "vte" (PE outranks DVT).
"""

from __future__ import annotations

from cds_service.facts import Evidence, PatientFacts, SymptomFact, fmt_number
from cds_service.knowledge.codes import COLLAPSE_FINDINGS, DVT_LEG_SIGNS, PE_SYMPTOMS
from cds_service.rules._registry import (
    Finding,
    blood_pressure,
    findings,
    labs,
    medications,
    rule,
)

# LEFt "E": calf circumference difference (cm).
CALF_DIFFERENCE_CM = 2.0
# NHS GGC stability criteria quoted in clinical.md A.2 V4 / R6.
HEART_RATE_ABOVE = 100
RESPIRATORY_RATE_AT_LEAST = 21
SPO2_AT_MOST = 96
SBP_BELOW = 90

_NO_D_DIMER = "Do not use a D-dimer to exclude DVT or PE in pregnancy (RCOG GTG 37b)."
_LEFT_ZERO = "A LEFt score of 0 does not rule out DVT: arrange objective testing."
_NOTES = (
    "RCOG GTG 37b: treatment-dose LMWH until objective testing is complete unless "
    "contraindicated (a clinician decision; no dose given here).",
    "If the duplex is negative and clinical suspicion remains high, repeat on days 3 and 7.",
    "In late pregnancy, scan in the left lateral position and include iliac/proximal veins.",
)


def _unilateral_signs(facts: PatientFacts) -> tuple[SymptomFact, ...]:
    return tuple(
        s for s in facts.symptoms_present(DVT_LEG_SIGNS) if s.laterality in ("left", "right")
    )


def _dvt_triggers(facts: PatientFacts) -> list[tuple[str, Evidence]]:
    """What makes DVT suspected: unilateral leg signs, calf difference, thrombophlebitis,
    or a recorded (suspected or known) DVT."""
    out: list[tuple[str, Evidence]] = []
    for sign in _unilateral_signs(facts):
        out.append((f"{sign.laterality} {sign.label}", sign.evidence()))
    calf = facts.fresh("calf_circumference_difference")
    if calf is not None and calf.value >= CALF_DIFFERENCE_CM:
        out.append((f"calf difference {calf.value_text()}", calf.evidence()))
    for key in ("thrombophlebitis", "dvt"):
        found = facts.symptom(key)
        if found is not None:
            out.append((found.label, found.evidence()))
    return out


def left_score(facts: PatientFacts) -> tuple[int, list[str]]:
    """LEFt score (0-3) and the items that scored."""
    items: list[str] = []
    if any(s.laterality == "left" for s in _unilateral_signs(facts)):
        items.append("L: symptoms in the left leg")
    calf = facts.fresh("calf_circumference_difference")
    if calf is not None and calf.value >= CALF_DIFFERENCE_CM:
        items.append(f"E: calf circumference difference {calf.value_text()} (>= 2 cm)")
    if facts.trimester == 1:
        items.append("Ft: first trimester")
    return len(items), items


def _ignored_d_dimer(facts: PatientFacts) -> list[str]:
    d_dimer = facts.latest("d_dimer")
    if d_dimer is None:
        return []
    return [
        f"D-dimer {d_dimer.value_text()} on {d_dimer.when.date() if d_dimer.when else '?'} "
        "was not used: it cannot exclude VTE in pregnancy."
    ]


@rule(
    id="R5",
    title="Possible deep vein thrombosis",
    family="thrombosis",
    citation="GTG37b",
    needs=(
        *findings(*DVT_LEG_SIGNS, "thrombophlebitis", "dvt"),
        *labs("calf_circumference_difference", "d_dimer"),
        *medications(),
    ),
    postpartum=True,
    severities=("warning",),
)
def possible_dvt(facts: PatientFacts) -> Finding | None:
    """Unilateral leg pain, swelling or redness, a calf circumference difference >= 2 cm,
    superficial thrombophlebitis, or a recorded suspected/known DVT, in pregnancy or up to
    42 days postpartum: always a warning with a compression-duplex suggestion. LEFt
    (Left leg + calf difference >= 2 cm + first trimester) >= 1 -> "probable need for
    duplex today"; LEFt 0 -> clinically assess today and arrange duplex. Never info."""
    triggers = _dvt_triggers(facts)
    if not triggers:
        return None
    score, items = left_score(facts)
    evidence = [ev for _, ev in triggers]
    evidence.extend(m.evidence() for m in facts.on("anticoagulant"))
    notes = list(_NOTES)
    if items:
        notes.insert(0, "LEFt items: " + "; ".join(items) + ".")
    if facts.on("anticoagulant"):
        notes.insert(0, "Already on heparin/LMWH: objective testing is still required.")
    notes.extend(_ignored_d_dimer(facts))
    action = (
        "arrange compression duplex today"
        if score >= 1
        else "clinically assess today and arrange compression duplex"
    )
    return Finding(
        rule_id="R5",
        problem="vte",
        indicator="warning",
        headline=f"Possible DVT (LEFt {score}/3): {triggers[0][0]}",
        action=action,
        rule_text=(
            "Unilateral leg pain/swelling/redness, calf circumference difference >= 2 cm, "
            "superficial thrombophlebitis or a recorded DVT in pregnancy or <= 42 days postpartum "
            f"-> objective testing (compression duplex). LEFt score {score}/3 "
            "(Left leg, calf difference >= 2 cm, first trimester) sets priority only."
        ),
        evidence=tuple(evidence),
        orders=("venous-duplex",),
        cautions=(_NO_D_DIMER, _LEFT_ZERO) if score == 0 else (_NO_D_DIMER,),
        notes=tuple(notes),
        citation="GTG37b",
    )


def _abnormal_vitals(facts: PatientFacts) -> list[tuple[str, Evidence]]:
    out: list[tuple[str, Evidence]] = []
    hr = facts.fresh("heart_rate")
    if hr is not None and hr.value > HEART_RATE_ABOVE:
        out.append((f"HR {fmt_number(hr.value, 0)}/min", hr.evidence()))
    rr = facts.fresh("respiratory_rate")
    if rr is not None and rr.value >= RESPIRATORY_RATE_AT_LEAST:
        out.append((f"RR {fmt_number(rr.value, 0)}/min", rr.evidence()))
    spo2 = facts.fresh("spo2")
    if spo2 is not None and spo2.value <= SPO2_AT_MOST:
        out.append((f"SpO2 {fmt_number(spo2.value, 0)}%", spo2.evidence()))
    bp = facts.latest_bp()
    if bp is not None and not bp.stale and bp.systolic is not None and bp.systolic < SBP_BELOW:
        out.append((f"BP {bp.text()}", bp.evidence()))
    return out


@rule(
    id="R6",
    title="Possible pulmonary embolism",
    family="thrombosis",
    citation="GTG37b",
    needs=(
        *findings(
            *PE_SYMPTOMS, *COLLAPSE_FINDINGS, *DVT_LEG_SIGNS, "pe", "dvt", "thrombophlebitis"
        ),
        *labs("heart_rate", "respiratory_rate", "spo2", "calf_circumference_difference"),
        *blood_pressure(),
    ),
    postpartum=True,
    severities=("warning", "critical"),
)
def possible_pe(facts: PatientFacts) -> Finding | None:
    """Breathlessness, chest pain, haemoptysis or collapse/syncope, a recorded suspected
    PE, or DVT signs together with HR > 100, RR >= 21, SpO2 <= 96% or SBP < 90 mmHg, in
    pregnancy or up to 42 days postpartum: critical, emergency assessment (RCOG GTG 37b
    symptom list; NHS GGC stability criteria). D-dimer never down-grades it."""
    symptoms = [
        (s.label, s.evidence()) for s in facts.symptoms_present((*PE_SYMPTOMS, *COLLAPSE_FINDINGS))
    ]
    known = facts.symptom("pe")
    if known is not None:
        symptoms.insert(0, (known.label, known.evidence()))
    leg = _dvt_triggers(facts)
    if not symptoms and not leg:
        return None  # nothing that vitals could complete (their values stay unread)
    vitals = _abnormal_vitals(facts)
    if not symptoms and not vitals:
        return None
    parts = [text for text, _ in symptoms[:2]] + [text for text, _ in vitals[:2]]
    headline = "Possible PE: " + ", ".join(parts)
    if leg:
        headline += " with leg symptoms"
    evidence = [ev for _, ev in (*symptoms, *vitals, *leg)]
    orders = ["ecg"] + (["venous-duplex"] if leg else [])
    return Finding(
        rule_id="R6",
        problem="vte",
        indicator="critical",
        headline=headline,
        action="emergency assessment now",
        rule_text=(
            "Breathlessness, pleuritic chest pain, haemoptysis or collapse/syncope, or leg signs "
            f"with HR > {HEART_RATE_ABOVE}/min, RR >= {RESPIRATORY_RATE_AT_LEAST}/min, SpO2 <= "
            f"{SPO2_AT_MOST}% or SBP < {SBP_BELOW} mmHg, in pregnancy or <= 42 days postpartum: "
            "possible PE -> emergency pathway (ECG, chest X-ray, CTPA/VQ per local protocol)."
        ),
        evidence=tuple(evidence),
        orders=tuple(orders),
        cautions=(
            _NO_D_DIMER,
            "Do not delay imaging because of pregnancy: CTPA/VQ per local protocol.",
        ),
        notes=tuple(_ignored_d_dimer(facts)),
        order_freshness="acute",
    )
