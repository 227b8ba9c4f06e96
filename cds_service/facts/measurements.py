"""Lab results, vital signs and bedside measurements in canonical units (clinical.md 1.3, 1.4).

Choosing the value: statuses final/amended/corrected are accepted, ``preliminary`` is
accepted and flagged (rules cap it at warning), everything else (entered-in-error,
cancelled, registered...) is ignored. Newest ``effective[x]`` wins, ties by ``issued``;
values are never averaged. A value whose unit is missing, not convertible or implausible
for its unit is not graded: it becomes a :class:`UnitProblem` (R24).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.facts.common import (
    ACCEPTED_RESULT_STATUSES,
    code_of,
    concept_keys,
    effective_time,
    reference_of,
    to_datetime,
)
from cds_service.facts.model import BloodPressure, Measurement, UnitProblem, UnitProblemKind
from cds_service.knowledge import codes as c
from cds_service.knowledge.analytes import ANALYTE_BY_CODE, ANALYTES, BP_PANEL, AnalyteDef
from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.policy import Policy
from cds_service.knowledge.systems import INTERPRETATION
from cds_service.knowledge.units import normalise_unit

_EPOCH = datetime.min.replace(tzinfo=UTC)

# Dipstick answers (SNOMED qualifier values, several public sources agree).
_DIPSTICK_CODES: Mapping[str, float] = {
    "260385009": 0.0,  # Negative
    "260405006": 0.5,  # Trace
    "260347006": 1.0,  # +
    "260348001": 2.0,  # ++
    "260349009": 3.0,  # +++
    "260350009": 4.0,  # ++++
}
_DIPSTICK_TEXT = re.compile(
    r"^\s*(neg(ative)?|nil|trace|tr|([1-4])\s*\+|(\+{1,4}))\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class _Raw:
    """One candidate value before selection."""

    analyte: str
    code: CodeKey
    when: datetime | None
    issued: datetime | None
    status: str
    interpretation: frozenset[str]
    reference: str | None
    value: float | None
    unit: str | None
    reported_unit: str | None
    problem: UnitProblemKind | None
    ref_low: float | None
    ref_high: float | None
    reported_value: float | None = None
    raw_unit: str | None = None

    @property
    def sort_key(self) -> tuple[datetime, datetime]:
        return (self.when or self.issued or _EPOCH, self.issued or _EPOCH)


def _interpretations(obs_or_component: Any) -> frozenset[str]:
    out: set[str] = set()
    for concept in getattr(obs_or_component, "interpretation", None) or []:
        for coding in getattr(concept, "coding", None) or []:
            system = getattr(coding, "system", None)
            if coding.code and (system in (None, INTERPRETATION)):
                out.add(str(coding.code))
    return frozenset(out)


def dipstick_grade(
    value_concept: Any, value_string: Any, quantity_g_per_l: float | None
) -> float | None:
    """A urine dipstick result as a grade: 0, 0.5 (trace), 1-4 ("+" count)."""
    for system, code in concept_keys(value_concept):
        if system == c.SNOMED and code in _DIPSTICK_CODES:
            return _DIPSTICK_CODES[code]
    texts = [
        value_string,
        getattr(value_concept, "text", None) if value_concept is not None else None,
    ]
    for text in texts:
        if isinstance(text, str):
            match = _DIPSTICK_TEXT.match(text)
            if match:
                word = match.group(1).lower()
                if word.startswith(("neg", "nil")):
                    return 0.0
                if word.startswith("tr"):
                    return 0.5
                if match.group(3):
                    return float(match.group(3))
                return float(len(match.group(4) or ""))
    if quantity_g_per_l is not None:
        # NICE/CG107 equivalence: 1+ ~0.3 g/L, 2+ ~1 g/L, 3+ ~3 g/L.
        if quantity_g_per_l >= 3.0:
            return 3.0
        if quantity_g_per_l >= 1.0:
            return 2.0
        if quantity_g_per_l >= 0.3:
            return 1.0
        if quantity_g_per_l >= 0.15:
            return 0.5
        return 0.0
    return None


def _grade_quantity(
    analyte: AnalyteDef, quantity: Any
) -> tuple[float | None, str | None, str | None, UnitProblemKind | None]:
    """(canonical value, canonical unit, reported UCUM unit, problem) for a Quantity."""
    if quantity is None or quantity.value is None:
        return None, None, None, "missing"
    value = float(quantity.value)
    ucum = normalise_unit(getattr(quantity, "code", None), getattr(quantity, "unit", None))
    if ucum is None:
        if analyte.unitless_ok and not (
            getattr(quantity, "code", None) or getattr(quantity, "unit", None)
        ):
            ucum = analyte.canonical_unit
        else:
            missing = not (getattr(quantity, "code", None) or getattr(quantity, "unit", None))
            return None, None, None, "missing" if missing else "unconvertible"
    converted = analyte.to_canonical(value, ucum)
    if converted is None:
        return None, None, ucum, "unconvertible"
    threshold = analyte.ambiguous_below.get(ucum)
    if threshold is not None and value < threshold:
        return None, None, ucum, "ambiguous"
    if analyte.plausible is not None:
        low, high = analyte.plausible
        if not low <= converted <= high:
            return None, None, ucum, "implausible"
    return converted, analyte.canonical_unit, ucum, None


def _reference_range(analyte: AnalyteDef, item: Any) -> tuple[float | None, float | None]:
    for rng in getattr(item, "referenceRange", None) or []:
        low = high = None
        for attr in ("low", "high"):
            q = getattr(rng, attr, None)
            if q is None or q.value is None:
                continue
            ucum = normalise_unit(getattr(q, "code", None), getattr(q, "unit", None))
            converted = analyte.to_canonical(float(q.value), ucum) if ucum else None
            if attr == "low":
                low = converted
            else:
                high = converted
        if low is not None or high is not None:
            return low, high
    return None, None


def _raw_value(
    analyte: AnalyteDef, code: CodeKey, item: Any, obs: Any, status: str, when: datetime | None
) -> _Raw:
    raw = _raw_value_inner(analyte, code, item, obs, status, when)
    quantity = getattr(item, "valueQuantity", None)
    if quantity is None:
        number = getattr(item, "valueInteger", None)
        return replace(raw, reported_value=float(number) if number is not None else None)
    reported = float(quantity.value) if quantity.value is not None else None
    unit_text = getattr(quantity, "code", None) or getattr(quantity, "unit", None)
    return replace(raw, reported_value=reported, raw_unit=unit_text)


def _raw_value_inner(
    analyte: AnalyteDef, code: CodeKey, item: Any, obs: Any, status: str, when: datetime | None
) -> _Raw:
    issued = to_datetime(getattr(obs, "issued", None))
    interpretation = _interpretations(item) | (
        _interpretations(obs) if item is not obs else frozenset()
    )
    reference = reference_of(obs)
    quantity = getattr(item, "valueQuantity", None)
    if analyte.kind == "ordinal":
        g_per_l = None
        reported: str | None = None
        if quantity is not None and quantity.value is not None:
            ucum = normalise_unit(getattr(quantity, "code", None), getattr(quantity, "unit", None))
            reported = ucum
            g_per_l = analyte.to_canonical(float(quantity.value), ucum) if ucum else None
        grade = dipstick_grade(
            getattr(item, "valueCodeableConcept", None), getattr(item, "valueString", None), g_per_l
        )
        problem: UnitProblemKind | None = None if grade is not None else "unconvertible"
        return _Raw(
            analyte.key,
            code,
            when,
            issued,
            status,
            interpretation,
            reference,
            grade,
            "{grade}",
            reported,
            problem,
            None,
            None,
        )
    if analyte.kind == "record":
        return _Raw(
            analyte.key,
            code,
            when,
            issued,
            status,
            interpretation,
            reference,
            None,
            None,
            None,
            None,
            None,
            None,
        )
    integer = getattr(item, "valueInteger", None)
    if quantity is None and integer is not None and analyte.unitless_ok:
        return _Raw(
            analyte.key,
            code,
            when,
            issued,
            status,
            interpretation,
            reference,
            float(integer),
            analyte.canonical_unit,
            analyte.canonical_unit,
            None,
            None,
            None,
        )
    value, unit, reported_unit, problem = _grade_quantity(analyte, quantity)
    low, high = _reference_range(analyte, item)
    return _Raw(
        analyte.key,
        code,
        when,
        issued,
        status,
        interpretation,
        reference,
        value,
        unit,
        reported_unit,
        problem,
        low,
        high,
    )


@dataclass(frozen=True)
class MeasurementFacts:
    measurements: Mapping[str, tuple[Measurement, ...]]
    unit_problems: tuple[UnitProblem, ...]
    blood_pressures: tuple[BloodPressure, ...]


def build_measurements(
    observations: tuple[Any, ...], now: datetime, policy: Policy
) -> MeasurementFacts:
    raws: list[_Raw] = []
    panel_bps: list[BloodPressure] = []
    for obs in observations:
        status = code_of(obs, "status") or "unknown"
        if status not in ACCEPTED_RESULT_STATUSES:
            continue
        when = effective_time(obs) or to_datetime(getattr(obs, "issued", None))
        keys = concept_keys(obs.code)
        if BP_PANEL.key in keys or any(
            ANALYTE_BY_CODE.get(k) in ("systolic_bp", "diastolic_bp") for k in _component_keys(obs)
        ):
            bp = _panel_bp(obs, status, when)
            if bp is not None:
                panel_bps.append(bp)
            continue
        analyte_key, code = _analyte_of(keys)
        if analyte_key is None or code is None:
            continue
        raws.append(_raw_value(ANALYTES[analyte_key], code, obs, obs, status, when))

    by_analyte: dict[str, list[_Raw]] = defaultdict(list)
    for raw in raws:
        by_analyte[raw.analyte].append(raw)

    measurements: dict[str, tuple[Measurement, ...]] = {}
    problems: list[UnitProblem] = []
    for key, items in by_analyte.items():
        analyte = ANALYTES[key]
        items.sort(key=lambda r: r.sort_key, reverse=True)
        valid = [
            r for r in items if r.problem is None and r.value is not None and r.unit is not None
        ]
        window = timedelta(days=policy.staleness_for(analyte.freshness))
        measurements[key] = tuple(_measurement(r, now, window) for r in valid)
        newest_valid = valid[0].sort_key if valid else None
        for r in items:
            if r.problem is None:
                continue
            if newest_valid is None or r.sort_key > newest_valid:
                problems.append(
                    UnitProblem(
                        key,
                        r.problem,
                        r.reported_value,
                        r.raw_unit,
                        r.code,
                        r.when,
                        r.status,
                        r.interpretation,
                        r.reference,
                    )
                )
                break  # only the newest problem per analyte matters

    bps = _blood_pressures(
        raws_bp=[r for r in raws if r.analyte in ("systolic_bp", "diastolic_bp")],
        panels=panel_bps,
        now=now,
        policy=policy,
    )
    problems.sort(key=lambda p: p.when or _EPOCH, reverse=True)
    return MeasurementFacts(measurements, tuple(problems), bps)


def _component_keys(obs: Any) -> list[CodeKey]:
    out: list[CodeKey] = []
    for comp in getattr(obs, "component", None) or []:
        out.extend(concept_keys(comp.code))
    return out


def _analyte_of(keys: list[CodeKey]) -> tuple[str | None, CodeKey | None]:
    for key in keys:
        found = ANALYTE_BY_CODE.get(key)
        if found is not None:
            return found, key
    return None, None


def _measurement(raw: _Raw, now: datetime, window: timedelta) -> Measurement:
    assert raw.value is not None and raw.unit is not None
    stamp = raw.when or raw.issued
    age = (now - stamp).total_seconds() / 86400 if stamp is not None else None
    stale = stamp is None or now - stamp > window
    return Measurement(
        analyte=raw.analyte,
        value=raw.value,
        unit=raw.unit,
        reported_value=raw.reported_value,
        reported_unit=raw.reported_unit,
        code=raw.code,
        when=raw.when,
        issued=raw.issued,
        status=raw.status,
        interpretation=raw.interpretation,
        reference_low=raw.ref_low,
        reference_high=raw.ref_high,
        reference=raw.reference,
        stale=stale,
        age_days=age,
    )


def _panel_bp(obs: Any, status: str, when: datetime | None) -> BloodPressure | None:
    values: dict[str, float] = {}
    for comp in getattr(obs, "component", None) or []:
        analyte_key, _ = _analyte_of(concept_keys(comp.code))
        if analyte_key not in ("systolic_bp", "diastolic_bp"):
            continue
        value, _, _, problem = _grade_quantity(
            ANALYTES[analyte_key], getattr(comp, "valueQuantity", None)
        )
        if problem is None and value is not None:
            values[analyte_key] = value
    if not values:
        return None
    ref = reference_of(obs)
    return BloodPressure(
        values.get("systolic_bp"), values.get("diastolic_bp"), when, status, (ref,) if ref else ()
    )


def _blood_pressures(
    raws_bp: list[_Raw], panels: list[BloodPressure], now: datetime, policy: Policy
) -> tuple[BloodPressure, ...]:
    """Panels as they are; separate SBP/DBP Observations paired within ``bp_pairing_minutes``."""
    pairing = timedelta(minutes=policy.bp_pairing_minutes)
    systolic = sorted(
        (r for r in raws_bp if r.analyte == "systolic_bp" and r.problem is None),
        key=lambda r: r.sort_key,
    )
    diastolic = [r for r in raws_bp if r.analyte == "diastolic_bp" and r.problem is None]
    used: set[int] = set()
    readings = list(panels)
    for s in systolic:
        best: tuple[timedelta, int] | None = None
        for i, d in enumerate(diastolic):
            if i in used or s.when is None or d.when is None:
                continue
            gap = abs(s.when - d.when)
            if gap <= pairing and (best is None or gap < best[0]):
                best = (gap, i)
        if best is not None:
            used.add(best[1])
            d = diastolic[best[1]]
            status = "preliminary" if "preliminary" in (s.status, d.status) else s.status
            refs = tuple(r for r in (s.reference, d.reference) if r)
            readings.append(BloodPressure(s.value, d.value, s.when, status, refs))
        else:
            readings.append(
                BloodPressure(
                    s.value, None, s.when, s.status, (s.reference,) if s.reference else ()
                )
            )
    for i, d in enumerate(diastolic):
        if i not in used:
            readings.append(
                BloodPressure(
                    None, d.value, d.when, d.status, (d.reference,) if d.reference else ()
                )
            )
    window = timedelta(days=policy.staleness_for("vital"))
    out = [
        BloodPressure(
            b.systolic,
            b.diastolic,
            b.when,
            b.status,
            b.references,
            stale=b.when is None or now - b.when > window,
        )
        for b in readings
    ]
    out.sort(key=lambda b: b.when or _EPOCH, reverse=True)
    return tuple(out)
