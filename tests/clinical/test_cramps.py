"""R19 cramp work-up (only missing/stale tests), R20 benign nocturnal cramps (info or no
card; never quinine), R21 recurrent focal spasms/paraesthesia (neurology review)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cds_service.knowledge.policy import DEFAULT_POLICY
from cds_service.wire import Card
from tests.clinical.builders import (
    ago,
    bp,
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
NO_BENIGN_CARD = replace(DEFAULT_POLICY, benign_cramps_card=False)


def normal_workup(days_ago: float = 2, **overrides: float) -> list[Resource]:
    """CBC, ferritin, Ca + albumin, Mg, K, Na, phosphate, glucose, 25-OH D: all normal."""
    values = {
        "haemoglobin": (118, "g/L", 0),
        "ferritin": (42, "ug/L", 0),
        "calcium_total": (2.30, "mmol/L", 1),
        "albumin": (34, "g/L", 0),
        "magnesium": (0.80, "mmol/L", 1),
        "potassium": (4.0, "mmol/L", 0),
        "sodium": (138, "mmol/L", 0),
        "phosphate": (1.10, "mmol/L", 1),
        "glucose": (4.8, "mmol/L", 1),
        "vitamin_d": (62, "nmol/L", 2),
    }
    out = []
    for analyte, (value, unit, index) in values.items():
        out.append(
            lab(
                analyte,
                overrides.get(analyte, value),
                unit,
                code_index=index,
                when=ago(days=days_ago),
            )
        )
    return out


def nocturnal(side: str | None = "bilateral", **kw: Any) -> Resource:
    return symptom("nocturnal-leg-cramps", when=kw.pop("when", ago(days=1)), side=side, **kw)


def order_codes(card: Card) -> set[str]:
    return {
        coding["code"]
        for suggestion in card.suggestions or []
        for action in suggestion.actions or []
        if action.resource
        for coding in action.resource["code"]["coding"]
    }


def only_card(resources: list[Resource], rule_id: str) -> Card:
    cards = [c for c in cards_for(resources) if rule_of(c) == rule_id]
    assert len(cards) == 1
    return cards[0]


# ---- R19 work-up ----------------------------------------------------------------------------


def test_cramps_without_any_labs_suggest_the_whole_workup() -> None:
    resources = [*pregnant(26), symptom("leg-cramp", when=ago(days=2)), bp(112, 70)]
    finding = one(resources, "R19")
    assert finding is not None and finding.indicator == "info"
    assert finding.headline == "Leg cramps, no recent labs"
    card = only_card(resources, "R19")
    assert {
        "58410-2",
        "2276-4",
        "2000-8",
        "1751-7",
        "2601-3",
        "2823-3",
        "2951-2",
        "14879-1",
        "2345-7",
        "62292-8",
    } <= order_codes(card)
    assert len(card.suggestions or []) == 1


def test_workup_suggests_only_missing_or_stale_tests() -> None:
    resources = [
        *pregnant(24),
        symptom("leg-cramp", when=ago(days=2)),
        lab("haemoglobin", 116, "g/L", when=ago(days=5)),
        lab("ferritin", 40, "ug/L", when=ago(days=5)),
        lab("potassium", 4.1, "mmol/L", when=ago(days=70)),
    ]
    finding = one(resources, "R19")
    assert finding is not None and finding.headline == "Leg cramps, work-up incomplete"
    codes = order_codes(only_card(resources, "R19"))
    assert "2823-3" in codes and "2601-3" in codes
    assert "58410-2" not in codes and "2276-4" not in codes


def test_potassium_8_days_old_is_stale_for_the_workup() -> None:
    resources = [*pregnant(24), symptom("leg-cramp"), *normal_workup(2)]
    resources = [r for r in resources if r["code"]["coding"][0]["code"] != "2823-3"]
    resources.append(lab("potassium", 4.0, "mmol/L", when=ago(days=8)))
    finding = one(resources, "R19")
    assert finding is not None
    assert "2823-3" in order_codes(only_card(resources, "R19"))


def test_ionised_calcium_counts_as_the_calcium_test() -> None:
    base = [
        r for r in normal_workup(2) if r["code"]["coding"][0]["code"] not in ("2000-8", "1751-7")
    ]
    resources = [
        *pregnant(24),
        symptom("leg-cramp"),
        *base,
        lab("calcium_ionised", 1.2, "mmol/L", code_index=1),
    ]
    assert one(resources, "R19") is None


def test_complete_fresh_workup_gives_no_r19() -> None:
    assert one([*pregnant(26), symptom("leg-cramp"), *normal_workup(2)], "R19") is None


def test_no_cramps_no_workup() -> None:
    assert one([*pregnant(26), bp(112, 70)], "R19") is None


def test_cramps_reported_29_days_ago_are_not_current() -> None:
    assert one([*pregnant(26), symptom("leg-cramp", when=ago(days=29))], "R19") is None


def test_cramp_workup_is_pregnancy_only() -> None:
    assert one([*postpartum(5), symptom("leg-cramp")], "R19") is None


def test_workup_never_suggests_quinine_esr_or_ctg() -> None:
    card = only_card([*pregnant(26), symptom("leg-cramp")], "R19")
    codes = order_codes(card)
    assert "4537-7" not in codes  # ESR
    assert "quinine" not in (card.detail or "").lower().replace("quinine is not recommended", "")


# ---- R20 benign nocturnal cramps ------------------------------------------------------------


def benign(**overrides: float) -> list[Resource]:
    return [*pregnant(30), nocturnal(), bp(112, 70), *normal_workup(2, **overrides)]


def test_benign_nocturnal_cramps_with_normal_fresh_labs_is_info_only() -> None:
    resources = benign()
    finding = one(resources, "R20")
    assert finding is not None and finding.indicator == "info"
    assert "quinine is not recommended" in finding.action
    cards = cards_for(resources)
    assert [rule_of(c) for c in cards] == ["R20"]
    assert all(c.indicator == "info" for c in cards)
    assert cards[0].suggestions is None


def test_benign_cramp_card_can_be_turned_off() -> None:
    assert cards_for(benign(), policy=NO_BENIGN_CARD) == []


def test_unilateral_nocturnal_cramp_is_not_benign() -> None:
    resources = [*pregnant(30), nocturnal(side="left"), bp(112, 70), *normal_workup(2)]
    assert one(resources, "R20") is None


def test_leg_swelling_is_not_benign() -> None:
    resources = [*benign(), symptom("leg-swelling", side="left")]
    assert one(resources, "R20") is None


def test_swelling_recorded_as_absent_keeps_it_benign() -> None:
    resources = [*benign(), symptom("leg-swelling", present=False)]
    assert one(resources, "R20") is not None


def test_high_bp_is_not_benign() -> None:
    resources = [*pregnant(30), nocturnal(), bp(142, 88), *normal_workup(2)]
    assert one(resources, "R20") is None


def test_bp_exactly_139_89_is_normal() -> None:
    resources = [*pregnant(30), nocturnal(), bp(139, 89), *normal_workup(2)]
    assert one(resources, "R20") is not None


def test_normal_bp_on_labetalol_is_not_called_benign() -> None:
    labetalol = medication(rxnorm="6185", atc="C07AG01", display="Labetalol 100 mg")
    assert one([*benign(), labetalol], "R20") is None


def test_on_diuretic_r17_speaks_instead_of_r20() -> None:
    furosemide = medication(rxnorm="4603", atc="C03CA01", display="Furosemide 20 mg")
    resources = [*benign(), furosemide]
    assert one(resources, "R20") is None
    assert one(resources, "R17") is not None


def test_low_magnesium_is_not_benign() -> None:
    assert one(benign(magnesium=0.65), "R20") is None


def test_potassium_exactly_3_5_is_normal_for_the_benign_card() -> None:
    assert one(benign(potassium=3.5), "R20") is not None


def test_ferritin_below_30_is_not_benign() -> None:
    assert one(benign(ferritin=25), "R20") is None


def test_low_vitamin_d_is_not_benign() -> None:
    assert one(benign(vitamin_d=20), "R20") is None


def test_stale_labs_are_not_benign_and_get_the_workup() -> None:
    resources = [*pregnant(30), nocturnal(), bp(112, 70), *normal_workup(10)]
    assert one(resources, "R20") is None
    assert one(resources, "R19") is not None


def test_beta2_agonist_is_named_as_a_possible_contributor() -> None:
    salbutamol = medication(rxnorm="435", atc="R03AC02", display="Salbutamol inhaler")
    finding = one([*benign(), salbutamol], "R20")
    assert finding is not None
    assert any("Salbutamol" in n for n in finding.notes)


# ---- R21 recurrent focal spasms / paraesthesia ----------------------------------------------


def paraesthesia(days_ago: float) -> Resource:
    return symptom("paraesthesia", when=ago(days=days_ago), side="right")


def test_recurrent_paraesthesia_with_normal_electrolytes_suggests_neurology_review() -> None:
    resources = [
        *pregnant(29),
        paraesthesia(42),
        paraesthesia(20),
        paraesthesia(0),
        *normal_workup(3),
    ]
    finding = one(resources, "R21")
    assert finding is not None and finding.indicator == "info"
    assert "neurological review" in finding.action
    assert finding.orders == ()


def test_single_paraesthesia_episode_is_not_recurrent() -> None:
    resources = [*pregnant(29), paraesthesia(0), *normal_workup(3)]
    assert one(resources, "R21") is None


def test_focal_spasms_finding_is_recurrent_by_definition() -> None:
    resources = [*pregnant(29), symptom("focal-spasms", when=ago(days=1)), *normal_workup(3)]
    assert one(resources, "R21") is not None


def test_paraesthesia_with_low_calcium_is_left_to_the_calcium_rule() -> None:
    resources = [
        *pregnant(29),
        paraesthesia(30),
        paraesthesia(1),
        *normal_workup(3, calcium_total=1.95, albumin=40),
    ]
    assert one(resources, "R21") is None
    assert one(resources, "R11") is not None


def test_recurrent_paraesthesia_without_electrolytes_suggests_them_first() -> None:
    resources = [*pregnant(29), paraesthesia(30), paraesthesia(1)]
    finding = one(resources, "R21")
    assert finding is not None and finding.orders == ("spasm-electrolytes",)
    codes = order_codes(only_card(resources, "R21"))
    assert {"2823-3", "2601-3", "2000-8", "1751-7"} <= codes


def test_episodes_older_than_12_weeks_do_not_make_it_recurrent() -> None:
    resources = [*pregnant(29), paraesthesia(100), paraesthesia(1), *normal_workup(3)]
    assert one(resources, "R21") is None


def test_active_paraesthesia_condition_counts_as_recurrent() -> None:
    resources = [*pregnant(29), condition("paraesthesia", onset=ago(days=10)), *normal_workup(3)]
    assert one(resources, "R21") is not None
