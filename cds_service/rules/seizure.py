"""Seizure / loss of consciousness in pregnancy or postpartum: possible eclampsia (R1).

NICE NG133: eclampsia is the neurological complication of pre-eclampsia; it can occur
postpartum and without proteinuria. Any seizure or loss of consciousness in pregnancy or
<=42 days postpartum is treated as possible eclampsia until an obstetric team decides
otherwise. Hypoglycaemia, hypocalcaemia and hyponatraemia also cause seizures.
"""

from __future__ import annotations

from datetime import timedelta

from cds_service.facts import PatientFacts, SymptomFact, fmt_date
from cds_service.knowledge.codes import CONSCIOUSNESS_FINDINGS, SEIZURE_FINDINGS
from cds_service.rules._registry import (
    Finding,
    Indicator,
    findings,
    labs,
    medications,
    rule,
)

# A seizure this recent is an emergency now; older ones in this pregnancy still need
# confirmation that they were assessed (warning). Days.
ACUTE_SEIZURE_DAYS = 14
# When the episode start is unknown, look this far back for a seizure "in this pregnancy".
UNDATED_EPISODE_DAYS = 42 * 7
OTHER_CAUSE_ANALYTES = ("glucose", "calcium_adjusted", "calcium_ionised", "sodium")

_CAUTIONS = (
    "Do not wait for proteinuria or hypertension: eclampsia can occur without them (NICE NG133).",
    "Do not attribute the event to muscle cramps or to a known seizure disorder without "
    "obstetric review.",
    "Magnesium sulfate and antihypertensives per the local eclampsia protocol "
    "(no doses are given by this service).",
)


def _latest_event(facts: PatientFacts) -> SymptomFact | None:
    lookback = UNDATED_EPISODE_DAYS
    start = facts.pregnancy.episode_start
    if start is not None:
        lookback = max(0, (facts.now.date() - start).days) + 1
    events = facts.symptoms_present((*SEIZURE_FINDINGS, *CONSCIOUSNESS_FINDINGS), lookback)
    if not events:
        return None
    return max(events, key=lambda e: (e.when or e.recorded or facts.now, e.key in SEIZURE_FINDINGS))


@rule(
    id="R1",
    title="Seizure or loss of consciousness: possible eclampsia",
    family="seizure",
    citation="NG133",
    needs=(
        *findings(*SEIZURE_FINDINGS, *CONSCIOUSNESS_FINDINGS),
        *medications(),
        *labs(*OTHER_CAUSE_ANALYTES),
    ),
    postpartum=True,
    when_unknown=True,
    severities=("warning", "critical"),
)
def seizure_possible_eclampsia(facts: PatientFacts) -> Finding | None:
    """Any seizure, eclampsia or loss of consciousness in pregnancy or up to 42 days
    postpartum is critical (possible eclampsia). De-duplication only: when parenteral
    magnesium sulfate started after the recorded event, the event is already being
    managed and the card is a warning to monitor for toxicity; a seizure recorded after
    the magnesium sulfate start stays critical."""
    event = _latest_event(facts)
    if event is None:
        return None
    when = event.when or event.recorded
    acute = when is None or when >= facts.now - timedelta(days=ACUTE_SEIZURE_DAYS)
    evidence = [event.evidence()]
    mgso4 = [m for m in facts.on("magnesium-sulfate") if m.parenteral]
    started_after = [
        m for m in mgso4 if m.started is not None and when is not None and m.started > when
    ]
    evidence.extend(m.evidence() for m in mgso4)
    for analyte in OTHER_CAUSE_ANALYTES:
        value = facts.latest(analyte)
        if value is not None:
            evidence.append(value.evidence())
    bp = facts.latest_bp()
    if bp is not None:
        evidence.append(bp.evidence())

    label = event.label[:1].upper() + event.label[1:]
    headline = f"{label} recorded {fmt_date(when)}" if when else f"{label} recorded"
    indicator: Indicator
    if started_after:
        indicator = "warning"
        action = "on IV magnesium sulfate - monitor reflexes, respiratory rate and urine output"
        text = (
            "Seizure/loss of consciousness in pregnancy or <=42 days postpartum = possible "
            "eclampsia. Magnesium sulfate started after this event, so it is already being "
            "managed: monitor for magnesium toxicity. A new seizure would be critical again."
        )
    elif acute:
        indicator = "critical"
        action = "treat as possible eclampsia - emergency obstetric review now"
        text = (
            "Any seizure, eclampsia or loss of consciousness in pregnancy or <=42 days "
            f"postpartum (in the last {ACUTE_SEIZURE_DAYS} days or undated) is treated as "
            "possible eclampsia: emergency obstetric review. After stabilisation check "
            "glucose, Ca, Mg and Na for other causes."
        )
    else:
        indicator = "warning"
        action = "confirm it was assessed for eclampsia; check BP and urine protein today"
        text = (
            f"A seizure or loss of consciousness earlier in this pregnancy (more than "
            f"{ACUTE_SEIZURE_DAYS} days ago) needs a documented eclampsia assessment."
        )
    return Finding(
        rule_id="R1",
        problem="pre-eclampsia",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=text,
        evidence=tuple(evidence),
        orders=("eclampsia-bloods", "seizure-cause-bloods", "urine-protein"),
        cautions=_CAUTIONS,
        notes=("Fetal assessment (CTG if viable) once the mother is stable, per local pathway.",),
        order_freshness="acute",
    )
