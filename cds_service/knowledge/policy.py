"""Thresholds that are *policy*, not physiology: configurable, with safe defaults.

Defaults come from clinical.md (1.2 trimester convention, 1.3 staleness windows, L1
anaemia cut-offs). A deployment may pass its own :class:`Policy` to the engine; the
rules read it from ``PatientFacts.policy`` and never hard-code these numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

_DEFAULT_STALENESS: Mapping[str, int] = MappingProxyType(
    {
        # clinical.md 1.3: electrolytes, glucose, creatinine 7 days for an acute card.
        "electrolyte": 7,
        "glucose": 7,
        "renal": 7,
        "liver": 7,
        "coagulation": 7,
        "urine": 7,
        # Hb/ferritin 4 weeks (BSH 2020).
        "haematology": 28,
        "iron": 28,
        # Vitamin D / PTH 12 weeks.
        "vitamin-d": 84,
        "pth": 84,
        # Not in clinical.md: thyroid and HbA1c change slowly in pregnancy care terms.
        "thyroid": 84,
        "hba1c": 84,
        # Vital signs and bedside findings describe "now": 1 day.
        "vital": 1,
        "bedside": 1,
        "other": 28,
    }
)


@dataclass(frozen=True)
class Policy:
    """Deployment policy. Every field has the safe default from clinical.md."""

    # clinical.md 1.2: T1 = 0+0-13+6, T2 = 14+0-27+6, T3 >= 28+0 (convention, unverified).
    trimester2_start_days: int = 14 * 7
    trimester3_start_days: int = 28 * 7
    # clinical.md 1.1 item 3: the postpartum window in which (P) rules stay active.
    postpartum_window_days: int = 42
    # A "Pregnant" status or undated-episode evidence older than this no longer proves a
    # current pregnancy (42 weeks: the longest a pregnancy runs).
    pregnancy_evidence_max_age_days: int = 42 * 7
    # An EDD this many days in the past without a recorded delivery is read as a
    # continuing (post-dates) pregnancy; later it is read as "recently delivered".
    post_dates_days: int = 14
    # clinical.md 1.3: staleness per analyte group (days).
    staleness_days: Mapping[str, int] = field(default_factory=lambda: _DEFAULT_STALENESS)
    # After starting iron, Hb is due 2-3 weeks later (BSH 2020): Hb older than this is stale.
    hb_on_iron_staleness_days: int = 21
    # How long an acute symptom (Observation or Condition onset) counts as "current".
    acute_symptom_days: int = 14
    # How far apart separate systolic/diastolic Observations may be and still pair (A.2).
    bp_pairing_minutes: int = 5
    # Anaemia cut-off for the third trimester: "WHO" (<110 g/L, WHO 2024/CDC 1998) or
    # "BSH" (<105 g/L, UK BSH 2020). clinical.md L1.
    anaemia_t3_standard: Literal["WHO", "BSH"] = "WHO"
    # R9 postpartum anaemia (<100 g/L, BSH) is optional; default off (clinical.md B R9).
    anaemia_postpartum_enabled: bool = False
    # R20: send the benign-cramps info card (True) or stay silent (False).
    benign_cramps_card: bool = True
    # Suggestion freshness for acute problem cards: a result newer than this counts as done.
    acute_order_freshness_hours: int = 24
    # Age range in which an *unknown* pregnancy status keeps critical seizure/BP cards
    # (clinical.md 1.1 item 5: "a woman of reproductive age"); age unknown keeps them too.
    reproductive_age_min: int = 10
    reproductive_age_max: int = 55

    def staleness_for(self, freshness: str) -> int:
        return self.staleness_days.get(freshness, self.staleness_days.get("other", 28))

    def trimester(self, gestational_age_days: int) -> int:
        if gestational_age_days < self.trimester2_start_days:
            return 1
        if gestational_age_days < self.trimester3_start_days:
            return 2
        return 3


DEFAULT_POLICY = Policy()
