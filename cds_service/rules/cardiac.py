"""Persistent left-arm pain or cramp: possible cardiac cause (R14).

MBRRACE-UK: cardiac disease is the leading indirect cause of maternal death and typical
cardiac symptoms were attributed to other causes; keep a low threshold for ECG and
troponin. The source article: "constant painful cramps in the left hand indicate cardiac
problems".
"""

from __future__ import annotations

from cds_service.facts import PatientFacts
from cds_service.knowledge.codes import CARDIAC_ACCOMPANYING
from cds_service.rules._registry import Finding, Indicator, findings, rule


@rule(
    id="R14",
    title="Left-arm pain: possible cardiac cause",
    family="cardiac",
    citation="MBRRACE",
    needs=findings("left-arm-pain", *CARDIAC_ACCOMPANYING),
    postpartum=True,
    severities=("warning", "critical"),
)
def left_arm_pain_cardiac(facts: PatientFacts) -> Finding | None:
    """Persistent left-arm pain or cramp in pregnancy or up to 42 days postpartum:
    critical with chest pain/tightness, breathlessness, syncope or palpitations (ECG and
    troponin now); warning when isolated (ECG and troponin today)."""
    arm = facts.symptom("left-arm-pain")
    if arm is None:
        return None
    accompanying = facts.symptoms_present(CARDIAC_ACCOMPANYING)
    indicator: Indicator = "critical" if accompanying else "warning"
    if accompanying:
        headline = f"Persistent left-arm pain with {accompanying[0].label}"
        action = "do not attribute to cramps - ECG and troponin now"
    else:
        headline = "Persistent left-arm pain or cramp"
        action = "do not attribute to cramps - ECG and troponin today"
    return Finding(
        rule_id="R14",
        problem="cardiac",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            "Persistent left-arm pain or cramp in pregnancy or <= 42 days postpartum -> ECG and "
            "troponin; with chest pain/tightness, breathlessness, syncope or palpitations it is "
            "an emergency (MBRRACE-UK: low threshold for ECG, troponin and chest X-ray)."
        ),
        evidence=(arm.evidence(), *(s.evidence() for s in accompanying)),
        orders=("cardiac",),
        cautions=("Do not attribute persistent left-arm pain to pregnancy cramps without an ECG.",),
        notes=("Chest X-ray per local pathway (not suggested by this service).",),
        order_freshness="acute",
    )
