"""R13 contractions with pain/bleeding < 37 weeks (critical); R13b (warning)."""

from __future__ import annotations

import pytest

from tests.clinical.builders import cards_for, lab, one, pregnant, rule_of, symptom


def test_contractions_6_per_hour_with_back_pain_at_31_weeks_is_critical() -> None:
    resources = [
        *pregnant(31),
        lab("contraction_frequency", 6, "/h"),
        symptom("back-pain"),
        symptom("vaginal-discharge"),
    ]
    finding = one(resources, "R13")
    assert finding is not None and finding.indicator == "critical"
    assert "preterm labour" in finding.action


@pytest.mark.parametrize(("per_hour", "fires"), [(5, True), (4, False)])
def test_contraction_frequency_boundary_more_than_4_per_hour(per_hour: float, fires: bool) -> None:
    resources = [
        *pregnant(31),
        lab("contraction_frequency", per_hour, "/h"),
        symptom("abdominal-pain"),
    ]
    assert (one(resources, "R13") is not None) is fires


def test_contractions_per_20_minutes_convert() -> None:
    resources = [
        *pregnant(31),
        lab("contraction_frequency", 4, "/20.min"),
        symptom("vaginal-bleeding"),
    ]
    assert one(resources, "R13") is not None


@pytest.mark.parametrize(("weeks", "days", "fires"), [(36, 6, True), (37, 0, False)])
def test_term_boundary_37_weeks(weeks: int, days: int, fires: bool) -> None:
    resources = [
        *pregnant(weeks, days),
        lab("contraction_frequency", 8, "/h"),
        symptom("abdominal-pain"),
    ]
    assert (one(resources, "R13") is not None) is fires


def test_before_24_weeks_worded_as_miscarriage_risk_same_urgency() -> None:
    resources = [*pregnant(22), symptom("regular-contractions"), symptom("vaginal-bleeding")]
    finding = one(resources, "R13")
    assert finding is not None and finding.indicator == "critical"
    assert "miscarriage" in finding.action


def test_contractions_without_pain_is_r13b_warning() -> None:
    finding = one([*pregnant(30), lab("contraction_frequency", 6, "/h")], "R13b")
    assert finding is not None and finding.indicator == "warning"
    assert one([*pregnant(30), lab("contraction_frequency", 6, "/h")], "R13") is None


def test_pain_without_contraction_data_is_r13b() -> None:
    assert one([*pregnant(30), symptom("abdominal-pain")], "R13b") is not None


def test_pain_with_normal_contraction_count_is_not_r13b() -> None:
    assert (
        one(
            [*pregnant(30), symptom("abdominal-pain"), lab("contraction_frequency", 1, "/h")],
            "R13b",
        )
        is None
    )


def test_preterm_cards_merge() -> None:
    cards = cards_for([*pregnant(31), lab("contraction_frequency", 6, "/h"), symptom("back-pain")])
    assert [rule_of(c) for c in cards] == ["R13"]
