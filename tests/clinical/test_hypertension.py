"""R2 severe hypertension, R3 pre-eclampsia criteria, R3b unquantified proteinuria,
R4 pre-eclampsia symptoms without a BP."""

from __future__ import annotations

import pytest

from tests.clinical.builders import (
    ago,
    bp,
    cards_for,
    condition,
    delivery,
    lab,
    medication,
    one,
    pregnancy_status,
    pregnant,
    rule_of,
    symptom,
)

# ---- R2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sbp", "dbp", "fires"),
    [(160, 100, True), (159, 109, False), (140, 110, True), (159, 110, True)],
)
def test_severe_bp_boundary(sbp: int, dbp: int, fires: bool) -> None:
    finding = one([*pregnant(34), bp(sbp, dbp, when=ago(hours=1))], "R2")
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.indicator == "critical"


def test_severe_bp_postpartum_day10_is_critical() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=10)),
        bp(170, 112),
    ]
    finding = one(resources, "R2")
    assert finding is not None and finding.indicator == "critical"


def test_severe_bp_at_any_gestation_is_critical() -> None:
    finding = one([*pregnant(12), bp(165, 100)], "R2")
    assert finding is not None and finding.indicator == "critical"


def test_severe_bp_older_than_24_hours_does_not_fire() -> None:
    assert one([*pregnant(34), bp(170, 115, when=ago(hours=25))], "R2") is None


def test_preliminary_severe_bp_is_only_a_warning() -> None:
    finding = one([*pregnant(34), bp(170, 115, status="preliminary")], "R2")
    assert finding is not None and finding.indicator == "warning"


def test_severe_bp_summary_has_value_unit_and_gestation() -> None:
    cards = cards_for([*pregnant(34), bp(165, 112)])
    assert cards[0].summary.startswith("Severe BP 165/112 mmHg at 34+0w")
    assert len(cards[0].summary) < 140


def test_severe_bp_suggests_plgf_only_20_to_36_weeks() -> None:
    in_window = one([*pregnant(34), bp(165, 112)], "R2")
    late = one([*pregnant(37), bp(165, 112)], "R2")
    assert "plgf" in in_window.orders
    assert "plgf" not in late.orders


# ---- R3 -----------------------------------------------------------------------------------


def test_bp_with_proteinuria_meets_nice_criteria_warning() -> None:
    finding = one([*pregnant(28), bp(150, 95), lab("upcr", 45, "mg/mmol")], "R3")
    assert finding is not None and finding.indicator == "warning"
    assert "uPCR 45 mg/mmol" in finding.headline


@pytest.mark.parametrize(("upcr", "fires"), [(30, True), (29.9, False)])
def test_upcr_boundary_30(upcr: float, fires: bool) -> None:
    assert (
        one([*pregnant(28), bp(150, 95), lab("upcr", upcr, "mg/mmol")], "R3") is not None
    ) is fires


def test_upcr_in_mg_per_mg_converts() -> None:
    # ACOG 0.3 mg/mg ~ 34 mg/mmol.
    assert one([*pregnant(28), bp(150, 95), lab("upcr", 0.3, "mg/mg")], "R3") is not None


@pytest.mark.parametrize(
    ("sbp", "dbp", "fires"), [(140, 85, True), (139, 89, False), (130, 90, True)]
)
def test_hypertension_boundary_140_90(sbp: int, dbp: int, fires: bool) -> None:
    assert (
        one([*pregnant(28), bp(sbp, dbp), lab("upcr", 45, "mg/mmol")], "R3") is not None
    ) is fires


def test_before_20_weeks_r3_does_not_fire() -> None:
    assert one([*pregnant(19, 6), bp(150, 95), lab("upcr", 45, "mg/mmol")], "R3") is None
    assert one([*pregnant(20, 0), bp(150, 95), lab("upcr", 45, "mg/mmol")], "R3") is not None


@pytest.mark.parametrize(
    ("resource", "severe"),
    [
        (lambda: lab("platelets", 95, "10*9/L"), True),
        (lambda: lab("platelets", 120, "10*9/L"), False),
        (lambda: lab("platelets", 100, "10*9/L"), False),
        (lambda: lab("creatinine", 98, "umol/L"), True),
        (lambda: lab("creatinine", 90, "umol/L"), False),
        (lambda: lab("creatinine", 1.2, "mg/dL"), True),
        (lambda: lab("alt", 80, "U/L"), True),
        (lambda: lab("alt", 41, "U/L"), False),
        (lambda: symptom("epigastric-pain"), True),
        (lambda: symptom("visual-disturbance"), True),
        (lambda: condition("hellp"), True),
    ],
)
def test_features_and_severe_features(resource: object, severe: bool) -> None:
    finding = one([*pregnant(32), bp(150, 96), resource()], "R3")  # type: ignore[operator]
    assert finding is not None
    assert finding.indicator == ("critical" if severe else "warning")


