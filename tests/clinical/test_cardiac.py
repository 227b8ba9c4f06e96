"""R14: persistent left-arm pain: ECG and troponin; critical with cardiac features."""

from __future__ import annotations

from tests.clinical.builders import (
    ago,
    cards_for,
    delivery,
    one,
    pregnancy_status,
    pregnant,
    rule_of,
    symptom,
)


def test_left_arm_pain_with_chest_tightness_is_critical() -> None:
    finding = one([*pregnant(36), symptom("left-arm-pain"), symptom("chest-tightness")], "R14")
    assert finding is not None and finding.indicator == "critical"
    assert finding.orders == ("cardiac",)


def test_isolated_left_arm_pain_is_warning() -> None:
    finding = one([*pregnant(36), symptom("left-arm-pain")], "R14")
    assert finding is not None and finding.indicator == "warning"


def test_left_arm_pain_with_palpitations_postpartum_is_critical() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=12)),
        symptom("left-arm-pain"),
        symptom("palpitations"),
    ]
    finding = one(resources, "R14")
    assert finding is not None and finding.indicator == "critical"


def test_no_left_arm_pain_no_card() -> None:
    assert one([*pregnant(36), symptom("chest-tightness")], "R14") is None


def test_left_arm_pain_older_than_two_weeks_is_not_current() -> None:
    assert one([*pregnant(36), symptom("left-arm-pain", when=ago(days=15))], "R14") is None
    assert one([*pregnant(36), symptom("left-arm-pain", when=ago(days=14))], "R14") is not None


def test_cardiac_card_suggests_ecg_and_troponin() -> None:
    cards = cards_for([*pregnant(36), symptom("left-arm-pain"), symptom("chest-tightness")])
    card = next(c for c in cards if rule_of(c) == "R14")
    codes = {
        a.resource["code"]["coding"][0]["code"]
        for s in card.suggestions or []
        for a in s.actions or []
    }
    assert codes == {"29303009", "10839-9"}
    assert "do not attribute to cramps" in card.summary
