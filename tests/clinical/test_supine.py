"""R15: dizziness lying supine at >= 20 weeks: aortocaval compression."""

from __future__ import annotations

from tests.clinical.builders import ago, bp, delivery, one, pregnancy_status, pregnant, symptom


def test_supine_dizziness_at_34_weeks_is_info() -> None:
    finding = one([*pregnant(34), symptom("supine-dizziness")], "R15")
    assert finding is not None and finding.indicator == "info"
    assert "left lateral" in finding.action


def test_supine_dizziness_with_syncope_is_warning() -> None:
    finding = one([*pregnant(34), symptom("supine-dizziness"), symptom("syncope")], "R15")
    assert finding is not None and finding.indicator == "warning"


def test_supine_dizziness_with_sbp_below_90_is_warning() -> None:
    assert (
        one([*pregnant(34), symptom("supine-dizziness"), bp(88, 50)], "R15").indicator == "warning"
    )
    assert one([*pregnant(34), symptom("supine-dizziness"), bp(90, 50)], "R15").indicator == "info"


def test_before_20_weeks_no_card() -> None:
    assert one([*pregnant(19, 6), symptom("supine-dizziness")], "R15") is None
    assert one([*pregnant(20, 0), symptom("supine-dizziness")], "R15") is not None


def test_not_a_postpartum_rule() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=3)),
        symptom("supine-dizziness"),
    ]
    assert one(resources, "R15") is None
