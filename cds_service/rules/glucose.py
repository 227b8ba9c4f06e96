"""Glucose: hypoglycaemia (R8) and gestational / overt diabetes criteria (R22).

The article names "a sharp decrease in blood sugar" as a cause of cramps and gestational
diabetes (and hypoglycaemia in women already diagnosed) among the conditions to look for.
Hypoglycaemia levels are the ADA ones (level 1 <3.9 mmol/L, level 2 <3.0 mmol/L, level 3
= a severe event with altered mental status); GDM and overt-diabetes criteria are
IADPSG's. The engine never diagnoses diabetes: it says the criteria are met.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cds_service.facts import Evidence, Measurement, PatientFacts, SymptomFact
from cds_service.rules._registry import (
    Finding,
    Indicator,
    cap_preliminary,
    findings,
    labs,
    medications,
    rule,
)

# Thresholds are (mmol/L, mg/dL) pairs: the published mg/dL and mmol/L cut-offs are rounded
# separately (54 mg/dL = 2.997 mmol/L), so a result is compared in the unit it was reported in.
# ---- R8 hypoglycaemia (ADA Standards: level 1 <3.9 mmol/L / 70 mg/dL, level 2 <3.0 / 54) ----
GLUCOSE_LEVEL1_BELOW = (3.9, 70.0)
GLUCOSE_LEVEL2_BELOW = (3.0, 54.0)
# On insulin the card fires earlier: NICE NG3 advises pregnant women taking insulin to keep
# capillary glucose above 4 mmol/L (clinical.md M9: insulin lowers the card threshold).
GLUCOSE_ON_INSULIN_BELOW = (4.0, 72.0)
# Neuroglycopenic signs count when recorded this close to the glucose (either side).
NEURO_SIGN_PAIRING_HOURS = 24
NEUROGLYCOPENIC_SIGNS = ("confusion", "seizure", "loss-of-consciousness")
HYPOGLYCAEMIA_GLUCOSE = ("glucose", "glucose_fasting")

# ---- R22 IADPSG 2010 (75 g OGTT, any one value) and overt diabetes ----
GDM_FASTING_AT_LEAST = (5.1, 92.0)
GDM_ONE_HOUR_AT_LEAST = (10.0, 180.0)
GDM_TWO_HOUR_AT_LEAST = (8.5, 153.0)
OVERT_FASTING_AT_LEAST = (7.0, 126.0)
# HbA1c: % (NGSP) and mmol/mol (IFCC).
OVERT_HBA1C_AT_LEAST = (6.5, 48.0)

Cutoff = tuple[float, float]


def _compared(m: Measurement, cutoff: Cutoff, second_unit: str) -> tuple[float, float]:
    """(value, threshold) in the unit the result was reported in."""
    if m.reported_unit == second_unit and m.reported_value is not None:
        return m.reported_value, cutoff[1]
    return m.value, cutoff[0]


def below(m: Measurement, cutoff: Cutoff, second_unit: str = "mg/dL") -> bool:
    value, threshold = _compared(m, cutoff, second_unit)
    return value < threshold


def at_least(m: Measurement, cutoff: Cutoff, second_unit: str = "mg/dL") -> bool:
    value, threshold = _compared(m, cutoff, second_unit)
    return value >= threshold


# A diagnostic result stays relevant for the whole pregnancy; when the episode start is
# unknown, look back this far.
PREGNANCY_LOOKBACK_DAYS = 280


def _latest_glucose(facts: PatientFacts) -> Measurement | None:
    candidates = [m for a in HYPOGLYCAEMIA_GLUCOSE if (m := facts.fresh(a)) is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda m: (m.when or m.issued or facts.now, m.issued or facts.now))


def _near(sign: SymptomFact, when: datetime | None) -> bool:
    stamp = sign.when or sign.recorded
    if stamp is None or when is None:
        return True
    return abs(stamp - when) <= timedelta(hours=NEURO_SIGN_PAIRING_HOURS)


@rule(
    id="R8",
    title="Hypoglycaemia",
    family="glucose",
    citation="ADAHYPO",
    needs=(
        *labs(*HYPOGLYCAEMIA_GLUCOSE),
        *findings(*NEUROGLYCOPENIC_SIGNS),
        *medications(),
    ),
    postpartum=True,
    severities=("warning", "critical"),
)
def hypoglycaemia(facts: PatientFacts) -> Finding | None:
    """Latest glucose below 3.9 mmol/L (70 mg/dL) is a warning, below 3.0 mmol/L (54 mg/dL)
    critical; any hypoglycaemia with confusion, seizure or loss of consciousness recorded
    within 24 h of it is critical (ADA level 3). On insulin the warning starts below 4.0
    mmol/L (NICE NG3)."""
    glucose = _latest_glucose(facts)
    if glucose is None:
        return None
    insulin = facts.on("insulin")
    threshold = GLUCOSE_ON_INSULIN_BELOW if insulin else GLUCOSE_LEVEL1_BELOW
    if not below(glucose, threshold):
        return None
    signs = tuple(
        s
        for s in facts.symptoms_present(NEUROGLYCOPENIC_SIGNS, NEURO_SIGN_PAIRING_HOURS / 24 + 1)
        if _near(s, glucose.when)
    )
    band: Indicator = "warning"
    level2 = below(glucose, GLUCOSE_LEVEL2_BELOW)
    if level2 or signs:
        band = "critical"
    indicator = cap_preliminary(band, glucose)
    evidence: list[Evidence] = [glucose.evidence(), *(s.evidence() for s in signs)]
    evidence.extend(m.evidence() for m in insulin)
    mg_dl = (
        glucose.reported_value
        if glucose.reported_unit == "mg/dL" and glucose.reported_value is not None
        else glucose.value * 18.02
    )
    value = f"{glucose.value_text()} ({mg_dl:.0f} mg/dL)"
    if signs:
        headline = f"Glucose {value} with {signs[0].label}: severe hypoglycaemia"
    elif level2:
        headline = f"Glucose {value}: level 2 hypoglycaemia"
    elif below(glucose, GLUCOSE_LEVEL1_BELOW):
        headline = f"Glucose {value}: level 1 hypoglycaemia"
    else:
        headline = f"Glucose {value} on insulin: below the 4.0 mmol/L floor"
    notes = []
    if insulin:
        notes.append(
            "On insulin: review the insulin plan and hypoglycaemia awareness "
            "(NICE NG3 advises keeping capillary glucose above 4 mmol/L)."
        )
    return Finding(
        rule_id="R8",
        problem="hypoglycaemia",
        indicator=indicator,
        headline=headline,
        action="treat and review now"
        if indicator == "critical"
        else "repeat glucose and review today",
        rule_text=(
            "Hypoglycaemia (ADA): level 1 <3.9 mmol/L (70 mg/dL) = warning; level 2 <3.0 "
            "mmol/L (54 mg/dL) or any low glucose with confusion, seizure or loss of "
            "consciousness = critical. On insulin the warning starts below 4.0 mmol/L."
        ),
        evidence=tuple(evidence),
        orders=("glucose-repeat",),
        cautions=("Treat hypoglycaemia per the local protocol (no doses here).",),
        notes=tuple(notes),
        order_freshness="acute",
    )


def _pregnancy_values(facts: PatientFacts, analyte: str) -> tuple[Measurement, ...]:
    start = facts.pregnancy.episode_start
    days = (facts.now.date() - start).days + 1 if start is not None else PREGNANCY_LOOKBACK_DAYS
    return facts.within(analyte, max(days, 0))


@rule(
    id="R22",
    title="Gestational or overt diabetes criteria met",
    family="glucose",
    citation="IADPSG",
    needs=(
        *labs("glucose_fasting", "glucose_ogtt_1h", "glucose_ogtt_2h", "hba1c"),
        *findings("gdm"),
    ),
    severities=("info", "warning"),
)
def diabetes_criteria(facts: PatientFacts) -> Finding | None:
    """In this pregnancy, fasting plasma glucose >= 7.0 mmol/L or HbA1c >= 6.5% meets the
    criteria for possible overt diabetes (warning); a 75 g OGTT value at or above
    fasting 5.1, 1 h 10.0 or 2 h 8.5 mmol/L meets the IADPSG GDM criteria (info, GDM
    pathway) unless gestational diabetes is already recorded."""
    if not facts.pregnancy.pregnant:
        return None
    fasting = _pregnancy_values(facts, "glucose_fasting")
    hba1c = _pregnancy_values(facts, "hba1c")
    overt: list[Measurement] = []
    if fasting and at_least(fasting[0], OVERT_FASTING_AT_LEAST):
        overt.append(fasting[0])
    if hba1c and at_least(hba1c[0], OVERT_HBA1C_AT_LEAST, "mmol/mol"):
        overt.append(hba1c[0])
    if overt:
        first = overt[0]
        label = "FPG" if first.analyte == "glucose_fasting" else "HbA1c"
        return Finding(
            rule_id="R22",
            problem="diabetes-in-pregnancy",
            indicator="warning",
            headline=f"{label} {first.value_text()}: meets criteria for possible overt diabetes",
            action="confirm and refer to the diabetes pathway today",
            rule_text=(
                "Fasting plasma glucose >= 7.0 mmol/L (126 mg/dL) or HbA1c >= 6.5% "
                "(48 mmol/mol) in pregnancy meets the IADPSG criteria for overt diabetes; "
                "a single result needs confirmation."
            ),
            evidence=tuple(m.evidence() for m in overt),
            orders=("hba1c",) if not hba1c else (),
        )
    if facts.symptoms.get("gdm") and facts.symptoms["gdm"][0].present:
        return None
    met: list[tuple[Measurement, str]] = []
    for analyte, cutoff, name in (
        ("glucose_fasting", GDM_FASTING_AT_LEAST, "fasting"),
        ("glucose_ogtt_1h", GDM_ONE_HOUR_AT_LEAST, "1h"),
        ("glucose_ogtt_2h", GDM_TWO_HOUR_AT_LEAST, "2h"),
    ):
        values = _pregnancy_values(facts, analyte)
        if values and at_least(values[0], cutoff):
            met.append((values[0], name))
    if not met:
        return None
    value, name = met[-1]
    prefix = "75 g OGTT " if name != "fasting" else ""
    return Finding(
        rule_id="R22",
        problem="diabetes-in-pregnancy",
        indicator="info",
        headline=f"{prefix}{name} glucose {value.value_text()} meets IADPSG GDM criteria",
        action="refer to the GDM pathway",
        rule_text=(
            "IADPSG (any one value of the 75 g OGTT): fasting >= 5.1 mmol/L (92 mg/dL), "
            "1 h >= 10.0 mmol/L (180 mg/dL), 2 h >= 8.5 mmol/L (153 mg/dL)."
        ),
        evidence=tuple(m.evidence() for m, _ in met),
    )
