"""PatientFacts: pregnancy state (1.1), gestational age (1.2), value choice (1.3), symptoms,
medicines and orders."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cds_service.facts import PregnancyStatus
from cds_service.knowledge.policy import Policy
from cds_service.knowledge.systems import LOINC, SNOMED
from tests.clinical.builders import (
    NOW,
    ago,
    bp,
    condition,
    delivery,
    edd,
    facts_of,
    lab,
    medication,
    observation,
    patient,
    pregnancy_status,
    pregnant,
    symptom,
)

# ---- pregnancy state ----------------------------------------------------------------------


def test_pregnancy_status_observation_means_pregnant() -> None:
    facts = facts_of([pregnancy_status("LA15173-0", when=ago(days=10))])
    assert facts.pregnancy.status is PregnancyStatus.PREGNANT
    assert facts.pregnancy.gestational_age_days is None


def test_future_edd_gives_gestational_age_and_trimester() -> None:
    facts = facts_of([edd((NOW + timedelta(days=42)).date())])
    assert facts.pregnancy.status is PregnancyStatus.PREGNANT
    assert facts.pregnancy.gestational_age_days == 238
    assert facts.pregnancy.ga_text() == "34+0w"
    assert facts.trimester == 3


@pytest.mark.parametrize(
    ("weeks", "days", "trimester"),
    [(13, 6, 1), (14, 0, 2), (27, 6, 2), (28, 0, 3)],
)
def test_trimester_boundaries(weeks: int, days: int, trimester: int) -> None:
    assert facts_of(pregnant(weeks, days)).trimester == trimester


def test_trimester_boundaries_are_policy() -> None:
    policy = Policy(trimester2_start_days=13 * 7)
    assert facts_of(pregnant(13, 0), policy=policy).trimester == 2


def test_gestational_age_observation_in_weeks_is_carried_forward() -> None:
    ga = observation(LOINC, "49051-6", when=ago(days=14), category="exam", value=20, unit="wk")
    facts = facts_of([ga])
    assert facts.pregnancy.status is PregnancyStatus.PREGNANT
    assert facts.pregnancy.gestational_age_days == 22 * 7


def test_lmp_dates_the_pregnancy() -> None:
    lmp = observation(LOINC, "8665-2", when=ago(days=70), category="exam")
    lmp["valueDateTime"] = (NOW - timedelta(days=10 * 7)).date().isoformat()
    facts = facts_of([lmp])
    assert facts.pregnancy.gestational_age_days == 70


def test_most_recent_edd_wins() -> None:
    old = edd((NOW + timedelta(days=70)).date(), when=ago(days=90), code="11779-6")
    new = edd((NOW + timedelta(days=63)).date(), when=ago(days=30))
    assert facts_of([old, new]).pregnancy.gestational_age_days == 280 - 63


def test_active_pregnancy_condition_means_pregnant() -> None:
    facts = facts_of([condition("77386006", onset=ago(days=50))])
    assert facts.pregnancy.status is PregnancyStatus.PREGNANT


def test_no_evidence_and_gender_is_not_read() -> None:
    facts = facts_of([patient(gender="female")])
    assert facts.pregnancy.status is PregnancyStatus.NO_EVIDENCE


def test_transgender_man_with_pregnancy_evidence_is_pregnant() -> None:
    facts = facts_of([patient(gender="male"), *pregnant(30)])
    assert facts.pregnancy.status is PregnancyStatus.PREGNANT


def test_not_pregnant_status_newer_than_pregnant_status_is_not_pregnant() -> None:
    facts = facts_of(
        [
            pregnancy_status("LA15173-0", when=ago(days=200)),
            pregnancy_status("LA26683-5", when=ago(days=5)),
        ]
    )
    assert facts.pregnancy.status is PregnancyStatus.NOT_PREGNANT
    assert not facts.pregnancy.conflict


def test_not_pregnant_newer_than_active_condition_is_a_conflict() -> None:
    facts = facts_of(
        [
            condition("77386006", onset=ago(days=120)),
            pregnancy_status("LA26683-5", when=ago(days=2)),
        ]
    )
    assert facts.pregnancy.status is PregnancyStatus.UNKNOWN
    assert facts.pregnancy.conflict


def test_unknown_answer_means_unknown_not_not_pregnant() -> None:
    facts = facts_of([pregnancy_status("LA4489-6", when=ago(days=1))])
    assert facts.pregnancy.status is PregnancyStatus.UNKNOWN
    assert not facts.pregnancy.conflict


def test_preliminary_pregnancy_status_is_not_evidence() -> None:
    facts = facts_of([pregnancy_status("LA15173-0", when=ago(days=1), status="preliminary")])
    assert facts.pregnancy.status is PregnancyStatus.NO_EVIDENCE


@pytest.mark.parametrize(
    ("days", "status"),
    [
        (5, PregnancyStatus.POSTPARTUM),
        (42, PregnancyStatus.POSTPARTUM),
        (43, PregnancyStatus.NOT_PREGNANT),
        (60, PregnancyStatus.NOT_PREGNANT),
    ],
)
def test_postpartum_window_is_42_days(days: int, status: PregnancyStatus) -> None:
    facts = facts_of([*pregnant(30, now=NOW - timedelta(days=days + 70)), delivery(ago(days=days))])
    assert facts.pregnancy.status is status
    if status is PregnancyStatus.POSTPARTUM:
        assert facts.pregnancy.days_postpartum == days


def test_not_pregnant_after_delivery_is_still_postpartum() -> None:
    facts = facts_of([delivery(ago(days=5)), pregnancy_status("LA26683-5", when=ago(days=3))])
    assert facts.pregnancy.status is PregnancyStatus.POSTPARTUM


def test_early_postpartum_condition_is_postpartum() -> None:
    facts = facts_of([condition("16538005", onset=ago(days=9))])
    assert facts.pregnancy.status is PregnancyStatus.POSTPARTUM
    assert facts.pregnancy.days_postpartum == 9


def test_edd_long_past_without_delivery_is_read_as_recently_delivered() -> None:
    facts = facts_of([edd((NOW - timedelta(days=20)).date(), when=ago(days=200))])
    assert facts.pregnancy.status is PregnancyStatus.POSTPARTUM
    assert facts.pregnancy.delivery_estimated


def test_edd_just_past_is_a_continuing_pregnancy() -> None:
    facts = facts_of([edd((NOW - timedelta(days=5)).date(), when=ago(days=200))])
    assert facts.pregnancy.status is PregnancyStatus.PREGNANT
    assert facts.pregnancy.ga_text() == "40+5w"


def test_old_pregnancy_status_no_longer_proves_pregnancy() -> None:
    facts = facts_of([pregnancy_status("LA15173-0", when=ago(days=400))])
    assert facts.pregnancy.status is PregnancyStatus.NO_EVIDENCE


# ---- choosing the value -----------------------------------------------------------------


def test_entered_in_error_is_ignored_and_older_valid_value_used() -> None:
    facts = facts_of(
        [
            *pregnant(20),
            lab("potassium", 4.1, "mmol/L", when=ago(days=2)),
            lab("potassium", 2.1, "mmol/L", when=ago(hours=1), status="entered-in-error"),
        ]
    )
    latest = facts.latest("potassium")
    assert latest is not None and latest.value == 4.1


def test_cancelled_is_ignored() -> None:
    facts = facts_of([*pregnant(20), lab("potassium", 2.1, "mmol/L", status="cancelled")])
    assert facts.latest("potassium") is None


def test_preliminary_is_used_and_flagged() -> None:
    latest = facts_of(
        [*pregnant(20), lab("potassium", 3.0, "mmol/L", status="preliminary")]
    ).latest("potassium")
    assert latest is not None and latest.preliminary


def test_most_recent_effective_wins_ties_broken_by_issued() -> None:
    first = lab("sodium", 131, "mmol/L", when=ago(hours=5))
    second = lab("sodium", 139, "mmol/L", when=ago(hours=5))
    second["issued"] = (NOW - timedelta(hours=1)).isoformat()
    first["issued"] = (NOW - timedelta(hours=3)).isoformat()
    latest = facts_of([*pregnant(20), first, second]).latest("sodium")
    assert latest is not None and latest.value == 139


@pytest.mark.parametrize(("days", "stale"), [(7, False), (7.1, True)])
def test_electrolyte_staleness_is_seven_days(days: float, stale: bool) -> None:
    latest = facts_of([*pregnant(20), lab("potassium", 3.9, "mmol/L", when=ago(days=days))]).latest(
        "potassium"
    )
    assert latest is not None and latest.stale is stale


def test_hb_goes_stale_three_weeks_after_starting_iron() -> None:
    hb = lab("haemoglobin", 98, "g/L", when=ago(days=25))
    iron = medication("24947", "B03AA07", display="ferrous sulfate", start=ago(days=22))
    facts = facts_of([*pregnant(30), hb, iron])
    latest = facts.latest("haemoglobin")
    assert latest is not None and latest.stale


def test_interpretation_flags_are_kept() -> None:
    latest = facts_of([*pregnant(20), lab("sodium", 119, "mmol/L", interpretation="LL")]).latest(
        "sodium"
    )
    assert latest is not None and latest.interpretation == frozenset({"LL"})


def test_reference_range_is_converted_to_canonical_units() -> None:
    ica = lab("calcium_ionised", 4.4, "mg/dL")
    ica["referenceRange"] = [
        {
            "low": {"value": 4.6, "unit": "mg/dL", "code": "mg/dL"},
            "high": {"value": 5.3, "unit": "mg/dL", "code": "mg/dL"},
        }
    ]
    latest = facts_of([*pregnant(20), ica]).latest("calcium_ionised")
    assert latest is not None and latest.reference_low == pytest.approx(1.15)


# ---- blood pressure ----------------------------------------------------------------------


def test_panel_bp_is_read_from_components() -> None:
    reading = facts_of([*pregnant(30), bp(150, 95)]).latest_bp()
    assert reading is not None and (reading.systolic, reading.diastolic) == (150, 95)


@pytest.mark.parametrize(("minutes", "paired"), [(5, True), (6, False)])
def test_separate_systolic_and_diastolic_pair_within_five_minutes(
    minutes: int, paired: bool
) -> None:
    sbp = lab("systolic_bp", 150, "mm[Hg]", when=ago(hours=1))
    dbp = lab("diastolic_bp", 95, "mm[Hg]", when=ago(hours=1) - timedelta(minutes=minutes))
    readings = facts_of([*pregnant(30), sbp, dbp]).blood_pressures
    assert (len(readings) == 1) is paired
    if paired:
        assert (readings[0].systolic, readings[0].diastolic) == (150, 95)


# ---- symptoms ----------------------------------------------------------------------------


def test_symptom_observation_yes_and_no() -> None:
    facts = facts_of(
        [
            *pregnant(30),
            symptom("headache", when=ago(days=2)),
            symptom("headache", when=ago(hours=1), present=False),
        ]
    )
    assert facts.symptom("headache") is None
    assert facts.symptom_absent("headache")


def test_symptom_value_absent_means_present() -> None:
    obs = symptom("headache")
    del obs["valueCodeableConcept"]
    assert facts_of([*pregnant(30), obs]).symptom("headache") is not None


def test_value_boolean_false_means_absent() -> None:
    obs = symptom("headache")
    del obs["valueCodeableConcept"]
    obs["valueBoolean"] = False
    assert facts_of([*pregnant(30), obs]).symptom("headache") is None


@pytest.mark.parametrize(
    ("side", "expected"),
    [("left", "left"), ("right", "right"), ("both", "bilateral"), (None, None)],
)
def test_laterality_from_body_site(side: str | None, expected: str | None) -> None:
    found = facts_of([*pregnant(30), symptom("leg-swelling", side=side)]).symptom("leg-swelling")
    assert found is not None and found.laterality == expected


def test_resolved_condition_is_not_present_and_refuted_is_ignored() -> None:
    resolved = condition("seizure", onset=ago(days=3), clinical="resolved", abatement=ago(days=2))
    refuted = condition("dyspnoea", onset=ago(days=1), verification="refuted")
    facts = facts_of([*pregnant(30), resolved, refuted])
    assert facts.symptom("seizure") is None
    assert facts.symptom("dyspnoea") is None


def test_free_text_alone_is_never_a_finding() -> None:
    text_only = condition("91175000")
    text_only["code"] = {"text": "seizure"}
    assert facts_of([*pregnant(30), text_only]).symptom("seizure") is None


def test_code_from_another_system_does_not_match() -> None:
    # 91175000 under LOINC is not SNOMED's seizure (clinical.md 0.1: always check system).
    wrong = condition("91175000", system=LOINC)
    assert facts_of([*pregnant(30), wrong]).symptom("seizure") is None


# ---- medicines, orders, robustness --------------------------------------------------------


def test_medicine_classes_by_rxnorm_and_atc_prefix() -> None:
    facts = facts_of(
        [
            *pregnant(30),
            medication("4603", display="furosemide"),
            medication(atc="C03AA03", display="HCTZ"),
        ]
    )
    assert len(facts.on("loop-diuretic")) == 1
    assert len(facts.on("thiazide-diuretic")) == 1


def test_medication_reference_is_followed() -> None:
    req = medication(display="labetalol")
    del req["medicationCodeableConcept"]
    req["medicationReference"] = {"reference": "Medication/lab-1"}
    med = {
        "resourceType": "Medication",
        "id": "lab-1",
        "code": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6185"}]
        },
    }
    assert facts_of([*pregnant(30), req, med]).on("antihypertensive")


def test_parenteral_magnesium_sulfate_by_route() -> None:
    mg = medication("6585", display="magnesium sulfate", route="iv", start=ago(hours=2))
    found = facts_of([*pregnant(34), mg]).on("magnesium-sulfate")
    assert found and found[0].parenteral is True


def test_hook_draft_orders_are_read() -> None:
    draft = medication("9071", display="quinine", status="draft", ident="draft-1")
    facts = facts_of([*pregnant(20)], hook="order-sign", drafts=[draft])
    drafts = facts.hook_drafts()
    assert (
        drafts
        and "quinine" in drafts[0].classes
        and drafts[0].reference == "MedicationRequest/draft-1"
    )


def test_invalid_resource_is_skipped_and_counted_not_fatal() -> None:
    broken = lab("potassium", 2.0, "mmol/L")
    broken["valueQuantity"]["value"] = "not a number"
    facts = facts_of([*pregnant(20), broken])
    assert facts.latest("potassium") is None
    # Validation is lazy: the count covers what has been read (here, the K just read).
    assert facts.invalid_resources == 1


def test_irrelevant_resources_are_not_validated() -> None:
    other = observation(SNOMED, "1234567", value=1, unit="kg")
    other["valueQuantity"]["value"] = "garbage"
    assert facts_of([*pregnant(20), other]).invalid_resources == 0


def test_only_the_newest_observations_per_code_are_validated() -> None:
    results = [lab("potassium", 4.0 + i / 100, "mmol/L", when=ago(days=i)) for i in range(40)]
    facts = facts_of([*pregnant(20), *results])
    assert len(facts.history("potassium")) == 25
    latest = facts.latest("potassium")
    assert latest is not None and latest.value == 4.0


def test_entered_in_error_flood_does_not_push_out_valid_results() -> None:
    errors = [
        lab("potassium", 2.0, "mmol/L", when=ago(hours=i), status="entered-in-error")
        for i in range(30)
    ]
    valid = lab("potassium", 3.2, "mmol/L", when=ago(days=2))
    latest = facts_of([*pregnant(20), *errors, valid]).latest("potassium")
    assert latest is not None and latest.value == 3.2


_EVIDENCE_ORDER = """
from tests.clinical.builders import facts_of, pregnant
print("|".join(ev.line() for ev in facts_of(pregnant(20)).pregnancy.evidence))
"""


def test_pregnancy_evidence_order_does_not_depend_on_the_hash_seed() -> None:
    """Two pieces of evidence recorded at the same time keep the chart's order: the card's
    "based on ..." line reads the same on every run and every worker."""
    root = Path(__file__).resolve().parents[2]
    lines = set()
    for seed in ("1", "2", "3", "4"):
        out = subprocess.run(
            [sys.executable, "-c", _EVIDENCE_ORDER],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        lines.add(out.stdout.strip())
    assert len(lines) == 1 and "|" in next(iter(lines)), lines
