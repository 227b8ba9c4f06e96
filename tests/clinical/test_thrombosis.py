"""R5 possible DVT (LEFt never suppresses), R6 possible PE (critical; PE outranks DVT)."""

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

# ---- R5 -----------------------------------------------------------------------------------


def test_left_leg_swelling_first_trimester_scores_left_2() -> None:
    finding = one([*pregnant(11), symptom("leg-swelling", side="left")], "R5")
    assert finding is not None and finding.indicator == "warning"
    assert "LEFt 2/3" in finding.headline


def test_left_3_of_3() -> None:
    resources = [
        *pregnant(11),
        symptom("leg-swelling", side="left"),
        lab("calf_circumference_difference", 2.5, "cm"),
    ]
    finding = one(resources, "R5")
    assert finding is not None and "LEFt 3/3" in finding.headline


def test_dvt_with_left_zero_is_still_a_warning_never_info() -> None:
    finding = one([*pregnant(30), symptom("leg-pain", side="right")], "R5")
    assert finding is not None and finding.indicator == "warning"
    assert "LEFt 0/3" in finding.headline
    assert "duplex" in finding.action


def test_d_dimer_never_downgrades_dvt() -> None:
    resources = [*pregnant(30), symptom("leg-swelling", side="right"), lab("d_dimer", 0.2, "mg/L")]
    finding = one(resources, "R5")
    assert finding is not None and finding.indicator == "warning"
    assert any("D-dimer" in n and "not used" in n for n in finding.notes)


@pytest.mark.parametrize(("difference", "fires"), [(2.0, True), (1.9, False)])
def test_calf_difference_boundary_2_cm(difference: float, fires: bool) -> None:
    assert (
        one([*pregnant(30), lab("calf_circumference_difference", difference, "cm")], "R5")
        is not None
    ) is fires


def test_calf_difference_in_mm_converts() -> None:
    assert one([*pregnant(30), lab("calf_circumference_difference", 25, "mm")], "R5") is not None


def test_bilateral_leg_swelling_is_not_a_dvt_trigger() -> None:
    assert one([*pregnant(34), symptom("leg-swelling", side="both")], "R5") is None


def test_superficial_thrombophlebitis_suggests_duplex() -> None:
    finding = one([*pregnant(30), condition("thrombophlebitis", onset=ago(days=1))], "R5")
    assert finding is not None and finding.orders == ("venous-duplex",)


def test_dvt_postpartum_day20_is_warning() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=20)),
        symptom("leg-swelling", side="left"),
    ]
    finding = one(resources, "R5")
    assert finding is not None and finding.indicator == "warning"


def test_dvt_card_suggests_bilateral_duplex_as_recommended_alternative() -> None:
    cards = cards_for([*pregnant(30), symptom("leg-swelling", side="left")])
    card = next(c for c in cards if rule_of(c) == "R5")
    assert card.selection_behavior == "at-most-one"
    suggestions = card.suggestions or []
    assert suggestions[0].is_recommended is True
    assert suggestions[0].actions[0].resource["code"]["coding"][0]["code"] == "39420-5"


def test_already_on_lmwh_still_needs_duplex() -> None:
    resources = [
        *pregnant(30),
        symptom("leg-swelling", side="left"),
        medication("67108", "B01AB05", display="enoxaparin"),
    ]
    finding = one(resources, "R5")
    assert finding is not None and "venous-duplex" in finding.orders


def test_duplex_already_ordered_is_not_suggested_again() -> None:
    draft = {
        "resourceType": "ServiceRequest",
        "id": "sr-1",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "39420-5"}]},
        "subject": {"reference": "Patient/pat-1"},
    }
    cards = cards_for([*pregnant(30), symptom("leg-swelling", side="left"), draft])
    card = next(c for c in cards if rule_of(c) == "R5")
    assert not card.suggestions


# ---- R6 -----------------------------------------------------------------------------------


def test_breathlessness_in_pregnancy_is_possible_pe_critical() -> None:
    finding = one([*pregnant(30), symptom("dyspnoea")], "R6")
    assert finding is not None and finding.indicator == "critical"


def test_haemoptysis_is_critical() -> None:
    assert one([*pregnant(30), symptom("haemoptysis")], "R6") is not None


def test_leg_signs_with_tachycardia_is_pe_critical() -> None:
    resources = [
        *pregnant(30),
        symptom("leg-swelling", side="left"),
        lab("heart_rate", 118, "/min"),
    ]
    finding = one(resources, "R6")
    assert finding is not None and "HR 118/min" in finding.headline


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "fires"),
    [
        ("heart_rate", 101, "/min", True),
        ("heart_rate", 100, "/min", False),
        ("respiratory_rate", 21, "/min", True),
        ("respiratory_rate", 20, "/min", False),
        ("spo2", 96, "%", True),
        ("spo2", 97, "%", False),
    ],
)
def test_pe_vital_sign_boundaries(analyte: str, value: float, unit: str, fires: bool) -> None:
    resources = [*pregnant(30), symptom("leg-pain", side="right"), lab(analyte, value, unit)]
    assert (one(resources, "R6") is not None) is fires


def test_leg_signs_with_sbp_below_90_is_pe() -> None:
    assert one([*pregnant(30), symptom("leg-pain", side="right"), bp(88, 55)], "R6") is not None
    assert one([*pregnant(30), symptom("leg-pain", side="right"), bp(90, 55)], "R6") is None


def test_pe_postpartum_day30_is_critical() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=300)),
        delivery(ago(days=30)),
        symptom("dyspnoea"),
    ]
    finding = one(resources, "R6")
    assert finding is not None and finding.indicator == "critical"


def test_pe_outranks_dvt_in_one_card() -> None:
    cards = cards_for([*pregnant(30), symptom("leg-swelling", side="left"), lab("spo2", 93, "%")])
    vte = [c for c in cards if rule_of(c) in ("R5", "R6")]
    assert len(vte) == 1 and rule_of(vte[0]) == "R6" and vte[0].indicator == "critical"
    codes = {
        a.resource["code"]["coding"][0]["code"]
        for s in vte[0].suggestions or []
        for a in s.actions or []
    }
    assert {"29303009", "39420-5"} <= codes


def test_no_vte_signs_no_card() -> None:
    assert one([*pregnant(30), symptom("leg-cramp")], "R6") is None
    assert one([*pregnant(30), symptom("leg-cramp")], "R5") is None
