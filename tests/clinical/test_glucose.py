"""R8 hypoglycaemia (ADA levels; insulin lowers the card threshold) and R22 IADPSG GDM /
overt-diabetes criteria."""

from __future__ import annotations

from typing import Any

from tests.clinical.builders import (
    ago,
    cards_for,
    condition,
    lab,
    medication,
    one,
    postpartum,
    pregnant,
    rule_of,
    symptom,
)

Resource = dict[str, Any]


def insulin() -> Resource:
    return medication(rxnorm="311034", atc="A10AB01", display="Insulin regular human")


def glucose(value: float, unit: str = "mmol/L", **kw: Any) -> Resource:
    return lab("glucose", value, unit, code_index=1 if unit == "mmol/L" else 0, **kw)


def capillary(value: float, **kw: Any) -> Resource:
    return lab("glucose", value, "mmol/L", code_index=5, **kw)


def fasting(value: float, unit: str = "mmol/L", **kw: Any) -> Resource:
    return lab("glucose_fasting", value, unit, code_index=1 if unit == "mmol/L" else 0, **kw)


# ---- R8 hypoglycaemia -----------------------------------------------------------------------


def test_glucose_2_8_with_confusion_is_critical() -> None:
    resources = [*pregnant(30), capillary(2.8, when=ago(hours=1)), symptom("confusion")]
    finding = one(resources, "R8")
    assert finding is not None and finding.indicator == "critical"
    assert "2.8 mmol/L (50 mg/dL)" in finding.headline and "confusion" in finding.headline


def test_glucose_2_9_alone_is_critical() -> None:
    finding = one([*pregnant(30), glucose(2.9)], "R8")
    assert finding is not None and finding.indicator == "critical"


def test_glucose_exactly_3_0_is_warning() -> None:
    finding = one([*pregnant(30), glucose(3.0)], "R8")
    assert finding is not None and finding.indicator == "warning"


def test_glucose_3_8_is_warning() -> None:
    finding = one([*pregnant(30), glucose(3.8)], "R8")
    assert finding is not None and finding.indicator == "warning"


def test_glucose_exactly_3_9_gives_no_card() -> None:
    resources = [*pregnant(30), glucose(3.9)]
    assert one(resources, "R8") is None
    assert cards_for(resources) == []


def test_level1_hypoglycaemia_with_confusion_is_critical() -> None:
    finding = one([*pregnant(29), glucose(3.4), symptom("confusion")], "R8")
    assert finding is not None and finding.indicator == "critical"


def test_hypoglycaemia_with_seizure_is_critical() -> None:
    resources = [*pregnant(29), glucose(3.5), symptom("seizure", when=ago(hours=2))]
    finding = one(resources, "R8")
    assert finding is not None and finding.indicator == "critical"


def test_hypoglycaemia_with_loss_of_consciousness_is_critical() -> None:
    resources = [*pregnant(29), glucose(3.6), symptom("loss-of-consciousness", when=ago(hours=1))]
    finding = one(resources, "R8")
    assert finding is not None and finding.indicator == "critical"


def test_confusion_two_days_before_the_glucose_does_not_make_it_critical() -> None:
    resources = [*pregnant(29), glucose(3.5), symptom("confusion", when=ago(days=2))]
    finding = one(resources, "R8")
    assert finding is not None and finding.indicator == "warning"


def test_confusion_with_normal_glucose_gives_no_r8() -> None:
    assert one([*pregnant(29), glucose(5.0), symptom("confusion")], "R8") is None


def test_glucose_mg_dl_65_is_warning() -> None:
    finding = one([*pregnant(31), glucose(65, "mg/dL")], "R8")
    assert finding is not None and finding.indicator == "warning"
    assert "3.6 mmol/L (65 mg/dL)" in finding.headline


def test_glucose_mg_dl_50_is_critical() -> None:
    finding = one([*pregnant(31), glucose(50, "mg/dL")], "R8")
    assert finding is not None and finding.indicator == "critical"


def test_glucose_mg_dl_88_gives_no_card() -> None:
    assert cards_for([*pregnant(31), glucose(88, "mg/dL")]) == []


def test_glucose_mass_code_with_a_molar_looking_value_is_not_graded() -> None:
    # 2345-7 (mg/dL) with value 3.1: probably mmol/L mis-coded (clinical.md 1.4): not graded.
    assert one([*pregnant(31), glucose(3.1, "mg/dL")], "R8") is None


def test_on_insulin_glucose_3_9_is_warning() -> None:
    finding = one([*pregnant(30), glucose(3.9), insulin()], "R8")
    assert finding is not None and finding.indicator == "warning"
    assert any("insulin" in n.lower() for n in finding.notes)


def test_on_insulin_glucose_exactly_4_0_gives_no_card() -> None:
    assert one([*pregnant(30), glucose(4.0), insulin()], "R8") is None


def test_stale_low_glucose_is_not_graded() -> None:
    assert one([*pregnant(30), glucose(2.5, when=ago(days=8))], "R8") is None


def test_preliminary_glucose_2_5_is_capped_at_warning() -> None:
    finding = one([*pregnant(30), glucose(2.5, status="preliminary")], "R8")
    assert finding is not None and finding.indicator == "warning"


def test_newest_glucose_wins() -> None:
    resources = [*pregnant(30), glucose(2.6, when=ago(hours=3)), glucose(5.4, when=ago(hours=1))]
    assert one(resources, "R8") is None


