"""The fixture kit: date shift, the builder, prefetch placement, the form round trip, checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from cds_service import fixture_kit as kit
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from cds_service.wire import CdsRequest
from tests.conftest import NOW
from tests.integrator.conftest import AppFactory, build, seizure_postpartum_spec, write_case

MODELS = {
    "Patient": Patient,
    "Observation": Observation,
    "Condition": Condition,
    "MedicationRequest": MedicationRequest,
}


def resources(request: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = request["prefetch"][key]
    if value is None:
        return []
    if value["resourceType"] == "Bundle":
        return [e["resource"] for e in value["entry"]]
    return [value]


def codes(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource.get("code", {}).get("coding", [])}


# ------------------------------------------------------------------------------ date shift


def _fixture(tmp_path: Path, request: dict[str, Any], as_of: str) -> kit.Fixture:
    folder = tmp_path / "case"
    kit.write_fixture(folder, request, {"service": "prenatal-visit", "asOf": as_of, "cards": []})
    return kit.load_fixture(folder)


def test_shift_moves_datetimes_by_the_gap_and_dates_by_calendar_days(tmp_path: Path) -> None:
    request = {
        "prefetch": {
            "obs": {
                "effectiveDateTime": "2026-11-25T09:30:00Z",
                "issued": "2026-11-25T09:31:12.345Z",
                "valueDateTime": "2027-02-03",
                "period": {"start": "2026-11-20T23:00:00+02:00"},
            }
        }
    }
    fixture = _fixture(tmp_path, request, "2026-11-25T10:00:00Z")
    shifted = kit.shifted_request(fixture, datetime(2027, 1, 4, 16, 30, tzinfo=UTC))
    obs = shifted["prefetch"]["obs"]
    assert obs["effectiveDateTime"] == "2027-01-04T16:00:00Z"
    assert obs["issued"] == "2027-01-04T16:01:12.345Z"
    assert obs["valueDateTime"] == "2027-03-15"  # 40 calendar days later, still a date
    assert obs["period"]["start"] == "2026-12-31T05:30:00+02:00"


def test_shift_backwards_keeps_dates_consistent(tmp_path: Path) -> None:
    fixture = _fixture(
        tmp_path, {"a": "2026-11-25T10:00:00Z", "d": "2026-11-25"}, "2026-11-25T10:00:00Z"
    )
    shifted = kit.shifted_request(fixture, datetime(2026, 11, 24, 22, 0, tzinfo=UTC))
    assert shifted == {"a": "2026-11-24T22:00:00Z", "d": "2026-11-24"}


def test_shift_to_as_of_changes_nothing(tmp_path: Path) -> None:
    request = {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "t": "2026-11-25T07:00:00Z"}
    fixture = _fixture(tmp_path, request, "2026-11-25T10:00:00Z")
    assert kit.shifted_request(fixture, NOW) == request


def test_shift_leaves_partial_dates_codes_and_ids_alone() -> None:
    value = {"year": "2026", "month": "2026-11", "code": "11778-8", "id": "2026-11-25-x", "n": 3}
    assert kit.shift_dates(value, timedelta(days=3)) == value


# --------------------------------------------------------------------------------- builder


@pytest.mark.parametrize("hook", ["patient-view", "encounter-start", "order-select", "order-sign"])
def test_builder_writes_a_valid_request_with_every_prefetch_key(
    registry: ServiceRegistry, hook: str
) -> None:
    request, warnings = build(
        registry,
        hook,
        gestational_age_days=30 * 7,
        blood_pressure=(150, 95),
        measurements=[kit.Measurement("hb", 9.2, "g/dL"), kit.Measurement("k", 3.1, "mmol/L")],
        symptoms=[kit.SymptomSpec("leg-cramp", "left")],
        draft_orders=["quinine"],
    )
    parsed = CdsRequest.model_validate(request)
    parsed.typed_context()
    declaration = kit.declaration_for(registry, hook, None)
    assert set(request["prefetch"]) == set(declaration.prefetch)
    for key in declaration.prefetch:
        for resource in resources(request, key):
            MODELS[resource["resourceType"]].model_validate(resource)
    if hook == "order-select":
        assert parsed.context["selections"] == ["MedicationRequest/draft-quinine"]
    for warning in warnings:  # only resources this service's queries do not return
        assert "is not returned by any prefetch query" in warning


def test_builder_files_each_resource_under_the_key_whose_codes_contain_it(
    registry: ServiceRegistry,
) -> None:
    request, warnings = build(
        registry,
        gestational_age_days=30 * 7 + 2,
        blood_pressure=(150, 95),
        measurements=[kit.Measurement("hb", 9.2, "g/dL"), kit.Measurement("k", 3.1, "mmol/L")],
        symptoms=[kit.SymptomSpec("seizure"), kit.SymptomSpec("pre-eclampsia", as_condition=True)],
        medications=["furosemide"],
    )
    assert warnings == []
    assert resources(request, "patient")[0]["id"] == "example-patient"
    assert {"82810-3", "49051-6", "11778-8"} <= set().union(
        *map(codes, resources(request, "pregnancy"))
    )
    assert [codes(r) for r in resources(request, "vitals")] == [{"85354-9"}]
    assert {"718-7", "2823-3"} == set().union(*map(codes, resources(request, "labs")))
    assert [codes(r) for r in resources(request, "findings")] == [{"91175000"}]
    assert [codes(r) for r in resources(request, "conditions")] == [{"398254007"}]
    assert resources(request, "medications")[0]["medicationCodeableConcept"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "4603",
        "display": "furosemide",
    }


def test_builder_ga_30_plus_2_gives_matching_edd_and_bp_components(
    registry: ServiceRegistry,
) -> None:
    request, _ = build(registry, gestational_age_days=212, blood_pressure=(150, 95))
    by_code = {next(iter(codes(r))): r for r in resources(request, "pregnancy")}
    assert by_code["49051-6"]["valueQuantity"] == {
        "value": 30.29,
        "unit": "wk",
        "system": "http://unitsofmeasure.org",
        "code": "wk",
    }
    assert by_code["11778-8"]["valueDateTime"] == "2027-02-01"  # NOW + (280 - 212) days
    assert by_code["82810-3"]["valueCodeableConcept"]["coding"][0]["code"] == "LA15173-0"
    panel = resources(request, "vitals")[0]
    assert [(codes(c), c["valueQuantity"]["value"], c["valueQuantity"]["code"])
            for c in panel["component"]] == [
        ({"8480-6"}, 150, "mm[Hg]"),
        ({"8462-4"}, 95, "mm[Hg]"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "loinc", "ucum"),
    [
        ("hb=9.2g/dL", "718-7", "g/dL"),
        ("hb=92 g/l", "718-7", "g/L"),
        ("glucose=2.8mmol/L", "14749-6", "mmol/L"),
        ("glucose=50mg/dL", "2345-7", "mg/dL"),
        ("mg=0.45mmol/L", "2601-3", "mmol/L"),
        ("mg=1.1mg/dL", "19123-9", "mg/dL"),
        ("creatinine=95µmol/L", "14682-9", "umol/L"),
        ("vitd=18nmol/L", "14635-7", "nmol/L"),
        ("calf-diff=2.5cm", "calf-circumference-difference", "cm"),
    ],
)
def test_unit_picks_the_mass_or_molar_loinc_code(typed: str, loinc: str, ucum: str) -> None:
    name, _, quantity = typed.partition("=")
    value, unit = kit.parse_quantity(quantity)
    resource = kit.measurement_resource(
        "Patient/p", NOW, kit.Measurement(name, value, unit), "obs-1"
    )
    assert codes(resource) == {loinc}
    assert resource["valueQuantity"]["code"] == ucum
    assert resource["valueQuantity"]["system"] == "http://unitsofmeasure.org"


def test_builder_refuses_what_it_cannot_code() -> None:
    with pytest.raises(kit.FixtureError, match=r"unit 'mm\[Hg\]' not supported"):
        kit.analyte_concept(kit.analyte_by_name("hb"), kit.ucum("mmHg"))
    with pytest.raises(kit.FixtureError, match="unknown symptom"):
        kit.finding_by_name("wobbly-knees")
    with pytest.raises(kit.FixtureError, match="needs at least one draft order"):
        build(ServiceRegistry.from_directory(Settings().hooks_dir, kit_expand()), "order-sign")
    with pytest.raises(kit.FixtureError, match="either a gestational age or postpartum"):
        kit.build_resources(kit.PatientSpec(gestational_age_days=70, postpartum_days=3), NOW)
    with pytest.raises(kit.FixtureError, match="must look like 150/95"):
        kit.parse_bp("150")
    assert kit.parse_gestational_age("30+2") == 212
    assert kit.parse_gestational_age("12w3d") == 87


def kit_expand() -> Any:
    from cds_service.knowledge.prefetch_sets import expand_code_set

    return expand_code_set


def test_laterality_is_coded_in_body_site(registry: ServiceRegistry) -> None:
    request, _ = build(registry, gestational_age_days=84,
                       symptoms=[kit.SymptomSpec("leg-swelling", "left")])  # fmt: skip
    swelling = next(r for r in resources(request, "findings") if "449615005" in codes(r))
    assert swelling["bodySite"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}],
        "text": "left leg",
    }


def test_seizure_postpartum_day5_fixture_is_critical(
    make_client: AppFactory, tmp_path: Path, registry: ServiceRegistry
) -> None:
    folder = write_case(tmp_path, registry, "seizure-pp5", expect=("R1:critical",),
                        **seizure_postpartum_spec())  # fmt: skip
    fixture = kit.load_fixture(folder)
    response = make_client().post(f"/cds-services/{fixture.service}", json=fixture.request)
    assert response.status_code == 200
    assert kit.check_expectations(fixture.expect, response.json()) == []


# ----------------------------------------------------------------- the sandbox form's view


def test_key_values_read_back_what_the_builder_wrote(registry: ServiceRegistry) -> None:
    request, _ = build(
        registry,
        gestational_age_days=212,
        blood_pressure=(150, 95),
        measurements=[kit.Measurement("hb", 9.2, "g/dL")],
        symptoms=[kit.SymptomSpec("leg-cramp", "left")],
    )
    kv = kit.extract_key_values(request, NOW).wire()
    assert kv["gestationalAge"] == "30+2"
    assert kv["bloodPressure"] == "150/95"
    assert [(m["analyte"], m["value"], m["unit"]) for m in kv["measurements"]] == [
        ("hb", 9.2, "g/dL")
    ]
    assert [(s["name"], s["laterality"]) for s in kv["symptoms"]] == [("leg-cramp", "left")]
    # GA recorded earlier is read as of "now".
    assert kit.extract_key_values(request, NOW + timedelta(days=9)).gestational_age == "31+4"


def test_form_edits_change_resources_in_place(registry: ServiceRegistry) -> None:
    request, _ = build(
        registry,
        gestational_age_days=212,
        blood_pressure=(150, 95),
        measurements=[kit.Measurement("hb", 9.2, "g/dL"), kit.Measurement("k", 3.1, "mmol/L")],
        symptoms=[kit.SymptomSpec("leg-cramp", "left")],
    )
    kv = kit.extract_key_values(request, NOW)
    kv.blood_pressure = "165/112"
    kv.measurements = [m for m in kv.measurements if m["analyte"] != "k"]
    kv.measurements[0]["value"] = 6.5
    kv.measurements.append({"analyte": "glucose", "value": 2.8, "unit": "mmol/L"})
    kv.symptoms.append({"name": "seizure"})
    declaration = kit.declaration_for(registry, "patient-view", None)
    edited, warnings = kit.apply_key_values(request, kv, declaration, NOW)
    assert warnings == []
    vitals = resources(edited, "vitals")
    assert [r["id"] for r in vitals] == ["obs-bp"]
    assert [c["valueQuantity"]["value"] for c in vitals[0]["component"]] == [165, 112]
    labs = {r["id"]: r["valueQuantity"]["value"] for r in resources(edited, "labs")}
    assert labs == {"obs-haemoglobin": 6.5, "obs-glucose": 2.8}
    assert {r["id"] for r in resources(edited, "findings")} == {"obs-leg-cramp", "obs-seizure"}
    assert (
        request["prefetch"]["vitals"]["entry"][0]["resource"]["component"][0]["valueQuantity"][
            "value"
        ]
        == 150
    )  # fmt: skip


def test_form_keeps_absent_keys_absent_and_operation_outcomes(registry: ServiceRegistry) -> None:
    request, _ = build(registry, gestational_age_days=200, measurements=[
        kit.Measurement("hb", 9.2, "g/dL")])  # fmt: skip
    del request["prefetch"]["labs"]
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}
    request["prefetch"]["vitals"] = outcome
    kv = kit.extract_key_values(request, NOW)
    kv.measurements.append({"analyte": "k", "value": 2.4, "unit": "mmol/L"})
    declaration = kit.declaration_for(registry, "patient-view", None)
    edited, warnings = kit.apply_key_values(request, kv, declaration, NOW)
    assert "labs" not in edited["prefetch"]
    assert edited["prefetch"]["vitals"] == outcome
    assert any("'labs' is absent" in w for w in warnings)


def test_retargeting_to_encounter_start_adds_the_encounter(registry: ServiceRegistry) -> None:
    request, _ = build(registry, gestational_age_days=200)
    declaration = kit.declaration_for(registry, "encounter-start", None)
    kv = kit.extract_key_values(request, NOW)
    edited, _ = kit.apply_key_values(request, kv, declaration, NOW)
    assert edited["hook"] == "encounter-start"
    assert edited["context"]["encounterId"] == "enc-example-patient"
    assert set(edited["prefetch"]) == set(declaration.prefetch)
    CdsRequest.model_validate(edited).typed_context()


# ---------------------------------------------------------------------------- expectations


def card(rule: str, indicator: str, *orders: str) -> dict[str, Any]:
    actions = [
        {"type": "create", "description": "d", "resource": {
            "resourceType": "ServiceRequest", "code": {"coding": [{"code": o}]}}}
        for o in orders
    ]  # fmt: skip
    return {
        "summary": f"{rule} card",
        "indicator": indicator,
        "source": {"label": "x", "topic": {"system": "urn:prenatal-cds:rule", "code": rule}},
        "suggestions": [{"label": "s", "actions": actions}] if actions else [],
    }


def test_expectations_pass_when_each_expected_card_is_there() -> None:
    expect = {"cards": [{"rule": "R9", "indicator": "warning", "orders": ["58410-2"]}]}
    response = {"cards": [card("R9", "warning", "58410-2", "2276-4"), card("R19", "info")]}
    assert kit.check_expectations(expect, response) == []


def test_expectations_report_missing_wrong_indicator_orders_absent_and_extra() -> None:
    expect = {
        "cards": [
            {"rule": "R1", "indicator": "critical"},
            {"rule": "R9", "indicator": "warning", "orders": ["58410-2"]},
        ],
        "absentRules": ["R5"],
        "exactCards": True,
    }
    response = {
        "cards": [
            card("R9", "info", "2276-4"),
            card("R5", "warning"),
            card("R19", "info"),
            card("DATA", "info"),
        ]
    }
    failures = kit.check_expectations(expect, response)
    assert failures[0] == "missing R1 critical"
    assert failures[1].startswith("R9: wanted warning with orders ⊇ ['58410-2']; got info")
    assert "unexpected R5 (warning): listed in absentRules" in failures
    assert "unexpected R19 (info)" in failures
    assert len(failures) == 4  # the DATA card is never "unexpected"


def test_fixture_ids_cannot_escape_the_folder(tmp_path: Path) -> None:
    (tmp_path / "fixtures").mkdir()
    for bad in ("..", "../fixtures", "a/b", "", ".hidden"):
        with pytest.raises(kit.FixtureError):
            kit.find_fixture(tmp_path / "fixtures", bad)


def test_repository_fixtures_all_load() -> None:
    fixtures, problems = kit.scan_fixtures(Settings().fixtures_dir)
    assert problems == []
    for fixture in fixtures:
        assert fixture.as_of.tzinfo is not None
        assert json.dumps(fixture.request)  # plain JSON all the way down
