"""Data quality (R24, clinical.md 1.1 item 5 and 1.3).

* Conflicting pregnancy status -> one info card asking to reconcile it.
* Results that could not be graded (unit missing, not convertible, implausible for the
  stated unit) -> at most one info card; a warning when such a result carries a lab
  critical flag (LL/HH/AA) or could be dangerous at face value (glucose < 35 mg/dL).
* A lab critical flag (LL/HH/AA) on a current result -> at least a warning, unless another
  card already shows that result.
* An abnormal key result that is now stale -> info: repeat before relying on it.
"""

from __future__ import annotations

from collections.abc import Callable

from cds_service.facts import Measurement, PatientFacts, PregnancyStatus, fmt_date
from cds_service.knowledge.codes import CRITICAL_INTERPRETATIONS
from cds_service.rules._registry import DataNeed, Finding, Indicator, labs, rule

# Key results whose last value was abnormal: (analyte, abnormal test, repeat order item).
# Defaults when the lab gives no reference range: clinical.md A.3.
_KEY_LABS: tuple[tuple[str, Callable[[Measurement], bool], str], ...] = (
    ("haemoglobin", lambda m: m.value < 110, "cbc"),
    ("platelets", lambda m: m.value < 150, "cbc"),
    ("ferritin", lambda m: m.value < 30, "ferritin"),
    ("potassium", lambda m: m.value < 3.5 or m.value > 5.5, "potassium"),
    ("sodium", lambda m: m.value < 135, "sodium"),
    ("magnesium", lambda m: m.value < 0.7, "magnesium"),
    ("calcium_adjusted", lambda m: _below_range(m, 2.2), "calcium"),
    ("calcium_ionised", lambda m: _below_range(m, 1.1), "calcium_ionised"),
    ("glucose", lambda m: m.value < 3.9, "glucose"),
    ("creatinine", lambda m: m.value >= 90, "renal_panel"),
    ("vitamin_d", lambda m: m.value < 25, "vitamin_d"),
)
# Older than this, a result says nothing about now; it is not worth a card (days).
STALE_REPORT_MAX_DAYS = 365


def _below_range(m: Measurement, default_low: float) -> bool:
    low = m.reference_low if m.reference_low is not None else default_low
    return m.value < low


def _conflict(facts: PatientFacts) -> Finding | None:
    preg = facts.pregnancy
    if not preg.conflict:
        return None
    evidence = preg.conflict_evidence or preg.evidence
    first = evidence[0]
    return Finding(
        rule_id="R24",
        problem="pregnancy-status",
        indicator="info",
        headline=" ".join(
            f"Conflicting pregnancy status ({first.label} {first.value or ''} "
            f"{fmt_date(first.when)})".split()
        ),
        action="reconcile pregnancy status in the record",
        rule_text=(
            "The record holds pregnancy evidence that disagrees (e.g. 'Not pregnant' newer than an "
            "active pregnancy). The most recent final statement was used; critical seizure and "
            "blood-pressure checks stay on while it is unresolved."
        ),
        evidence=tuple(evidence),
        citation="IPS",
        hedge_unknown_status=False,
    )


def _unit_problems(facts: PatientFacts) -> Finding | None:
    problems = facts.unit_problems
    if not problems:
        return None
    flagged = [p for p in problems if p.interpretation & CRITICAL_INTERPRETATIONS]
    ambiguous = [p for p in problems if p.kind == "ambiguous"]
    indicator: Indicator = "warning" if flagged or ambiguous else "info"
    lead = (flagged or ambiguous or list(problems))[0]
    if flagged:
        flag = "/".join(sorted(lead.interpretation & CRITICAL_INTERPRETATIONS))
        headline = f"{lead.label} flagged critical ({flag}) but its unit cannot be used"
        action = "review the result with the lab today"
    elif ambiguous:
        value = "?" if lead.reported_value is None else f"{lead.reported_value:g}"
        unit = lead.reported_unit or ""
        headline = " ".join(
            f"{lead.label} {value} {unit} is either very low or a unit error".split()
        )
        action = "verify the result and unit now"
    elif len(problems) == 1:
        headline = f"{lead.label} result without a usable unit"
        action = "value not assessed - check the unit with the lab"
    else:
        names = ", ".join(dict.fromkeys(p.label for p in problems))
        headline = f"{len(problems)} results without a usable unit ({names})"[:90]
        action = "values not assessed - check units with the lab"
    return Finding(
        rule_id="R24",
        problem="data-quality-units",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            "A result whose unit is missing, not convertible, or implausible for the stated unit "
            "(e.g. Hb > 25 with no unit, total Ca < 4 mg/dL, glucose < 35 mg/dL) is not graded. "
            "A lab critical flag (LL/HH/AA) on it, or a value that would be dangerous at face "
            "value, raises a warning."
        ),
        evidence=tuple(p.evidence() for p in problems),
        citation="FHIROBS",
    )