def test_hypoglycaemia_postpartum_day_10_is_critical() -> None:
    finding = one([*postpartum(10), glucose(2.7)], "R8")
    assert finding is not None and finding.indicator == "critical"


def test_hypoglycaemia_card_suggests_a_repeat_glucose_and_overrides() -> None:
    cards = [
        c for c in cards_for([*pregnant(30), glucose(3.5, when=ago(days=2))]) if rule_of(c) == "R8"
    ]
    assert len(cards) == 1 and cards[0].indicator == "warning"
    codes = {
        coding["code"]
        for s in cards[0].suggestions or []
        for a in s.actions or []
        if a.resource
        for coding in a.resource["code"]["coding"]
    }
    assert "2345-7" in codes
    assert cards[0].override_reasons


# ---- R22 GDM / overt diabetes ---------------------------------------------------------------


def ogtt_1h(value: float, **kw: Any) -> Resource:
    return lab("glucose_ogtt_1h", value, "mg/dL", **kw)


def ogtt_2h(value: float, unit: str = "mmol/L", **kw: Any) -> Resource:
    return lab("glucose_ogtt_2h", value, unit, code_index=1 if unit == "mmol/L" else 0, **kw)


def test_ogtt_2h_9_1_meets_iadpsg_gdm_criteria_info() -> None:
    resources = [*pregnant(26), fasting(4.6, when=ago(days=3)), ogtt_2h(9.1, when=ago(days=3))]
    finding = one(resources, "R22")
    assert finding is not None and finding.indicator == "info"
    assert "2h glucose 9.1 mmol/L meets IADPSG GDM criteria" in finding.headline


def test_ogtt_2h_exactly_8_5_meets_the_criteria() -> None:
    assert one([*pregnant(26), ogtt_2h(8.5, when=ago(days=3))], "R22") is not None


def test_ogtt_2h_8_4_does_not_meet_the_criteria() -> None:
    assert one([*pregnant(26), ogtt_2h(8.4, when=ago(days=3))], "R22") is None


def test_ogtt_1h_180_mg_dl_meets_the_criteria() -> None:
    finding = one([*pregnant(26), ogtt_1h(180, when=ago(days=3))], "R22")
    assert finding is not None and finding.indicator == "info"


def test_ogtt_1h_179_mg_dl_does_not_meet_the_criteria() -> None:
    assert one([*pregnant(26), ogtt_1h(179, when=ago(days=3))], "R22") is None


def test_fasting_glucose_exactly_5_1_meets_the_gdm_criteria() -> None:
    finding = one([*pregnant(26), fasting(5.1, when=ago(days=3))], "R22")
    assert finding is not None and finding.indicator == "info"


def test_fasting_glucose_5_0_does_not_meet_the_criteria() -> None:
    assert one([*pregnant(26), fasting(5.0, when=ago(days=3))], "R22") is None


def test_gdm_result_from_five_weeks_ago_still_counts_in_this_pregnancy() -> None:
    assert one([*pregnant(30), ogtt_2h(9.0, when=ago(days=35))], "R22") is not None


def test_known_gdm_gives_no_repeat_gdm_card() -> None:
    resources = [
        *pregnant(30),
        ogtt_2h(9.0, when=ago(days=20)),
        condition("gdm", onset=ago(days=18)),
    ]
    assert one(resources, "R22") is None


def test_fasting_glucose_7_2_is_possible_overt_diabetes_warning() -> None:
    finding = one([*pregnant(12), fasting(7.2, when=ago(days=1))], "R22")
    assert finding is not None and finding.indicator == "warning"
    assert "possible overt diabetes" in finding.headline


def test_fasting_glucose_exactly_7_0_is_warning_and_6_9_is_gdm_info() -> None:
    at_seven = one([*pregnant(12), fasting(7.0, when=ago(days=1))], "R22")
    assert at_seven is not None and at_seven.indicator == "warning"
    below = one([*pregnant(12), fasting(6.9, when=ago(days=1))], "R22")
    assert below is not None and below.indicator == "info"


def test_fasting_glucose_126_mg_dl_is_warning() -> None:
    finding = one([*pregnant(12), fasting(126, "mg/dL", when=ago(days=1))], "R22")
    assert finding is not None and finding.indicator == "warning"


def test_hba1c_6_5_percent_is_possible_overt_diabetes_warning() -> None:
    finding = one([*pregnant(10), lab("hba1c", 6.5, "%", when=ago(days=4))], "R22")
    assert finding is not None and finding.indicator == "warning"


def test_hba1c_48_mmol_per_mol_is_possible_overt_diabetes_warning() -> None:
    finding = one([*pregnant(10), lab("hba1c", 48, "mmol/mol", when=ago(days=4))], "R22")
    assert finding is not None and finding.indicator == "warning"


def test_hba1c_6_4_percent_gives_no_card() -> None:
    assert one([*pregnant(10), lab("hba1c", 6.4, "%", when=ago(days=4))], "R22") is None


def test_overt_diabetes_still_flagged_when_gdm_is_recorded() -> None:
    resources = [*pregnant(20), fasting(7.4, when=ago(days=1)), condition("gdm", onset=ago(days=5))]
    finding = one(resources, "R22")
    assert finding is not None and finding.indicator == "warning"


def test_gdm_criteria_postpartum_give_no_card() -> None:
    assert one([*postpartum(10), ogtt_2h(9.5, when=ago(days=1))], "R22") is None