def test_pre_eclampsia_with_severe_features_is_critical() -> None:
    finding = one(
        [*pregnant(32), bp(150, 96), lab("upcr", 60, "mg/mmol"), lab("platelets", 88, "10*9/L")],
        "R3",
    )
    assert finding is not None and finding.indicator == "critical"
    assert "coagulation" in finding.orders


def test_normal_bp_on_antihypertensive_does_not_suppress_pre_eclampsia() -> None:
    resources = [
        *pregnant(30),
        bp(128, 82),
        medication("6185", "C07AG01", display="labetalol"),
        lab("upcr", 50, "mg/mmol"),
    ]
    finding = one(resources, "R3")
    assert finding is not None and "labetalol" in finding.headline


def test_dipstick_2_plus_counts_as_proteinuria() -> None:
    dip = lab("urine_protein_dipstick", 1.0, "g/L")
    assert one([*pregnant(30), bp(145, 92), dip], "R3") is not None


def test_preliminary_platelets_alone_cannot_make_it_critical() -> None:
    resources = [
        *pregnant(30),
        bp(150, 95),
        lab("upcr", 40, "mg/mmol"),
        lab("platelets", 80, "10*9/L", status="preliminary"),
    ]
    finding = one(resources, "R3")
    assert finding is not None and finding.indicator == "warning"


def test_hypertension_without_features_is_not_r3() -> None:
    assert one([*pregnant(30), bp(145, 92), lab("upcr", 10, "mg/mmol")], "R3") is None


def test_stale_proteinuria_does_not_count() -> None:
    assert (
        one([*pregnant(30), bp(145, 92), lab("upcr", 60, "mg/mmol", when=ago(days=8))], "R3")
        is None
    )


# ---- R3b ----------------------------------------------------------------------------------


def test_hypertension_without_urine_result_asks_to_quantify() -> None:
    finding = one([*pregnant(30), bp(142, 92)], "R3b")
    assert finding is not None and finding.indicator == "warning"
    assert finding.orders == ("urine-protein-or-acr",)


def test_dipstick_1_plus_without_upcr_asks_to_quantify() -> None:
    dip = lab("urine_protein_dipstick", 0.3, "g/L")
    finding = one([*pregnant(30), bp(142, 92), dip], "R3b")
    assert finding is not None and "1+" in finding.headline


def test_negative_dipstick_within_7_days_is_a_result() -> None:
    dip = lab("urine_protein_dipstick", 0.05, "g/L")
    assert one([*pregnant(30), bp(142, 92), dip], "R3b") is None


def test_quantified_proteinuria_silences_r3b() -> None:
    assert one([*pregnant(30), bp(142, 92), lab("upcr", 12, "mg/mmol")], "R3b") is None


def test_r3b_alternatives_are_at_most_one() -> None:
    cards = cards_for([*pregnant(30), bp(142, 92)])
    card = next(c for c in cards if rule_of(c) == "R3b")
    assert card.selection_behavior == "at-most-one"
    codes = [s.actions[0].resource["code"]["coding"][0]["code"] for s in card.suggestions or []]
    assert codes == ["2890-2", "9318-7"]


def test_r3b_needs_20_weeks() -> None:
    assert one([*pregnant(16), bp(142, 92)], "R3b") is None


# ---- R4 -----------------------------------------------------------------------------------


def test_headache_without_bp_today_is_warning() -> None:
    finding = one([*pregnant(32), symptom("headache", when=ago(hours=2))], "R4")
    assert finding is not None and finding.indicator == "warning"


def test_headache_with_bp_in_last_24h_is_not_r4() -> None:
    assert one([*pregnant(32), symptom("headache"), bp(118, 74, when=ago(hours=23))], "R4") is None


def test_headache_with_bp_older_than_24h_is_r4() -> None:
    assert (
        one([*pregnant(32), symptom("headache"), bp(118, 74, when=ago(hours=25))], "R4") is not None
    )


def test_headache_before_20_weeks_is_not_r4() -> None:
    assert one([*pregnant(18), symptom("headache")], "R4") is None


def test_sudden_oedema_postpartum_without_bp_is_r4() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=7)),
        symptom("oedema"),
    ]
    assert one(resources, "R4") is not None


def test_hypertension_findings_merge_into_one_card() -> None:
    cards = cards_for([*pregnant(32), bp(150, 95), lab("upcr", 45, "mg/mmol"), symptom("headache")])
    pe_cards = [c for c in cards if rule_of(c) in {"R2", "R3", "R3b", "R4"}]
    assert len(pe_cards) == 1
