"""Vitamin D deficiency (R23).

The article lists vitamin D among the deficiencies behind cramps and notes that calcium is
poorly absorbed without it. UK SACN 2016: deficiency below 25 nmol/L (10 ng/mL); IOM 2011
"at risk" below 30 nmol/L; 50 nmol/L or more is sufficient for nearly everyone. Info only
and pregnancy-only (a nutritional card).
"""

from __future__ import annotations

from cds_service.facts import PatientFacts
from cds_service.rules._registry import Finding, labs, medications, rule

# SACN 2016 deficiency threshold, nmol/L (= 10 ng/mL; ng/mL x 2.496 = nmol/L).
VITAMIN_D_DEFICIENT_BELOW = 25.0
NG_ML_PER_NMOL_L = 0.4006


@rule(
    id="R23",
    title="Vitamin D deficiency",
    family="vitamin_d",
    citation="VITD",
    needs=(*labs("vitamin_d"), *medications()),
    severities=("info",),
)
def vitamin_d_deficiency(facts: PatientFacts) -> Finding | None:
    """25-OH vitamin D below 25 nmol/L (10 ng/mL) within its 12-week window: below the UK
    deficiency threshold, review supplementation (info)."""
    if not facts.pregnancy.pregnant:
        return None
    level = facts.fresh("vitamin_d")
    if level is None or level.value >= VITAMIN_D_DEFICIENT_BELOW:
        return None
    ng_ml = level.value * NG_ML_PER_NMOL_L
    notes = []
    supplements = facts.on("vitamin-d", "calcium-supplement")
    if supplements:
        names = ", ".join(sorted({m.label for m in supplements}))
        notes.append(f"Already on {names}: review the dose and adherence with the patient.")
    return Finding(
        rule_id="R23",
        problem="vitamin-d",
        indicator="info",
        headline=f"25-OH vitamin D {level.value_text()} ({ng_ml:.1f} ng/mL)",
        action="below UK deficiency threshold - review supplementation",
        rule_text=(
            "25-OH vitamin D below 25 nmol/L (10 ng/mL) is deficiency (SACN 2016); below "
            "30 nmol/L is 'at risk' (IOM 2011); 50 nmol/L or more is sufficient."
        ),
        evidence=(level.evidence(), *(m.evidence() for m in supplements)),
        cautions=("Supplement choice and dose per local guidance (no doses here).",),
        notes=tuple(notes),
    )