def _flags(facts: PatientFacts) -> list[Finding]:
    out: list[Finding] = []
    # The latest current value of every analyte carrying LL/HH/AA (facts screens the raw
    # interpretation codes first, so unflagged analytes are never validated).
    for latest in facts.critical_flags(CRITICAL_INTERPRETATIONS):
        flags = latest.interpretation & CRITICAL_INTERPRETATIONS
        out.append(
            Finding(
                rule_id="R24",
                problem=f"lab-flag:{latest.analyte}",
                indicator="warning",
                headline=(
                    f"{latest.label} {latest.value_text()} flagged critical "
                    f"({'/'.join(sorted(flags))})"
                ),
                action="review the result today",
                rule_text=(
                    "The laboratory flagged this result as critical (LL/HH/AA): at least a warning."
                ),
                evidence=(latest.evidence(),),
                citation="FHIROBS",
                supersedable=True,
            )
        )
    return out


def _stale(facts: PatientFacts) -> Finding | None:
    stale: list[tuple[Measurement, str]] = []
    for analyte, abnormal, order in _KEY_LABS:
        latest = facts.latest(analyte)
        if latest is None or not latest.stale or latest.age_days is None:
            continue
        if latest.age_days > STALE_REPORT_MAX_DAYS or not abnormal(latest):
            continue
        stale.append((latest, order))
    if not stale:
        return None
    lead = stale[0][0]
    weeks = int((lead.age_days or 0) // 7)
    age = f"{weeks} wks old" if weeks >= 1 else f"{int(lead.age_days or 0)} days old"
    headline = f"Last {lead.label} is {age} ({lead.value_text()})"
    if len(stale) > 1:
        headline += f" and {len(stale) - 1} more stale result(s)"
    orders = tuple(dict.fromkeys(order for _, order in stale))[:3]
    return Finding(
        rule_id="R24",
        problem="data-quality-stale",
        indicator="info",
        headline=headline,
        action="repeat before relying on it",
        rule_text=(
            "An abnormal key result older than its freshness window (electrolytes, glucose, "
            "creatinine 7 days; Hb/ferritin 4 weeks, or 3 weeks after starting iron; vitamin D "
            "12 weeks) is not used to grade severity: repeat it."
        ),
        evidence=tuple(m.evidence() for m, _ in stale),
        orders=orders,
        citation="FHIROBS",
    )


_NEEDS: tuple[DataNeed, ...] = (
    *labs(*(analyte for analyte, _, _ in _KEY_LABS)),
    DataNeed("observations", "pregnancy-status"),
)


@rule(
    id="R24",
    title="Data quality: units, flags, stale results, pregnancy status",
    family="data_quality",
    citation="FHIROBS",
    needs=_NEEDS,
    postpartum=True,
    when_unknown=True,
    severities=("info", "warning"),
)
def data_quality(facts: PatientFacts) -> list[Finding]:
    """Conflicting pregnancy status (info: reconcile); results with a missing,
    unconvertible or implausible unit (info, warning if lab-flagged critical or dangerous
    at face value); lab critical flags LL/HH/AA (warning); abnormal key results that are
    stale (info: repeat). While pregnancy status is unknown only the conflict is reported."""
    found: list[Finding] = []
    conflict = _conflict(facts)
    if conflict is not None:
        found.append(conflict)
    if facts.pregnancy.status is PregnancyStatus.UNKNOWN:
        return found
    for item in (_unit_problems(facts), _stale(facts)):
        if item is not None:
            found.append(item)
    found.extend(_flags(facts))
    return found
