"""The read models against fhir.resources: same verdict, same values, on what the engine reads.

``cds_service.fhir.read_models`` replaced the full ``fhir.resources`` R4B models on the
request path (for speed). These tests hold it to them:

* every resource of the fixtures and of generated charts that fhir.resources accepts is
  accepted, with equal values in every element the read models hold;
* resources mutated *in an element the engine reads* (random JSON of the wrong type, bad
  dates, bad codes, two value[x], ...) get the same verdict from both (the exceptions, where
  the read models are deliberately more lenient, are listed and tested on their own);
* primitive parsers are checked with hypothesis.
"""

from __future__ import annotations

import copy
import importlib
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from cds_service.facts.common import to_datetime
from cds_service.fhir import read_models as rm
from cds_service.fhir.parse import validate
from cds_service.knowledge.systems import RXNORM
from tests.clinical.builders import (
    ago,
    bp,
    condition,
    delivery,
    lab,
    medication,
    pregnant,
    symptom,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _full_model(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def _full(resource: dict[str, Any]) -> Any | None:
    try:
        return _full_model(resource["resourceType"]).model_validate(resource)
    except Exception:
        return None


def _norm(value: Any) -> Any:
    """One leaf value, as the fact builders see it (dates as aware datetimes, numbers as
    floats): fhir.resources parses dates and decimals, the read models keep the strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, (datetime, date)):
        return to_datetime(value)
    if hasattr(value, "isoformat"):  # fhir_core's date/time subclasses
        return to_datetime(value.isoformat())
    return value


def _same(ours: Any, theirs: Any, path: str = "") -> None:
    """Every element a read model holds equals fhir.resources' reading of it."""
    if isinstance(ours, BaseModel):
        assert theirs is not None, path
        for name in type(ours).model_fields:
            if name == "resourceType":
                continue
            _same(getattr(ours, name), getattr(theirs, name, None), f"{path}.{name}")
        return
    if isinstance(ours, list) or isinstance(theirs, list):
        ours, theirs = ours or [], theirs or []
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{path}[{i}]")
        return
    if isinstance(ours, str) and ours and ours[0].isdigit() and not isinstance(theirs, str):
        assert to_datetime(ours) == _norm(theirs), path  # a date kept as a string
        return
    assert _norm(ours) == _norm(theirs), path


def _fixture_resources() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for request in sorted(FIXTURES.glob("*/request.json")):
        body = json.loads(request.read_text())
        for value in (body.get("prefetch") or {}).values():
            if not isinstance(value, dict):
                continue
            if value.get("resourceType") == "Bundle":
                out.extend(e["resource"] for e in value.get("entry") or [] if "resource" in e)
            else:
                out.append(value)
        orders = (body.get("context") or {}).get("draftOrders") or {}
        out.extend(e["resource"] for e in orders.get("entry") or [] if "resource" in e)
    return [r for r in out if r.get("resourceType") in rm.READ_MODELS]


FIXTURE_RESOURCES = _fixture_resources()


def test_the_fixtures_hold_every_resource_type_the_engine_reads() -> None:
    seen = {r["resourceType"] for r in FIXTURE_RESOURCES}
    # (Medication and MedicationStatement: generated in the mutation tests below.)
    assert seen >= set(rm.READ_MODELS) - {"Medication", "MedicationStatement"}, seen
    assert len(FIXTURE_RESOURCES) > 300


def test_every_fixture_resource_reads_as_fhir_resources_reads_it() -> None:
    for resource in FIXTURE_RESOURCES:
        theirs = _full(resource)
        ours = validate(resource)
        if theirs is None:  # a fixture's deliberately broken resource
            continue
        assert ours is not None, resource.get("id")
        _same(ours, theirs, resource["resourceType"])


def test_a_reference_names_the_resource_type() -> None:
    ours = validate(lab("potassium", 3.9, "mmol/L", ident="k-1"))
    assert ours is not None
    assert type(ours).__name__ == "Observation" and ours.get_resource_type() == "Observation"


# --- mutations of what the engine reads ----------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        [
            "",
            " ",
            "final",
            "final ",
            "a b",
            "a  b",
            "7.2",
            "-0.5",
            "1e3",
            "01",
            "abc",
            "true",
            "2026",
            "2026-11",
            "2026-11-25",
            "2026-02-30",
            "2026-13-01",
            "2026-11-25T10:00:00Z",
            "2026-11-25T10:00:00+01:00",
            "2026-11-25T10:00:00.123456789Z",
            "2026-11-25T10:00:00",
            "2026-11-25T10:00Z",
            "2026-11-25T24:00:00Z",
            "2026-12-31T23:59:60Z",
            "2026-11-25 10:00:00Z",
            "http://loinc.org",
            "http://x y",
        ]
    ),
    st.lists(st.integers(0, 3), max_size=2),
    st.just({}),
    st.just({"system": "http://loinc.org", "code": "2823-3"}),
    st.just({"coding": [{"system": "http://loinc.org", "code": "2823-3"}]}),
    st.just({"value": 1.5, "unit": "mmol/L"}),
    st.just({"start": "2026-11-20", "end": "2026-11-24T10:00:00Z"}),
)

