"""Vomiting and hyperemesis with dehydration or metabolic signs (R7).

The article: severe early "toxicosis" (vomiting of pregnancy) causes dehydration and
electrolyte loss, with weakness, dizziness, oliguria, a fall in blood pressure, a weak
pulse and disturbed consciousness. RCOG GTG69: the hyperemesis triad is >5% weight loss,
dehydration and electrolyte imbalance; PUQE-24 >=13 is severe. RCOG 2024 (Grade A):
ketonuria is not an indicator of dehydration and must not be used to assess severity:
this rule never reads it.
"""

from __future__ import annotations

from datetime import timedelta

from cds_service.facts import Evidence, PatientFacts, fmt_number
from cds_service.knowledge.codes import HYPEREMESIS_FINDINGS
from cds_service.rules._registry import (
    Finding,
    Indicator,
    blood_pressure,
    findings,
    labs,
    medications,
    rule,
)

# Dehydration / metabolic signs (clinical.md R7; HR >100 is a suggested threshold).
HEART_RATE_ABOVE = 100
SYSTOLIC_BELOW = 90
POTASSIUM_BELOW = 3.5
POTASSIUM_CRITICAL_BELOW = 2.5
SODIUM_BELOW = 135
WEIGHT_LOSS_PERCENT_ABOVE = 5.0
PUQE_SEVERE_AT_LEAST = 13
# Reference weight for the weight-loss sign: the heaviest weight in this window before the
# latest one (booking / pre-pregnancy weight), days.
REFERENCE_WEIGHT_DAYS = 180
# Bedside signs (HR, BP, weight, PUQE) older than this do not describe the current episode.
BEDSIDE_SIGN_DAYS = 2
# A hyperemesis diagnosis stays current this long after it was recorded.
HYPEREMESIS_CONDITION_DAYS = 70

_DEHYDRATION_FINDINGS = ("dehydration", "oliguria", "hypotension", "tachycardia")
_ALTERED_CONSCIOUSNESS = ("confusion", "loss-of-consciousness")


def _vomiting(facts: PatientFacts) -> tuple[Evidence, ...]:
    found = [facts.symptom("vomiting")]
    found += [facts.symptom(k, HYPEREMESIS_CONDITION_DAYS) for k in HYPEREMESIS_FINDINGS]
    return tuple(s.evidence() for s in found if s is not None)


def _weight_loss(facts: PatientFacts) -> tuple[float, tuple[Evidence, ...]] | None:
    recent = facts.within("body_weight", BEDSIDE_SIGN_DAYS)
    if not recent:
        return None
    latest = recent[0]
    earlier = [
        m
        for m in facts.within("body_weight", REFERENCE_WEIGHT_DAYS)
        if m.when is not None and latest.when is not None and m.when < latest.when
    ]
    if not earlier:
        return None
    reference = max(earlier, key=lambda m: m.value)
    loss = (reference.value - latest.value) / reference.value * 100
    return loss, (reference.evidence(), latest.evidence())


