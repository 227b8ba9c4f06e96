"""Resources are chosen on raw JSON and validated (``fhir.read_models``) only when read.

Every test counts the real validations (the read models' ``model_validate`` is wrapped), so
"never validated" means never handed to a validator at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from cds_service.facts import PatientFacts
from cds_service.fhir.read_models import MedicationRequest, Observation
from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.codes import CRITICAL_INTERPRETATIONS, FINDINGS
from cds_service.knowledge.systems import LOINC, SNOMED
from tests.clinical.builders import (
    ago,
    bp,
    cards_for,
    condition,
    facts_of,
    lab,
    medication,
    observation,
    pregnant,
    rule_of,
    symptom,
)

Validated = list[str]


def _counting(monkeypatch: pytest.MonkeyPatch, model: Any, seen: Validated) -> None:
    original: Callable[..., Any] = model.model_validate.__func__

    def model_validate(cls: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(obj.get("id")) if isinstance(obj, dict) else "?")
        return original(cls, obj, *args, **kwargs)

    monkeypatch.setattr(model, "model_validate", classmethod(model_validate))


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Validated]:
    """Ids of the Observations and MedicationRequests handed to validation, in order."""
    seen: Validated = []
    _counting(monkeypatch, Observation, seen)
    _counting(monkeypatch, MedicationRequest, seen)
    yield seen


def _ids(resources: list[dict[str, Any]]) -> set[str]:
    return {str(r["id"]) for r in resources}


def test_the_counting_hook_sees_validations(validated: Validated) -> None:
    k = lab("potassium", 3.9, "mmol/L", ident="k-1")
    assert facts_of([*pregnant(20), k]).latest("potassium") is not None
    assert "k-1" in validated


def test_malformed_newest_value_is_skipped_counted_and_the_next_valid_one_used(
    validated: Validated,
) -> None:
    broken = lab("haemoglobin", 8.0, "g/dL", when=ago(days=1), ident="hb-new")
    broken["valueQuantity"]["value"] = "not a number"
    older = lab("haemoglobin", 11.5, "g/dL", when=ago(days=3), ident="hb-old")
    oldest = lab("haemoglobin", 12.5, "g/dL", when=ago(days=9), ident="hb-oldest")
    facts = facts_of([*pregnant(20), oldest, broken, older])
    latest = facts.latest("haemoglobin")
    assert latest is not None and latest.value == 115.0
    assert latest.reference == "Observation/hb-old"
    assert facts.invalid_resources == 1
    assert "hb-oldest" not in validated  # older values are not validated to read the latest
    assert [i for i in validated if i.startswith("hb-")] == ["hb-new", "hb-old"]


def test_three_thousand_irrelevant_observations_never_reach_validation(
    validated: Validated,
) -> None:
    noise = [
        observation(
            LOINC,
            f"{90000 + i}-{i % 10}",
            value=float(i % 97),
            unit="mg/dL",
            when=ago(days=i % 700),
            ident=f"noise-{i}",
        )
        for i in range(2_000)
    ] + [
        observation(SNOMED, f"{7000000 + i}", when=ago(days=i % 400), ident=f"sct-{i}")
        for i in range(1_000)
    ]
    relevant = [*pregnant(30), lab("potassium", 2.4, "mmol/L", when=ago(hours=3))]
    cards = cards_for([*noise, *relevant])
    assert "R10" in {rule_of(card) for card in cards}  # the low K still gives its card
    assert not any(i.startswith(("noise-", "sct-")) for i in validated)
    assert set(validated) <= _ids(relevant)


def test_latest_validates_one_value_and_a_window_stops_at_its_edge(
    validated: Validated,
) -> None:
    results = [
        lab("potassium", 4.0 + i / 100, "mmol/L", when=ago(days=i), ident=f"k-{i}")
        for i in range(20)
    ]
    facts = facts_of([*pregnant(20), *results])
    validated.clear()
    latest = facts.latest("potassium")
    assert latest is not None and latest.value == 4.0
    assert validated == ["k-0"]
    window = facts.within("potassium", 3.5)
    assert [m.value for m in window] == [4.0, 4.01, 4.02, 4.03]
    assert validated == ["k-0", "k-1", "k-2", "k-3", "k-4"]  # k-4 shows the window ended
    assert len(facts.history("potassium")) == 20


def test_entered_in_error_and_unread_statuses_are_never_validated(validated: Validated) -> None:
    wrong = lab("potassium", 2.0, "mmol/L", when=ago(hours=1), status="entered-in-error")
    wrong["id"] = "k-eie"
    registered = lab("potassium", 2.1, "mmol/L", when=ago(hours=2), status="registered")
    registered["id"] = "k-reg"
    good = lab("potassium", 3.2, "mmol/L", when=ago(days=2), ident="k-good")
    latest = facts_of([*pregnant(20), wrong, registered, good]).latest("potassium")
    assert latest is not None and latest.value == 3.2
    assert "k-eie" not in validated and "k-reg" not in validated


def test_preliminary_latest_is_used_and_flagged() -> None:
    final = lab("sodium", 138, "mmol/L", when=ago(days=2))
    prelim = lab("sodium", 128, "mmol/L", when=ago(hours=2), status="preliminary")
    latest = facts_of([*pregnant(20), final, prelim]).latest("sodium")
    assert latest is not None and latest.value == 128 and latest.preliminary


def test_same_time_values_are_ordered_by_issued() -> None:
    at = ago(hours=5)
    first = lab("sodium", 131, "mmol/L", when=at, ident="na-first")
    first["issued"] = (at + timedelta(minutes=10)).isoformat()
    second = lab("sodium", 136, "mmol/L", when=at, ident="na-second")
    second["issued"] = (at + timedelta(minutes=50)).isoformat()
    latest = facts_of([*pregnant(20), second, first]).latest("sodium")
    assert latest is not None and latest.reference == "Observation/na-second"


def test_clean_results_need_no_validation_to_know_there_is_no_unit_problem(
    validated: Validated,
) -> None:
    results = [
        lab(analyte, value, unit, when=ago(days=d))
        for d in (1, 8, 30)
        for analyte, value, unit in (
            ("potassium", 4.1, "mmol/L"),
            ("sodium", 139, "mmol/L"),
            ("haemoglobin", 12.1, "g/dL"),
        )
    ]
    facts = facts_of([*pregnant(20), *results])
    validated.clear()
    assert len(facts.unit_problems) == 0
    assert validated == []


def test_a_unit_problem_newer_than_the_newest_gradable_value_is_found(
    validated: Validated,
) -> None:
    no_unit = lab("potassium", 2.1, None, when=ago(hours=2), ident="k-nounit")
    ok = lab("potassium", 4.0, "mmol/L", when=ago(days=1), ident="k-ok")
    old = lab("potassium", 4.2, "mmol/L", when=ago(days=5), ident="k-old")
    facts = facts_of([*pregnant(20), old, ok, no_unit])
    validated.clear()
    problem = facts.unit_problem("potassium")
    assert problem is not None and problem.kind == "missing"
    assert validated == ["k-nounit", "k-ok"]
    latest = facts.latest("potassium")
    assert latest is not None and latest.value == 4.0


def test_only_analytes_carrying_a_critical_flag_are_validated_for_r24(
    validated: Validated,
) -> None:
    flagged = lab("potassium", 6.9, "mmol/L", when=ago(hours=3), interpretation="HH", ident="k")
    plain = [
        lab("sodium", 139, "mmol/L", when=ago(hours=3), ident="na"),
        lab("ferritin", 40, "ng/mL", when=ago(days=3), ident="ferritin"),
    ]
    facts = facts_of([*pregnant(20), *plain, flagged])
    validated.clear()
    flags = facts.critical_flags(CRITICAL_INTERPRETATIONS)
    assert [m.analyte for m in flags] == ["potassium"]
    assert validated == ["k"]


def test_bp_readings_in_a_window_validate_only_the_recent_panels(validated: Validated) -> None:
    panels = [bp(120 + i, 75, when=ago(days=i, hours=1), ident=f"bp-{i}") for i in range(15)]
    facts = facts_of([*pregnant(30), *panels])
    validated.clear()
    recent = facts.bps_within(36)
    assert [b.systolic for b in recent] == [120, 121]
    assert validated == ["bp-0", "bp-1", "bp-2"]
    latest = facts.latest_bp()
    assert latest is not None and latest.references == ("Observation/bp-0",)


def test_separate_systolic_and_diastolic_are_still_paired() -> None:
    at = ago(hours=2)
    sbp = lab("systolic_bp", 162, "mm[Hg]", when=at, category="vital-signs")
    dbp = lab("diastolic_bp", 104, "mm[Hg]", when=at + timedelta(minutes=2), category="vital-signs")
    panel = bp(130, 80, when=ago(days=2))
    readings = list(facts_of([*pregnant(30), panel, dbp, sbp]).blood_pressures)
    assert [(b.systolic, b.diastolic) for b in readings] == [(162, 104), (130, 80)]


def test_medicines_no_rule_can_use_are_not_validated(validated: Validated) -> None:
    meds = [
        medication("7417", display="nifedipine", ident="mr-nifedipine"),
        medication("999999", display="prenatal vitamin", ident="mr-vitamin"),
        medication("24947", display="ferrous sulfate", status="stopped", ident="mr-stopped"),
        medication("9071", display="quinine", status="draft", ident="mr-draft"),
    ]
    facts = facts_of([*pregnant(30), *meds])
    assert [m.reference for m in facts.on("antihypertensive")] == [
        "MedicationRequest/mr-nifedipine"
    ]
    assert [o.id for o in facts.orders] == ["mr-draft"]
    assert "mr-vitamin" not in validated and "mr-stopped" not in validated


def _random_chart(rng: random.Random) -> list[dict[str, Any]]:
    resources = list(pregnant(rng.choice([12, 24, 33])))
    for analyte in rng.sample(sorted(ANALYTES), k=12):
        definition = ANALYTES[analyte]
        units = [*definition.conversions, None, "furlongs"]
        for _ in range(rng.randint(1, 4)):
            low, high = definition.plausible or (0.0, 200.0)
            unit = rng.choice(units)
            scale = definition.conversions.get(unit) if unit else None
            value = rng.uniform(low, high)
            value = round(scale.from_canonical(value) if scale else value, 2)
            result = lab(
                analyte,
                value,
                unit,
                when=ago(days=rng.choice([0.1, 1, 1, 3, 8, 40])),
                status=rng.choice(["final", "final", "preliminary", "registered"]),
                interpretation=rng.choice([None, None, None, "HH", "LL", "H"]),
            )
            if rng.random() < 0.1:
                result["valueQuantity"] = {"value": "garbage"}
            resources.append(result)
    for _ in range(rng.randint(0, 6)):
        resources.append(
            bp(rng.randint(95, 170), rng.randint(55, 115), when=ago(hours=30 * rng.random()))
        )
    for key in rng.sample(sorted(FINDINGS), k=3):
        resources.append(symptom(key, when=ago(days=rng.choice([0, 2, 20]))))
    resources.append(condition(rng.choice(sorted(FINDINGS)), onset=ago(days=3)))
    rng.shuffle(resources)
    return resources


def _snapshot(facts: PatientFacts) -> dict[str, Any]:
    return {
        "unit_problems": list(facts.unit_problems),
        "flags": facts.critical_flags(CRITICAL_INTERPRETATIONS),
        "bps_24h": facts.bps_within(24),
        "within_7d": {a: facts.within(a, 7) for a in sorted(ANALYTES)},
        "latest": {a: facts.latest(a) for a in sorted(ANALYTES)},
        "bps": list(facts.blood_pressures),
        "history": {a: facts.history(a) for a in sorted(ANALYTES)},
    }


@pytest.mark.parametrize("seed", range(25))
def test_reading_lazily_gives_what_validating_everything_first_gives(seed: int) -> None:
    resources = _random_chart(random.Random(seed))
    lazy = facts_of(resources)
    eager = facts_of(resources)
    for values in eager.measurements.values():  # validate every kept Observation first
        list(values)
    list(eager.blood_pressures)
    assert _snapshot(lazy) == _snapshot(eager)
    assert lazy.invalid_resources == eager.invalid_resources


def test_oddly_shaped_json_is_ignored_not_fatal(validated: Validated) -> None:
    odd_status = lab("potassium", 2.0, "mmol/L", when=ago(hours=1), ident="k-odd")
    odd_status["status"] = ["final"]
    odd_system = lab("potassium", 2.1, "mmol/L", when=ago(hours=1), ident="k-system")
    odd_system["code"]["coding"][0]["system"] = {"url": LOINC}
    odd_coding = lab("potassium", 2.2, "mmol/L", when=ago(hours=1), ident="k-coding")
    odd_coding["code"]["coding"] = {"system": LOINC, "code": "2823-3"}
    odd_type = {"resourceType": ["Observation"], "id": "x"}
    good = lab("potassium", 3.9, "mmol/L", when=ago(days=1), ident="k-good")
    facts = facts_of([*pregnant(20), odd_status, odd_system, odd_coding, odd_type, good])
    latest = facts.latest("potassium")
    assert latest is not None and latest.value == 3.9
    assert not {"k-odd", "k-system", "k-coding"} & set(validated)
