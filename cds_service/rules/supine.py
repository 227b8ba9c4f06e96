"""Supine hypotensive (aortocaval compression) syndrome (R15).

Up to 15% of women at term; symptoms 3-10 minutes after lying supine from mid-second
trimester; left lateral position relieves it (Zhao 2014 review; AccessAnesthesiology).
The source article links cramps lying on the back or right side to vena cava compression
and advises sleeping on the left side.
"""

from __future__ import annotations

from cds_service.facts import PatientFacts
from cds_service.rules._registry import (
    GA_UNKNOWN_GAP,
    Finding,
    Indicator,
    blood_pressure,
    findings,
    gestation_at_least,
    rule,
)

FROM_WEEKS = 20
SBP_BELOW = 90
SUPINE_FINDINGS = ("supine-dizziness", "maternal-hypotension-syndrome")


@rule(
    id="R15",
    title="Dizziness lying supine: aortocaval compression",
    family="supine",
    citation="SHS",
    needs=(*findings(*SUPINE_FINDINGS, "syncope"), *blood_pressure()),
    severities=("info", "warning"),
)
def supine_hypotension(facts: PatientFacts) -> Finding | None:
    """Pregnant at >= 20 weeks with dizziness/faintness when lying supine (or recorded
    maternal hypotension syndrome): info, advise left lateral position and recheck BP;
    warning with syncope or a systolic BP below 90 mmHg."""
    if not facts.pregnancy.pregnant:
        return None
    gestation = gestation_at_least(facts, FROM_WEEKS)
    if gestation is False:
        return None
    found = facts.symptoms_present(SUPINE_FINDINGS)
    if not found:
        return None
    evidence = [s.evidence() for s in found]
    syncope = facts.symptom("syncope")
    bp = facts.latest_bp()
    low_bp = bp is not None and not bp.stale and bp.systolic is not None and bp.systolic < SBP_BELOW
    if syncope is not None:
        evidence.append(syncope.evidence())
    if bp is not None and not bp.stale:
        evidence.append(bp.evidence())
    indicator: Indicator = "warning" if syncope is not None or low_bp else "info"
    headline = "Dizziness when supine"
    if bp is not None and not bp.stale:
        headline += f" (BP {bp.text()})"
    return Finding(
        rule_id="R15",
        problem="supine",
        indicator=indicator,
        headline=headline,
        action="consider aortocaval compression - advise left lateral position; recheck BP",
        rule_text=(
            f"At >= {FROM_WEEKS} weeks, dizziness, syncope or hypotension lying supine (or on the "
            "right side) suggests aortocaval compression; warning with syncope or SBP < "
            f"{SBP_BELOW} mmHg."
        ),
        evidence=tuple(evidence),
        cautions=(
            "Do not assume aortocaval compression if symptoms persist in the left lateral "
            "position.",
        ),
        gaps=(GA_UNKNOWN_GAP,) if gestation is None else (),
    )