@rule(
    id="R7",
    title="Vomiting or hyperemesis with dehydration or metabolic signs",
    family="hyperemesis",
    citation="GTG69",
    needs=(
        *findings(
            "vomiting",
            *HYPEREMESIS_FINDINGS,
            *_DEHYDRATION_FINDINGS,
            *_ALTERED_CONSCIOUSNESS,
            "seizure",
        ),
        *labs("potassium", "sodium", "heart_rate", "body_weight", "puqe_score"),
        *blood_pressure(),
        *medications(),
    ),
    severities=("warning", "critical"),
)
def hyperemesis(facts: PatientFacts) -> Finding | None:
    """Vomiting or hyperemesis with at least one dehydration/metabolic sign (HR >100, SBP
    <90, oliguria, dehydration, K <3.5, Na <135, weight loss >5%, PUQE-24 >=13) is a
    warning; SBP <90 with HR >100, confusion or altered consciousness (Wernicke's risk),
    K <2.5 or a seizure is critical. Ketonuria is never used."""
    vomiting = _vomiting(facts)
    if not vomiting:
        return None
    signs: list[str] = []
    evidence: list[Evidence] = list(vomiting)
    critical_reasons: list[str] = []

    window = float(BEDSIDE_SIGN_DAYS)
    heart_rates = facts.within("heart_rate", window)
    tachycardic = bool(heart_rates) and heart_rates[0].value > HEART_RATE_ABOVE
    if tachycardic:
        signs.append(f"HR {fmt_number(heart_rates[0].value, 0)}")
        evidence.append(heart_rates[0].evidence())
    bp = facts.latest_bp()
    recent_bp = (
        bp is not None
        and bp.when is not None
        and (bp.when >= facts.now - timedelta(days=BEDSIDE_SIGN_DAYS))
    )
    hypotensive = bool(
        recent_bp and bp is not None and bp.systolic is not None and bp.systolic < SYSTOLIC_BELOW
    )
    if hypotensive and bp is not None:
        signs.append(f"BP {bp.text().removesuffix(' mmHg')}")
        evidence.append(bp.evidence())
    if hypotensive and tachycardic:
        critical_reasons.append("hypotension with tachycardia")
    for key in _DEHYDRATION_FINDINGS:
        sign = facts.symptom(key, window)
        if sign is not None:
            signs.append(sign.label)
            evidence.append(sign.evidence())
    potassium = facts.fresh("potassium")
    if potassium is not None and potassium.value < POTASSIUM_BELOW:
        signs.append(f"K {fmt_number(potassium.value, 1)}")
        evidence.append(potassium.evidence())
        if potassium.value < POTASSIUM_CRITICAL_BELOW and not potassium.preliminary:
            critical_reasons.append("K below 2.5 mmol/L")
    sodium = facts.fresh("sodium")
    if sodium is not None and sodium.value < SODIUM_BELOW:
        signs.append(f"Na {fmt_number(sodium.value, 0)}")
        evidence.append(sodium.evidence())
    weight = _weight_loss(facts)
    if weight is not None and weight[0] > WEIGHT_LOSS_PERCENT_ABOVE:
        signs.append(f"weight loss {weight[0]:.0f}%")
        evidence.extend(weight[1])
    puqe = facts.within("puqe_score", window)
    if puqe and puqe[0].value >= PUQE_SEVERE_AT_LEAST:
        signs.append(f"PUQE {fmt_number(puqe[0].value, 0)}")
        evidence.append(puqe[0].evidence())
    for key in (*_ALTERED_CONSCIOUSNESS, "seizure"):
        sign = facts.symptom(key, window)
        if sign is not None:
            signs.append(sign.label)
            evidence.append(sign.evidence())
            critical_reasons.append(sign.label)
    if not signs:
        return None

    indicator: Indicator = "critical" if critical_reasons else "warning"
    listed = ", ".join(signs[:3])
    if indicator == "critical":
        headline = f"Vomiting with {listed}: possible severe hyperemesis"
        action = "urgent review now"
    else:
        headline = f"Vomiting with {listed}"
        action = "assess for dehydration/hyperemesis today"
    notes = []
    if any(r in ("confusion", "loss of consciousness") for r in critical_reasons):
        notes.append(
            "Altered consciousness with prolonged vomiting: consider Wernicke's "
            "encephalopathy; thiamine per local protocol."
        )
    if facts.on("thiamine"):
        notes.append("Already on thiamine.")
    return Finding(
        rule_id="R7",
        problem="hyperemesis",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            "Vomiting/hyperemesis plus >=1 of HR >100, SBP <90, oliguria, dehydration, "
            "K <3.5, Na <135, weight loss >5%, PUQE-24 >=13 = warning (RCOG GTG69). Critical: "
            "SBP <90 with HR >100, confusion/altered consciousness, K <2.5 or seizure."
        ),
        evidence=tuple(evidence),
        orders=("hyperemesis-bloods", "thyroid"),
        cautions=(
            "Do not use ketonuria to judge dehydration or severity (RCOG GTG69 2024, Grade A).",
            "Fluids, antiemetics and thiamine per local protocol (no doses here).",
        ),
        notes=tuple(notes),
        order_freshness="acute",
    )