# (resource builder, paths into it of elements the engine reads)
_K = lab("potassium", 3.1, "mmol/L", ident="k-1")
_BP = bp(150, 95, ident="bp-1")
_SYMPTOM = symptom("leg-cramp", side="left", ident="sym-1")
_CONDITION = condition("leg-swelling", onset=None, ident="cond-1")
_MED = medication("9071", display="quinine", ident="med-1")
_PREGNANCY = pregnant(20)[0]
_DELIVERY = delivery(ago(days=3), ident="proc-1")
_STATEMENT = {
    "resourceType": "MedicationStatement",
    "id": "ms-1",
    "status": "active",
    "subject": {"reference": "Patient/pat-1"},
    "medicationReference": {"reference": "#iron"},
    "contained": [
        {
            "resourceType": "Medication",
            "id": "iron",
            "ingredient": [
                {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "4477"}]}}
            ],
        }
    ],
    "effectivePeriod": {"start": "2026-10-01"},
    "dosage": [{"route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]}}],
}
_MEDICATION = {
    "resourceType": "Medication",
    "id": "med-2",
    "code": {"coding": [{"system": RXNORM, "code": "9071"}], "text": "quinine"},
}

TARGETS: list[tuple[str, dict[str, Any], list[tuple[Any, ...]]]] = [
    (
        "lab",
        _K,
        [
            ("status",),
            ("code",),
            ("code", "coding"),
            ("code", "coding", 0, "code"),
            ("code", "coding", 0, "system"),
            ("code", "coding", 0, "display"),
            ("code", "text"),
            ("valueQuantity",),
            ("valueQuantity", "value"),
            ("valueQuantity", "unit"),
            ("valueQuantity", "code"),
            ("valueQuantity", "system"),
            ("valueQuantity", "comparator"),
            ("effectiveDateTime",),
            ("effectiveInstant",),
            ("effectivePeriod",),
            ("issued",),
            ("interpretation",),
            ("referenceRange",),
            ("valueString",),
            ("valueInteger",),
            ("valueBoolean",),
            ("valueCodeableConcept",),
            ("bodySite",),
            ("id",),
        ],
    ),
    (
        "bp",
        _BP,
        [
            ("component",),
            ("component", 0, "code"),
            ("component", 0, "valueQuantity"),
            ("component", 0, "valueQuantity", "value"),
            ("component", 1, "valueQuantity", "unit"),
            ("component", 0, "interpretation"),
        ],
    ),
    ("symptom", _SYMPTOM, [("valueBoolean",), ("valueCodeableConcept",), ("bodySite",)]),
    (
        "condition",
        _CONDITION,
        [
            ("code",),
            ("clinicalStatus",),
            ("verificationStatus",),
            ("onsetDateTime",),
            ("onsetPeriod",),
            ("abatementDateTime",),
            ("recordedDate",),
            ("bodySite",),
        ],
    ),
    (
        "medication",
        _MED,
        [
            ("status",),
            ("medicationCodeableConcept",),
            ("medicationReference",),
            ("authoredOn",),
            ("dosageInstruction",),
        ],
    ),
    ("pregnancy", _PREGNANCY, [("valueCodeableConcept",), ("effectiveDateTime",)]),
    ("delivery", _DELIVERY, [("status",), ("code",), ("performedDateTime",), ("performedPeriod",)]),
    (
        "statement",
        _STATEMENT,
        [
            ("status",),
            ("medicationReference",),
            ("medicationReference", "reference"),
            ("medicationCodeableConcept",),
            ("contained",),
            ("contained", 0, "ingredient"),
            ("contained", 0, "id"),
            ("effectivePeriod",),
            ("effectiveDateTime",),
            ("dateAsserted",),
            ("dosage",),
            ("dosage", 0, "route"),
        ],
    ),
    ("medication", _MEDICATION, [("code",), ("code", "text"), ("ingredient",), ("id",)]),
]


def _set(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> bool:
    node: Any = resource
    for step in path[:-1]:
        if isinstance(step, int):
            if not isinstance(node, list) or len(node) <= step:
                return False
        elif not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    if isinstance(path[-1], int) or not isinstance(node, dict):
        return False
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return True


# fhir.resources reads a JSON number in a date element as seconds since 1970; FHIR JSON has
# dates as strings only, so the read models reject it (the one deliberate difference here).
DATE_ELEMENTS = frozenset(
    {
        "effectiveDateTime",
        "effectiveInstant",
        "issued",
        "onsetDateTime",
        "abatementDateTime",
        "recordedDate",
        "authoredOn",
        "performedDateTime",
        "dateAsserted",
    }
)


def _number_as_date(resource: dict[str, Any]) -> bool:
    return any(
        isinstance(value, (int, float)) and not isinstance(value, bool)
        for name, value in resource.items()
        if name in DATE_ELEMENTS
    )


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(range(len(TARGETS))),
    picks=st.lists(st.tuples(st.integers(0, 40), JUNK), min_size=1, max_size=3),
)
def test_a_mutated_read_element_gets_the_same_verdict_and_values(
    target: int, picks: list[tuple[int, Any]]
) -> None:
    _, base, paths = TARGETS[target]
    resource = copy.deepcopy(base)
    for index, value in picks:
        _set(resource, paths[index % len(paths)], copy.deepcopy(value))
    theirs = _full(resource)
    ours = validate(resource)
    if _number_as_date(resource):
        assert ours is None, json.dumps(resource)
        return
    if theirs is None:
        assert ours is None, json.dumps(resource)
        return
    assert ours is not None, json.dumps(resource)
    _same(ours, theirs, resource["resourceType"])


def test_a_number_in_a_date_element_is_invalid_here_but_read_as_1970_by_fhir_resources() -> None:
    k = lab("potassium", 2.0, "mmol/L", ident="k-1")
    k["effectiveDateTime"] = 0
    assert _full(k) is not None
    assert validate(k) is None


def test_the_mutation_targets_are_valid_to_start_with() -> None:
    for name, resource, _ in TARGETS:
        assert _full(resource) is not None, name
        assert validate(resource) is not None, name


# --- deliberate differences ----------------------------------------------------------------


def test_an_element_the_engine_does_not_read_does_not_make_a_result_invalid() -> None:
    """A potassium of 2.0 with a malformed performer still counts (fhir.resources would drop
    the whole resource, and with it a red flag)."""
    k = lab("potassium", 2.0, "mmol/L", ident="k-1")
    k["performer"] = [{"reference": 7}]
    k["unknownElement"] = True
    assert _full(k) is None
    ours = validate(k)
    assert ours is not None and ours.valueQuantity is not None
    assert ours.valueQuantity.value == 2.0


def test_an_id_longer_than_64_characters_is_kept_as_fhir_resources_keeps_it() -> None:
    k = lab("potassium", 2.0, "mmol/L", ident="k" * 80)
    assert _full(k) is not None and validate(k) is not None


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("effectiveDateTime", "2026-11-25T10:00:00"),  # a time needs a zone
        ("effectiveDateTime", "2026-02-30"),
        ("issued", "2026-11-25"),  # instant: full date-time
        ("status", "final "),
        ("status", ""),
        ("valueString", ""),
    ],
)
def test_bad_primitives_are_invalid_as_in_fhir_resources(element: str, value: str) -> None:
    k = lab("potassium", 2.0, "mmol/L", ident="k-1")
    k[element] = value
    assert _full(k) is None
    assert validate(k) is None


