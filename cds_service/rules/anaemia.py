"""Anaemia in pregnancy (R9).

The article names pronounced anaemia (low haemoglobin, "cerebral hypoxia") as a cause of
cramps and asks for the haemoglobin to be checked when cramps recur. Severity follows WHO
2011 (severe <70 g/L, moderate 70-99 g/L); "anaemia" is below the trimester cut-off (WHO
2024 / CDC 1998: T1 and T3 <110 g/L, T2 <105 g/L; UK BSH 2020 uses <105 g/L in T3: a
policy choice). Ferritin <30 ug/L means iron deficiency in pregnancy (BSH 2020).

Pregnancy-only by default; ``Policy.anaemia_postpartum_enabled`` adds the BSH postpartum
cut-off (<100 g/L).
"""

from __future__ import annotations

from cds_service.facts import PatientFacts
from cds_service.rules._registry import (
    GA_UNKNOWN_GAP,
    Finding,
    Indicator,
    cap_preliminary,
    labs,
    medications,
    rule,
)

# ---- severity, g/L (WHO 2011) ----
HB_SEVERE_BELOW = 70.0
HB_MODERATE_BELOW = 100.0
# ---- anaemia cut-offs, g/L (WHO 2024 / CDC 1998; BSH 2020) ----
HB_T1_BELOW = 110.0
HB_T2_BELOW = 105.0
HB_T3_WHO_BELOW = 110.0
HB_T3_BSH_BELOW = 105.0
HB_POSTPARTUM_BELOW = 100.0
# BSH 2020: Hb <100 g/L after 34 weeks -> consider IV iron; discuss the place of birth.
LATE_PREGNANCY_WEEKS = 34
# BSH 2020: ferritin below 30 ug/L = iron deficiency in pregnancy.
FERRITIN_IRON_DEFICIENT_BELOW = 30.0


def anaemia_cutoff(facts: PatientFacts) -> tuple[float, str] | None:
    """The Hb (g/L) below which this patient is anaemic, with its source in words."""
    if facts.pregnancy.postpartum:
        if not facts.policy.anaemia_postpartum_enabled:
            return None
        return HB_POSTPARTUM_BELOW, "postpartum <100 g/L (BSH 2020)"
    trimester = facts.trimester
    if trimester == 1:
        return HB_T1_BELOW, "first trimester <110 g/L (WHO 2024)"
    if trimester == 2:
        return HB_T2_BELOW, "second trimester <105 g/L (WHO 2024)"
    if trimester == 3:
        if facts.policy.anaemia_t3_standard == "BSH":
            return HB_T3_BSH_BELOW, "third trimester <105 g/L (BSH 2020)"
        return HB_T3_WHO_BELOW, "third trimester <110 g/L (WHO 2024)"
    # Gestation unknown: the highest (most sensitive) pregnancy cut-off.
    return HB_T1_BELOW, "pregnancy <110 g/L (gestation unknown)"


@rule(
    id="R9",
    title="Anaemia in pregnancy",
    family="anaemia",
    citation="WHO2011",
    needs=(*labs("haemoglobin", "ferritin"), *medications()),
    postpartum=True,
)
def anaemia(facts: PatientFacts) -> Finding | None:
    """Hb below 70 g/L (7.0 g/dL) is critical, 70-99 g/L a warning (WHO 2011), and below the
    trimester cut-off (T1/T3 110, T2 105 g/L; T3 105 g/L under the BSH policy) an info
    card with ferritin if none in 4 weeks. Hb below 100 g/L after 34 weeks adds the BSH
    late-pregnancy note. Postpartum only when the BSH <100 g/L option is enabled."""
    cutoff = anaemia_cutoff(facts)
    hb = facts.fresh("haemoglobin")
    if cutoff is None or hb is None:
        return None
    threshold, standard = cutoff
    if hb.value >= threshold:
        return None
    band: Indicator = "info"
    if hb.value < HB_SEVERE_BELOW:
        band = "critical"
    elif hb.value < HB_MODERATE_BELOW:
        band = "warning"
    indicator = cap_preliminary(band, hb)
    severity = {"critical": "severe", "warning": "moderate", "info": "mild"}[band]
    g_dl = hb.value / 10
    headline = f"Hb {g_dl:.1f} g/dL ({hb.value:.0f} g/L): {severity} anaemia"
    if band == "critical":
        headline += " (WHO <7.0)"
    evidence = [hb.evidence()]
    ferritin = facts.latest("ferritin")
    notes: list[str] = []
    gaps: list[str] = []
    if ferritin is not None:
        evidence.append(ferritin.evidence())
        if not ferritin.stale and ferritin.value < FERRITIN_IRON_DEFICIENT_BELOW:
            notes.append(
                f"Ferritin {ferritin.value_text()} is below 30 ug/L: iron deficiency "
                "(BSH 2020; a ferritin of 30 or more does not rule it out)."
            )
    iron = facts.on("iron")
    evidence.extend(m.evidence() for m in iron)
    if iron:
        notes.append(
            "Already on iron: repeat the FBC 2-3 weeks after starting to check the response "
            "(BSH 2020)."
        )
    ga = facts.ga_days
    if ga is not None and ga > LATE_PREGNANCY_WEEKS * 7 and hb.value < HB_MODERATE_BELOW:
        notes.append(
            "After 34 weeks with Hb <100 g/L, BSH 2020 advises considering IV iron and "
            "discussing the planned place of birth (specialist decision)."
        )
    if facts.pregnancy.pregnant and facts.trimester is None:
        gaps.append(GA_UNKNOWN_GAP)
    action = {
        "critical": "urgent review today",
        "warning": "review today; check ferritin",
        "info": "consider ferritin and iron status",
    }[indicator]
    orders = ("anaemia", "iron-studies") if band != "info" else ("ferritin",)
    return Finding(
        rule_id="R9",
        problem="anaemia",
        indicator=indicator,
        headline=headline,
        action=action,
        rule_text=(
            f"Anaemia: Hb below the cut-off for this stage ({standard}). Severity (WHO "
            "2011): mild 100-109, moderate 70-99 (warning), severe <70 g/L (critical)."
        ),
        evidence=tuple(evidence),
        orders=orders,
        cautions=("Iron preparation and dose per local protocol (no doses here).",),
        notes=tuple(notes),
        gaps=tuple(gaps),
    )
