"""Uterine contractions with pain or bleeding before 37 weeks: possible preterm labour
(R13, R13b); before 24 weeks worded as possible miscarriage risk.

The source article: contractions "more often than 4 times per hour, accompanied by pain in
the back and abdomen, possible brownish spotting" mean increased uterine tone and a risk of
miscarriage; preterm labour criteria are often operationalised as >= 4 per 20 minutes
(NICE NG25 covers suspected preterm labour < 37 weeks).
"""

from __future__ import annotations

from cds_service.facts import Evidence, PatientFacts
from cds_service.knowledge.codes import PRETERM_PAIN_BLEEDING
from cds_service.rules._registry import (
    GA_UNKNOWN_GAP,
    Finding,
    findings,
    gestation_below,
    labs,
    rule,
)

# Contractions per hour: "more often than 4 times per hour" (article); >= 4/20 min (PTL).
CONTRACTIONS_PER_HOUR_ABOVE = 4.0
TERM_WEEKS = 37
MISCARRIAGE_WORDING_BEFORE_WEEKS = 24
CONTRACTION_FINDINGS = ("regular-contractions", "contractions", "preterm-labour")


def _contractions(facts: PatientFacts) -> tuple[list[tuple[str, Evidence]], bool]:
    """(evidence of frequent/regular contractions, whether any contraction data exists)."""
    out: list[tuple[str, Evidence]] = []
    frequency = facts.fresh("contraction_frequency")
    has_data = frequency is not None
    if frequency is not None and frequency.value > CONTRACTIONS_PER_HOUR_ABOVE:
        out.append((f"contractions {frequency.value_text()}", frequency.evidence()))
    for key in CONTRACTION_FINDINGS:
        found = facts.symptom(key)
        if found is not None:
            has_data = True
            # "Onset of contractions" without a frequency is contraction data, not "regular".
            if key != "contractions" or frequency is None:
                out.append((found.label, found.evidence()))
    return out, has_data


def _wording(facts: PatientFacts) -> tuple[str, list[str]]:
    days = facts.ga_days
    if days is not None and days < MISCARRIAGE_WORDING_BEFORE_WEEKS * 7:
        return "possible miscarriage risk", []
    if days is None:
        return "possible preterm labour", [GA_UNKNOWN_GAP]
    return "possible preterm labour", []


@rule(
    id="R13",
    title="Contractions with pain or bleeding before 37 weeks",
    family="preterm",
    citation="NG25",
    needs=(
        *labs("contraction_frequency"),
        *findings(*CONTRACTION_FINDINGS, *PRETERM_PAIN_BLEEDING),
    ),
    severities=("critical",),
)
def preterm_labour_signs(facts: PatientFacts) -> Finding | None:
    """Pregnant at < 37+0 weeks with contractions more than 4 per hour (or regular
    contractions, or recorded preterm labour) AND back/abdominal pain, vaginal bleeding,
    brownish discharge or fluid loss: critical, urgent obstetric assessment. Before 24
    weeks it is worded as possible miscarriage risk, with the same urgency."""
    if gestation_below(facts, TERM_WEEKS) is False:
        return None
    contractions, _ = _contractions(facts)
    pain = facts.symptoms_present(PRETERM_PAIN_BLEEDING)
    if not contractions or not pain:
        return None
    what, gaps = _wording(facts)
    return Finding(
        rule_id="R13",
        problem="preterm",
        indicator="critical",
        headline=f"{contractions[0][0][:1].upper()}{contractions[0][0][1:]} with {pain[0].label}",
        action=f"{what} - urgent obstetric assessment now",
        rule_text=(
            f"Before 37+0 weeks, contractions > {CONTRACTIONS_PER_HOUR_ABOVE:g}/h (or regular) "
            "with back/abdominal pain, vaginal bleeding, brownish discharge or fluid loss -> "
            "urgent obstetric assessment (possible preterm labour; before 24 weeks possible "
            "miscarriage risk)."
        ),
        evidence=(*(ev for _, ev in contractions), *(p.evidence() for p in pain)),
        orders=("obstetric-ultrasound",),
        notes=("Fetal assessment (CTG if viable) per local pathway.",),
        gaps=tuple(gaps),
        order_freshness="acute",
    )


@rule(
    id="R13b",
    title="Contractions or pain before 37 weeks",
    family="preterm",
    citation="NG25",
    needs=(
        *labs("contraction_frequency"),
        *findings(*CONTRACTION_FINDINGS, *PRETERM_PAIN_BLEEDING),
    ),
    severities=("warning",),
)
def preterm_assess(facts: PatientFacts) -> Finding | None:
    """Pregnant at < 37+0 weeks with contractions more than 4 per hour but no pain or
    bleeding, or with pain/bleeding and no contraction data: assess today for preterm
    labour (frequency, pain, bleeding, fluid)."""
    if gestation_below(facts, TERM_WEEKS) is False:
        return None
    contractions, has_data = _contractions(facts)
    pain = facts.symptoms_present(PRETERM_PAIN_BLEEDING)
    if contractions and pain:
        return None  # R13
    if contractions:
        headline = contractions[0][0][:1].upper() + contractions[0][0][1:]
        evidence = tuple(ev for _, ev in contractions)
    elif pain and not has_data:
        headline = pain[0].label[:1].upper() + pain[0].label[1:] + " without contraction data"
        evidence = tuple(p.evidence() for p in pain)
    else:
        return None
    what, gaps = _wording(facts)
    return Finding(
        rule_id="R13b",
        problem="preterm",
        indicator="warning",
        headline=headline,
        action=(
            f"assess today for {what.removeprefix('possible ')} (frequency, pain, bleeding, fluid)"
        ),
        rule_text=(
            f"Before 37+0 weeks, contractions > {CONTRACTIONS_PER_HOUR_ABOVE:g}/h without pain or "
            "bleeding, or pain/bleeding without contraction data -> same-day assessment."
        ),
        evidence=evidence,
        gaps=tuple(gaps),
    )
