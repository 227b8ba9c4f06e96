"""Unit conversions (clinical.md 1.4): by UCUM unit, never by code; round trips hold."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.units import normalise_unit
from tests.clinical.builders import facts_of, lab, pregnant

CONVERTIBLE = sorted(
    (analyte.key, unit) for analyte in ANALYTES.values() for unit in analyte.conversions
)
values = st.floats(min_value=0.001, max_value=1e5, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from(CONVERTIBLE), value=values)
def test_every_conversion_round_trips(pair: tuple[str, str], value: float) -> None:
    analyte = ANALYTES[pair[0]]
    canonical = analyte.to_canonical(value, pair[1])
    assert canonical is not None
    back = analyte.from_canonical(canonical, pair[1])
    assert back is not None
    assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from(CONVERTIBLE), a=values, b=values)
def test_conversions_are_monotonic(pair: tuple[str, str], a: float, b: float) -> None:
    analyte = ANALYTES[pair[0]]
    low, high = sorted((a, b))
    converted_low = analyte.to_canonical(low, pair[1])
    converted_high = analyte.to_canonical(high, pair[1])
    assert converted_low is not None and converted_high is not None
    assert converted_low <= converted_high


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("haemoglobin", 10.5, "g/dL", 105.0),
        ("haemoglobin", 105, "g/L", 105.0),
        ("haemoglobin", 6.5, "mmol/L", 104.65),
        ("albumin", 3.5, "g/dL", 35.0),
        ("glucose", 54, "mg/dL", 54 / 18.02),
        ("magnesium", 1.0, "meq/L", 0.5),
        ("magnesium", 1.2, "mg/dL", 1.2 * 0.4114),
        ("calcium_total", 8.5, "mg/dL", 8.5 * 0.2495),
        ("creatinine", 1.1, "mg/dL", 97.24),
        ("vitamin_d", 10, "ng/mL", 24.96),
        ("phosphate", 3.097, "mg/dL", 1.0),
        ("upcr", 0.3, "mg/mg", 33.93),
        ("uacr", 71, "mg/g", 71 / 8.84),
        ("hba1c", 48, "mmol/mol", 48 / 10.929 + 2.15),
        ("temperature", 98.6, "[degF]", 37.0),
        ("contraction_frequency", 2, "/10.min", 12.0),
        ("calf_circumference_difference", 25, "mm", 2.5),
    ],
)
def test_clinical_md_factors(analyte: str, value: float, unit: str, expected: float) -> None:
    converted = ANALYTES[analyte].to_canonical(value, unit)
    assert converted is not None
    assert math.isclose(converted, expected, rel_tol=1e-3)


@pytest.mark.parametrize(
    ("code", "unit", "expected"),
    [
        ("mg/dL", None, "mg/dL"),
        (None, "mg/dl", "mg/dL"),
        (None, "mEq/L", "meq/L"),
        (None, "µmol/L", "umol/L"),
        ("{beats}/min", None, "/min"),
        ("mg/mmol{creat}", None, "mg/mmol"),
        (None, "x10^9/L", "10*9/L"),
        (None, "mmHg", "mm[Hg]"),
        ("{score}", None, "1"),
        (None, None, None),
        (None, "   ", None),
        (None, "furlongs", None),
    ],
)
def test_unit_spellings_normalise_to_ucum(
    code: str | None, unit: str | None, expected: str | None
) -> None:
    assert normalise_unit(code, unit) == expected


def test_hb_in_g_per_l_and_g_per_dl_share_a_code_and_agree() -> None:
    in_g_l = facts_of([*pregnant(20), lab("haemoglobin", 98, "g/L")]).latest("haemoglobin")
    in_g_dl = facts_of([*pregnant(20), lab("haemoglobin", 9.8, "g/dL")]).latest("haemoglobin")
    assert in_g_l is not None and in_g_dl is not None
    assert math.isclose(in_g_l.value, in_g_dl.value)
    assert in_g_l.code == in_g_dl.code == ("http://loinc.org", "718-7")


def test_mass_code_with_molar_unit_converts_by_unit() -> None:
    # Glucose mass code 2345-7 carrying mmol/L: the unit wins.
    value = facts_of([*pregnant(20), lab("glucose", 4.2, "mmol/L")]).latest("glucose")
    assert value is not None and math.isclose(value.value, 4.2)


def test_value_without_unit_is_never_graded() -> None:
    facts = facts_of([*pregnant(20), lab("potassium", 2.1, None)])
    assert facts.latest("potassium") is None
    problem = facts.unit_problem("potassium")
    assert problem is not None and problem.kind == "missing"


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "kind"),
    [
        ("haemoglobin", 105, "g/dL", "implausible"),  # 1050 g/L: really g/L mislabelled
        ("calcium_total", 2.1, "mg/dL", "implausible"),  # clinical.md: Ca 17861-6 < 4 mg/dL
        ("glucose", 4.5, "mg/dL", "ambiguous"),  # clinical.md: glucose 2345-7 < 35 mg/dL
        ("albumin", 3.4, "g/L", "implausible"),  # really g/dL
        ("potassium", 4.0, "mg/dL", "unconvertible"),
    ],
)
def test_sanity_checks_refuse_to_grade(analyte: str, value: float, unit: str, kind: str) -> None:
    facts = facts_of([*pregnant(20), lab(analyte, value, unit)])
    assert facts.latest(analyte) is None
    problem = facts.unit_problem(analyte)
    assert problem is not None and problem.kind == kind