def test_two_value_choices_are_invalid() -> None:
    k = lab("potassium", 2.0, "mmol/L", ident="k-1")
    k["valueString"] = "low"
    assert _full(k) is None and validate(k) is None


# --- primitive parsers (hypothesis) ---------------------------------------------------------


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_every_real_date_time_with_a_zone_is_a_valid_date_time_and_instant(
    moment: datetime,
) -> None:
    text = moment.isoformat() + "Z"
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert rm.Observation.model_validate({**obs, "effectiveDateTime": text}).effectiveDateTime
    assert rm.Observation.model_validate({**obs, "issued": text}).issued == text
    assert to_datetime(text) is not None


@given(st.dates(min_value=date(1, 1, 1)))
def test_dates_and_partial_dates_are_valid(day: date) -> None:
    for text in (day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]):
        patient = rm.Patient.model_validate({"resourceType": "Patient", "birthDate": text})
        assert patient.birthDate == text


@given(st.integers(1, 9999), st.integers(1, 12), st.integers(29, 31))
def test_days_that_do_not_exist_are_invalid(year: int, month: int, day: int) -> None:
    try:
        date(year, month, day)
        exists = True
    except ValueError:
        exists = False
    text = f"{year:04d}-{month:02d}-{day:02d}"
    patient = {"resourceType": "Patient", "birthDate": text}
    assert (rm.read_model(patient) is not None) == exists


@given(st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False)))
def test_a_json_number_is_a_decimal_read_as_a_float(number: float) -> None:
    quantity = rm.Quantity.model_validate({"value": number})
    assert isinstance(quantity.value, float) and quantity.value == float(number)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_a_numeric_string_is_a_decimal(number: Decimal) -> None:
    text = format(number, "f")
    quantity = rm.Quantity.model_validate({"value": text})
    assert quantity.value == pytest.approx(float(number))


@pytest.mark.parametrize("value", [True, False, "nan", "inf", "1e999", "7,2", "", " 7", [7]])
def test_what_is_not_a_decimal(value: Any) -> None:
    k = lab("potassium", 2.0, "mmol/L")
    assert rm.read_model(k) is not None
    k["valueQuantity"]["value"] = value
    assert rm.read_model(k) is None
