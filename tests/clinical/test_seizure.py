"""R1: seizure or loss of consciousness in pregnancy/postpartum = possible eclampsia."""

from __future__ import annotations

from datetime import timedelta

from tests.clinical.builders import (
    NOW,
    ago,
    bp,
    cards_for,
    condition,
    delivery,
    lab,
    medication,
    one,
    patient,
    pregnancy_status,
    pregnant,
    rule_of,
    symptom,
)


def test_seizure_in_pregnancy_is_critical() -> None:
    finding = one([*pregnant(34), symptom("seizure", when=ago(hours=1))], "R1")
    assert finding is not None and finding.indicator == "critical"
    assert "eclampsia" in finding.action


def test_seizure_postpartum_day5_is_critical() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=5)),
        condition("seizure", onset=ago(hours=3)),
    ]
    finding = one(resources, "R1")
    assert finding is not None and finding.indicator == "critical"


def test_seizure_postpartum_day60_gives_no_card() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=300)),
        delivery(ago(days=60)),
        condition("seizure", onset=ago(hours=3)),
    ]
    assert one(resources, "R1") is None
    assert cards_for(resources) == []


def test_seizure_at_12_weeks_is_critical_any_gestation() -> None:
    finding = one([*pregnant(12), symptom("seizure", when=ago(hours=2))], "R1")
    assert finding is not None and finding.indicator == "critical"


def test_eclampsia_condition_is_critical() -> None:
    finding = one([*pregnant(36), condition("eclampsia", onset=ago(hours=2))], "R1")
    assert finding is not None and finding.indicator == "critical"


def test_loss_of_consciousness_is_critical() -> None:
    finding = one([*pregnant(30), symptom("loss-of-consciousness", when=ago(hours=2))], "R1")
    assert finding is not None and finding.indicator == "critical"


def test_seizure_without_proteinuria_or_hypertension_is_still_critical() -> None:
    resources = [
        *pregnant(30),
        symptom("seizure", when=ago(hours=1)),
        bp(118, 72),
        lab("upcr", 10, "mg/mmol"),
    ]
    finding = one(resources, "R1")
    assert finding is not None and finding.indicator == "critical"


def test_no_seizure_no_card() -> None:
    assert one([*pregnant(30), symptom("leg-cramp")], "R1") is None


def test_seizure_looked_for_and_absent_gives_no_card() -> None:
    assert one([*pregnant(30), symptom("seizure", present=False)], "R1") is None


def test_seizure_boundary_14_days_critical_15_days_warning() -> None:
    on_boundary = one([*pregnant(30), symptom("seizure", when=NOW - timedelta(days=14))], "R1")
    older = one([*pregnant(30), symptom("seizure", when=NOW - timedelta(days=15))], "R1")
    assert on_boundary is not None and on_boundary.indicator == "critical"
    assert older is not None and older.indicator == "warning"


def test_seizure_before_this_pregnancy_gives_no_card() -> None:
    # Episode started at 30 weeks ago (EDD-based); a seizure 250 days ago predates it.
    assert one([*pregnant(30), condition("seizure", onset=ago(days=250))], "R1") is None


def test_iv_magnesium_started_after_seizure_downgrades_to_monitoring_warning() -> None:
    resources = [
        *pregnant(34),
        symptom("seizure", when=ago(hours=3)),
        medication("6585", "B05XA05", display="magnesium sulfate", route="iv", start=ago(hours=2)),
    ]
    finding = one(resources, "R1")
    assert finding is not None and finding.indicator == "warning"
    assert "reflexes" in finding.action


def test_seizure_after_magnesium_start_stays_critical() -> None:
    resources = [
        *pregnant(34),
        medication("6585", "B05XA05", display="magnesium sulfate", route="iv", start=ago(hours=5)),
        symptom("seizure", when=ago(hours=1)),
    ]
    finding = one(resources, "R1")
    assert finding is not None and finding.indicator == "critical"


def test_oral_magnesium_never_downgrades_seizure() -> None:
    resources = [
        *pregnant(34),
        symptom("seizure", when=ago(hours=3)),
        medication("6585", display="magnesium sulfate", route="oral", start=ago(hours=2)),
    ]
    finding = one(resources, "R1")
    assert finding is not None and finding.indicator == "critical"


def test_seizure_with_unknown_pregnancy_status_is_critical_with_hedged_wording() -> None:
    resources = [
        pregnancy_status("LA4489-6", when=ago(days=1)),
        symptom("seizure", when=ago(hours=1)),
    ]
    cards = cards_for(resources)
    assert [rule_of(c) for c in cards] == ["R1"]
    assert cards[0].indicator == "critical"
    assert "if pregnant or recently pregnant" in cards[0].summary


def test_seizure_without_any_pregnancy_evidence_gives_no_card() -> None:
    assert cards_for([patient(gender="female"), symptom("seizure", when=ago(hours=1))]) == []


def test_seizure_in_male_without_pregnancy_evidence_gives_no_card() -> None:
    assert cards_for([patient(gender="male"), symptom("seizure", when=ago(hours=1))]) == []


def test_seizure_and_severe_bp_are_one_critical_card() -> None:
    cards = cards_for([*pregnant(34), symptom("seizure", when=ago(hours=1)), bp(168, 114)])
    critical = [c for c in cards if c.indicator == "critical"]
    assert len(critical) == 1 and rule_of(critical[0]) == "R1"
    assert "R2" in (critical[0].detail or "")
