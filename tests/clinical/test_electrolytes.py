"""R10 hypokalaemia, R11 hypocalcaemia, R12 hypomagnesaemia, R12b MgSO4 toxicity,
R16 hypoparathyroidism without a recent calcium, R17 diuretic with cramps."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.rules.electrolytes import payne_adjusted_calcium
from cds_service.wire import Card
from tests.clinical.builders import (
    ago,
    cards_for,
    condition,
    lab,
    medication,
    one,
    postpartum,
    pregnancy_status,
    pregnant,
    rule_of,
    symptom,
)

Resource = dict[str, Any]


def ranged(resource: Resource, low: float, high: float, unit: str) -> Resource:
    """Attach a laboratory reference range in the result's unit."""
    resource["referenceRange"] = [
        {
            "low": {
                "value": low,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
            "high": {
                "value": high,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        }
    ]
    return resource


def order_codes(card: Card) -> set[str]:
    return {
        coding["code"]
        for suggestion in card.suggestions or []
        for action in suggestion.actions or []
        if action.resource
        for coding in action.resource["code"]["coding"]
    }


def card_for(resources: list[Resource], rule_id: str) -> Card:
    found = [c for c in cards_for(resources) if rule_of(c) == rule_id]
    assert len(found) == 1, [rule_of(c) for c in cards_for(resources)]
    return found[0]


def furosemide(**kw: Any) -> Resource:
    return medication(rxnorm="4603", atc="C03CA01", display="Furosemide 20 mg tablet", **kw)


def hydrochlorothiazide(**kw: Any) -> Resource:
    return medication(rxnorm="5487", atc="C03AA03", display="Hydrochlorothiazide 25 mg", **kw)


def salbutamol(**kw: Any) -> Resource:
    return medication(rxnorm="435", atc="R03AC02", display="Salbutamol inhaler", **kw)


def mgso4(**kw: Any) -> Resource:
    return medication(rxnorm="6585", atc="B05XA05", display="Magnesium sulfate infusion", **kw)


def potassium(value: float, **kw: Any) -> Resource:
    return lab("potassium", value, kw.pop("unit", "mmol/L"), **kw)


# ---- R10 potassium --------------------------------------------------------------------------


def test_potassium_2_4_is_critical() -> None:
    finding = one([*pregnant(30), potassium(2.4)], "R10")
    assert finding is not None and finding.indicator == "critical"
    assert "K 2.4 mmol/L" in finding.headline and "severe hypokalaemia" in finding.headline


def test_potassium_exactly_2_5_is_warning_not_critical() -> None:
    finding = one([*pregnant(30), potassium(2.5)], "R10")
    assert finding is not None and finding.indicator == "warning"


def test_potassium_2_9_is_warning() -> None:
    finding = one([*pregnant(30), potassium(2.9)], "R10")
    assert finding is not None and finding.indicator == "warning"


def test_potassium_exactly_3_0_is_info() -> None:
    finding = one([*pregnant(30), potassium(3.0)], "R10")
    assert finding is not None and finding.indicator == "info"


def test_potassium_3_4_is_info() -> None:
    finding = one([*pregnant(22), potassium(3.4)], "R10")
    assert finding is not None and finding.indicator == "info"


def test_potassium_exactly_3_5_gives_no_card() -> None:
    resources = [*pregnant(24), potassium(3.5)]
    assert one(resources, "R10") is None
    assert cards_for(resources) == []


def test_potassium_in_meq_per_litre_grades_like_mmol() -> None:
    finding = one([*pregnant(30), potassium(2.4, unit="meq/L")], "R10")
    assert finding is not None and finding.indicator == "critical"


def test_stale_potassium_is_never_graded() -> None:
    assert one([*pregnant(30), potassium(2.4, when=ago(days=8))], "R10") is None


def test_preliminary_potassium_2_4_is_capped_at_warning() -> None:
    finding = one([*pregnant(30), potassium(2.4, status="preliminary")], "R10")
    assert finding is not None and finding.indicator == "warning"


def test_entered_in_error_potassium_is_ignored() -> None:
    resources = [*pregnant(30), potassium(2.4, status="entered-in-error")]
    assert one(resources, "R10") is None


def test_newest_potassium_wins_over_an_older_low_value() -> None:
    resources = [*pregnant(30), potassium(2.4, when=ago(days=2)), potassium(4.1, when=ago(hours=2))]
    assert one(resources, "R10") is None


def test_hypokalaemia_flags_diuretic_and_beta2_agonist() -> None:
    resources = [
        *pregnant(30),
        potassium(2.8),
        furosemide(),
        salbutamol(),
    ]
    finding = one(resources, "R10")
    assert finding is not None
    assert "on furosemide" in finding.headline
    assert any("Furosemide" in n and "Salbutamol" in n for n in finding.notes)


def test_critical_hypokalaemia_suggests_ecg_and_magnesium() -> None:
    card = card_for([*pregnant(30), potassium(2.4)], "R10")
    assert card.indicator == "critical"
    assert {"29303009", "2601-3"} <= order_codes(card)
    assert card.override_reasons


def test_postpartum_mild_hypokalaemia_gives_no_card() -> None:
    assert one([*postpartum(5), potassium(3.2)], "R10") is None


def test_postpartum_severe_hypokalaemia_is_critical() -> None:
    finding = one([*postpartum(5), potassium(2.3)], "R10")
    assert finding is not None and finding.indicator == "critical"


def test_not_pregnant_potassium_2_4_gives_no_card() -> None:
    resources = [pregnancy_status("LA26683-5", when=ago(days=1)), potassium(2.4)]
    assert cards_for(resources) == []


# ---- R11 calcium ----------------------------------------------------------------------------


def total_ca(value: float, unit: str = "mmol/L", **kw: Any) -> Resource:
    index = 1 if unit == "mmol/L" else 0
    resource = lab("calcium_total", value, unit, code_index=index, **kw)
    return ranged(resource, 2.20, 2.60, "mmol/L") if unit == "mmol/L" else resource


def albumin(value: float, unit: str = "g/L", **kw: Any) -> Resource:
    return lab("albumin", value, unit, **kw)


def ionised(value: float, *, with_range: bool = True, **kw: Any) -> Resource:
    resource = lab("calcium_ionised", value, "mmol/L", code_index=1, **kw)
    return ranged(resource, 1.15, 1.33, "mmol/L") if with_range else resource


def test_payne_adjusted_calcium_formula() -> None:
    assert payne_adjusted_calcium(2.00, 30) == pytest.approx(2.20)
    assert payne_adjusted_calcium(2.00, 40) == pytest.approx(2.00)
    assert payne_adjusted_calcium(2.30, 45) == pytest.approx(2.20)


def test_symptomatic_hypocalcaemia_is_critical() -> None:
    resources = [
        *pregnant(28),
        total_ca(2.02),
        albumin(40),
        symptom("carpopedal-spasm", when=ago(hours=1)),
    ]
    finding = one(resources, "R11")
    assert finding is not None and finding.indicator == "critical"
    assert (
        "carpopedal spasm" in finding.headline and "symptomatic hypocalcaemia" in finding.headline
    )


@pytest.mark.parametrize(
    "sign", ["chvostek-sign", "trousseau-sign", "tetany", "laryngospasm", "seizure"]
)
def test_any_tetany_sign_with_low_calcium_is_critical(sign: str) -> None:
    resources = [*pregnant(28), total_ca(2.05), albumin(40), symptom(sign, when=ago(hours=1))]
    finding = one(resources, "R11")
    assert finding is not None and finding.indicator == "critical"


def test_adjusted_calcium_below_1_9_is_critical_without_symptoms() -> None:
    finding = one([*pregnant(32), total_ca(1.85), albumin(40)], "R11")
    assert finding is not None and finding.indicator == "critical"
    assert "severe hypocalcaemia" in finding.headline


def test_adjusted_calcium_exactly_1_9_is_warning() -> None:
    finding = one([*pregnant(32), total_ca(1.90), albumin(40)], "R11")
    assert finding is not None and finding.indicator == "warning"


def test_asymptomatic_calcium_below_the_lab_range_is_warning() -> None:
    finding = one([*pregnant(30), total_ca(2.10), albumin(40)], "R11")
    assert finding is not None and finding.indicator == "warning"


def test_calcium_at_the_lab_lower_limit_gives_no_card() -> None:
    assert one([*pregnant(30), total_ca(2.20), albumin(40)], "R11") is None


def test_low_albumin_raises_adjusted_calcium_into_range() -> None:
    # 2.05 + 0.02 x (40 - 30) = 2.25 mmol/L: within 2.20-2.60.
    assert one([*pregnant(30), total_ca(2.05), albumin(30)], "R11") is None


def test_low_total_calcium_with_normal_ionised_gives_no_card() -> None:
    resources = [*pregnant(30), total_ca(2.02), albumin(36), ionised(1.21)]
    assert one(resources, "R11") is None
    assert cards_for(resources) == []


def test_low_ionised_calcium_against_the_lab_range_is_warning() -> None:
    finding = one([*pregnant(30), ionised(1.08)], "R11")
    assert finding is not None and finding.indicator == "warning"
    assert finding.headline.startswith("Ionised Ca 1.08 mmol/L")


def test_low_ionised_calcium_with_carpopedal_spasm_is_critical() -> None:
    resources = [*pregnant(30), ionised(1.02), symptom("carpopedal-spasm", when=ago(hours=2))]
    finding = one(resources, "R11")
    assert finding is not None and finding.indicator == "critical"


def test_ionised_calcium_without_range_uses_the_default_lower_limit_and_says_so() -> None:
    finding = one([*pregnant(30), ionised(1.10, with_range=False)], "R11")
    assert finding is not None and finding.indicator == "warning"
    assert any("reference range" in g for g in finding.gaps)


def test_calcium_mg_dl_with_albumin_g_dl_is_converted() -> None:
    # 7.0 mg/dL + 0.8 x (4.0 - 3.5) = 7.4 mg/dL = 1.85 mmol/L < 1.9.
    resources = [*pregnant(32), total_ca(7.0, "mg/dL"), albumin(3.5, "g/dL")]
    finding = one(resources, "R11")
    assert finding is not None and finding.indicator == "critical"
    assert "1.85 mmol/L" in finding.headline


def test_lab_corrected_calcium_29265_6_is_used() -> None:
    corrected = ranged(lab("calcium_adjusted", 2.05, "mmol/L"), 2.20, 2.60, "mmol/L")
    finding = one([*pregnant(30), corrected], "R11")
    assert finding is not None and finding.indicator == "warning"


def test_total_calcium_without_albumin_is_graded_as_reported_with_a_gap() -> None:
    finding = one([*pregnant(30), total_ca(2.05)], "R11")
    assert finding is not None and finding.indicator == "warning"
    assert any("albumin" in g for g in finding.gaps)


def test_tetany_sign_with_normal_calcium_gives_no_hypocalcaemia_card() -> None:
    resources = [*pregnant(30), total_ca(2.35), albumin(38), symptom("carpopedal-spasm")]
    assert one(resources, "R11") is None


def test_stale_low_calcium_is_never_graded() -> None:
    resources = [*pregnant(30), total_ca(1.7, when=ago(days=10)), albumin(40, when=ago(days=10))]
    assert one(resources, "R11") is None


def test_critical_hypocalcaemia_card_suggests_pth_and_ecg() -> None:
    resources = [*pregnant(28), total_ca(2.02), albumin(40), symptom("carpopedal-spasm")]
    card = card_for(resources, "R11")
    assert card.indicator == "critical"
    assert {"2731-8", "29303009", "1995-0"} <= order_codes(card)


# ---- R12 magnesium --------------------------------------------------------------------------


def mg(value: float, unit: str = "mmol/L", **kw: Any) -> Resource:
    return lab("magnesium", value, unit, code_index=1 if unit != "mg/dL" else 0, **kw)


def test_magnesium_0_69_is_warning() -> None:
    finding = one([*pregnant(26), mg(0.69)], "R12")
    assert finding is not None and finding.indicator == "warning"


def test_magnesium_exactly_0_7_gives_no_card() -> None:
    assert one([*pregnant(26), mg(0.7)], "R12") is None


def test_magnesium_exactly_0_4_without_symptoms_is_warning() -> None:
    finding = one([*pregnant(26), mg(0.4)], "R12")
    assert finding is not None and finding.indicator == "warning"


def test_magnesium_0_39_is_critical() -> None:
    finding = one([*pregnant(26), mg(0.39)], "R12")
    assert finding is not None and finding.indicator == "critical"


def test_magnesium_0_45_with_tetany_is_critical() -> None:
    finding = one([*pregnant(26), mg(0.45), symptom("tetany", when=ago(hours=3))], "R12")
    assert finding is not None and finding.indicator == "critical"


def test_magnesium_0_45_with_arrhythmia_is_critical() -> None:
    finding = one([*pregnant(26), mg(0.45), condition("arrhythmia", onset=ago(hours=5))], "R12")
    assert finding is not None and finding.indicator == "critical"


def test_magnesium_exactly_0_5_with_tetany_is_warning() -> None:
    finding = one([*pregnant(26), mg(0.5), symptom("tetany", when=ago(hours=3))], "R12")
    assert finding is not None and finding.indicator == "warning"


def test_magnesium_in_meq_per_litre_is_halved() -> None:
    critical = one([*pregnant(22), mg(0.7, "meq/L")], "R12")
    assert critical is not None and critical.indicator == "critical"
    assert "0.35 mmol/L" in critical.headline
    assert one([*pregnant(22), mg(1.6, "meq/L")], "R12") is None


def test_magnesium_in_mg_dl_is_converted() -> None:
    low = one([*pregnant(22), mg(1.5, "mg/dL")], "R12")  # 0.62 mmol/L
    assert low is not None and low.indicator == "warning"
    assert one([*pregnant(22), mg(1.8, "mg/dL")], "R12") is None  # 0.74 mmol/L


# ---- R12b magnesium sulfate toxicity --------------------------------------------------------


def on_mgso4(route: str = "iv") -> Resource:
    return mgso4(route=route, start=ago(hours=6))


def test_magnesium_toxicity_on_mgso4_is_critical() -> None:
    finding = one([*pregnant(34), on_mgso4(), mg(5.1)], "R12b")
    assert finding is not None and finding.indicator == "critical"
    assert "Mg 5.1 mmol/L" in finding.headline


def test_magnesium_exactly_3_5_on_mgso4_gives_no_toxicity_card() -> None:
    assert one([*pregnant(34), on_mgso4(), mg(3.5)], "R12b") is None


def test_magnesium_3_6_on_mgso4_is_critical() -> None:
    finding = one([*pregnant(34), on_mgso4(), mg(3.6)], "R12b")
    assert finding is not None and finding.indicator == "critical"


def test_absent_reflexes_on_mgso4_is_critical() -> None:
    resources = [*pregnant(34), on_mgso4(), symptom("reflexes-absent", when=ago(hours=1))]
    finding = one(resources, "R12b")
    assert finding is not None and finding.indicator == "critical"


def test_respiratory_rate_11_on_mgso4_is_critical() -> None:
    resources = [*pregnant(34), on_mgso4(), lab("respiratory_rate", 11, "/min")]
    finding = one(resources, "R12b")
    assert finding is not None and finding.indicator == "critical"


def test_respiratory_rate_exactly_12_on_mgso4_gives_no_card() -> None:
    assert one([*pregnant(34), on_mgso4(), lab("respiratory_rate", 12, "/min")], "R12b") is None


def test_oliguria_on_mgso4_is_critical() -> None:
    resources = [*pregnant(34), on_mgso4(), symptom("oliguria", when=ago(hours=2))]
    finding = one(resources, "R12b")
    assert finding is not None and finding.indicator == "critical"


def test_high_magnesium_without_mgso4_gives_no_toxicity_card() -> None:
    assert one([*pregnant(34), mg(5.1)], "R12b") is None


def test_oral_magnesium_sulfate_is_not_an_infusion() -> None:
    oral = medication(rxnorm="6585", display="Magnesium sulfate oral", route="oral")
    assert one([*pregnant(34), oral, mg(5.1)], "R12b") is None


def test_magnesium_level_older_than_24_hours_does_not_describe_the_infusion() -> None:
    assert one([*pregnant(34), on_mgso4(), mg(5.1, when=ago(hours=30))], "R12b") is None


def test_preliminary_high_magnesium_alone_is_capped_at_warning() -> None:
    finding = one([*pregnant(34), on_mgso4(), mg(5.1, status="preliminary")], "R12b")
    assert finding is not None and finding.indicator == "warning"


def test_magnesium_toxicity_postpartum_day1_is_critical() -> None:
    finding = one([*postpartum(1), on_mgso4(), mg(4.2)], "R12b")
    assert finding is not None and finding.indicator == "critical"


# ---- R16 hypoparathyroidism -----------------------------------------------------------------


def test_hypoparathyroidism_without_calcium_in_4_weeks_is_warning() -> None:
    resources = [*pregnant(18), condition("hypoparathyroidism", onset=ago(days=2000))]
    finding = one(resources, "R16")
    assert finding is not None and finding.indicator == "warning"
    card = card_for(resources, "R16")
    assert {"2731-8", "1995-0", "2000-8", "1751-7", "62292-8"} <= order_codes(card)


def test_hypoparathyroidism_with_calcium_27_days_ago_gives_no_card() -> None:
    resources = [
        *pregnant(18),
        condition("hypoparathyroidism", onset=ago(days=2000)),
        total_ca(2.3, when=ago(days=27)),
    ]
    assert one(resources, "R16") is None


def test_hypoparathyroidism_with_calcium_29_days_ago_is_warning() -> None:
    resources = [
        *pregnant(18),
        condition("hypoparathyroidism", onset=ago(days=2000)),
        total_ca(2.3, when=ago(days=29)),
    ]
    finding = one(resources, "R16")
    assert finding is not None and finding.indicator == "warning"
    assert any("older than 4 weeks" in g for g in finding.gaps)


def test_known_hypocalcaemia_condition_counts_like_hypoparathyroidism() -> None:
    finding = one([*pregnant(22), condition("hypocalcaemia", onset=ago(days=400))], "R16")
    assert finding is not None


def test_hypoparathyroidism_postpartum_gives_no_card() -> None:
    resources = [*postpartum(10), condition("hypoparathyroidism", onset=ago(days=2000))]
    assert one(resources, "R16") is None


def test_resolved_hypoparathyroidism_gives_no_card() -> None:
    resources = [
        *pregnant(18),
        condition("hypoparathyroidism", onset=ago(days=2000), clinical="resolved"),
    ]
    assert one(resources, "R16") is None


# ---- R17 diuretic + cramps ------------------------------------------------------------------


def test_loop_diuretic_with_leg_cramps_is_info() -> None:
    resources = [*pregnant(27), furosemide(), symptom("leg-cramp", when=ago(days=3))]
    finding = one(resources, "R17")
    assert finding is not None and finding.indicator == "info"
    assert "furosemide" in finding.headline


def test_thiazide_with_cramp_finding_is_info() -> None:
    resources = [*pregnant(27), hydrochlorothiazide(), symptom("cramp", when=ago(days=1))]
    assert one(resources, "R17") is not None


def test_thiazide_like_diuretic_by_atc_class_counts() -> None:
    indapamide = medication(atc="C03BA11", display="Indapamide 2.5 mg tablet")
    resources = [*pregnant(27), indapamide, symptom("leg-cramp", when=ago(days=1))]
    assert one(resources, "R17") is not None


def test_diuretic_without_cramps_gives_no_r17() -> None:
    assert one([*pregnant(27), furosemide()], "R17") is None


def test_cramps_without_diuretic_gives_no_r17() -> None:
    assert one([*pregnant(27), symptom("leg-cramp", when=ago(days=1))], "R17") is None


def test_cramps_reported_29_days_ago_are_not_current() -> None:
    resources = [*pregnant(27), furosemide(), symptom("leg-cramp", when=ago(days=29))]
    assert one(resources, "R17") is None


def test_stopped_diuretic_gives_no_r17() -> None:
    stopped = furosemide(status="stopped")
    assert one([*pregnant(27), stopped, symptom("leg-cramp", when=ago(days=1))], "R17") is None
