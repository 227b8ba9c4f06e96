"""R24: conflicting pregnancy status, unusable units, lab critical flags, stale results."""

from __future__ import annotations

from tests.clinical.builders import (
    ago,
    cards_for,
    condition,
    findings_for,
    lab,
    pregnancy_status,
    pregnant,
    rule_of,
    symptom,
)


def _r24(resources: list[dict[str, object]], problem: str) -> list[object]:
    return [f for f in findings_for(resources, "R24") if f.problem == problem]


def test_conflicting_pregnancy_status_gives_one_reconcile_info_card() -> None:
    resources = [
        condition("77386006", onset=ago(days=120)),
        pregnancy_status("LA26683-5", when=ago(days=2)),
    ]
    cards = cards_for(resources)
    assert [rule_of(c) for c in cards] == ["R24"]
    assert cards[0].indicator == "info" and "reconcile" in cards[0].summary


def test_conflict_keeps_critical_seizure_card() -> None:
    resources = [
        condition("77386006", onset=ago(days=120)),
        pregnancy_status("LA26683-5", when=ago(days=2)),
        symptom("seizure", when=ago(hours=1)),
    ]
    rules = {rule_of(c): c.indicator for c in cards_for(resources)}
    assert rules == {"R1": "critical", "R24": "info"}


def test_conflict_silences_non_critical_rules() -> None:
    resources = [
        condition("77386006", onset=ago(days=120)),
        pregnancy_status("LA26683-5", when=ago(days=2)),
        symptom("leg-swelling", side="left"),
    ]
    assert "R5" not in {rule_of(c) for c in cards_for(resources)}


def test_unit_missing_is_one_info_card() -> None:
    resources = [*pregnant(20), lab("haemoglobin", 105, None), lab("potassium", 3.9, None)]
    found = _r24(resources, "data-quality-units")
    assert len(found) == 1 and found[0].indicator == "info"
    assert "2 results" in found[0].headline


def test_hb_above_25_without_unit_is_not_graded_info() -> None:
    found = _r24([*pregnant(20), lab("haemoglobin", 98, None)], "data-quality-units")
    assert found and found[0].indicator == "info"


def test_critical_flag_with_unknown_unit_is_at_least_warning() -> None:
    found = _r24(
        [*pregnant(20), lab("potassium", 2.3, None, interpretation="LL")], "data-quality-units"
    )
    assert found and found[0].indicator == "warning"


def test_glucose_under_35_mg_dl_is_verified_as_warning() -> None:
    found = _r24([*pregnant(20), lab("glucose", 30, "mg/dL")], "data-quality-units")
    assert found and found[0].indicator == "warning"


def test_critical_flag_on_unruled_result_is_warning() -> None:
    found = _r24([*pregnant(20), lab("alt", 600, "U/L", interpretation="HH")], "lab-flag:alt")
    assert found and found[0].indicator == "warning"


def test_flag_is_dropped_when_another_card_shows_the_result() -> None:
    platelets = lab("platelets", 60, "10*9/L", interpretation="LL")
    from tests.clinical.builders import bp

    cards = cards_for([*pregnant(32), bp(150, 95), platelets])
    assert "R24" not in {rule_of(c) for c in cards}
    assert "R3" in {rule_of(c) for c in cards}


def test_stale_abnormal_hb_asks_for_repeat() -> None:
    found = _r24(
        [*pregnant(30), lab("haemoglobin", 98, "g/L", when=ago(days=70))], "data-quality-stale"
    )
    assert found and found[0].indicator == "info"
    assert found[0].headline.startswith("Last Hb is 10 wks old (98 g/L)")
    assert found[0].orders == ("cbc",)


def test_stale_normal_result_is_not_reported() -> None:
    assert not _r24(
        [*pregnant(30), lab("haemoglobin", 125, "g/L", when=ago(days=70))], "data-quality-stale"
    )


def test_fresh_abnormal_result_is_not_stale() -> None:
    assert not _r24(
        [*pregnant(30), lab("haemoglobin", 98, "g/L", when=ago(days=27))], "data-quality-stale"
    )


def test_clean_record_has_no_r24() -> None:
    assert findings_for([*pregnant(30), lab("haemoglobin", 120, "g/L")], "R24") == []
