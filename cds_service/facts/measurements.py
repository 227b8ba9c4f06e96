"""Lab results, vital signs and bedside measurements in canonical units (clinical.md 1.3, 1.4).

Choosing the value: statuses final/amended/corrected are accepted, ``preliminary`` is
accepted and flagged (rules cap it at warning), everything else (entered-in-error,
cancelled, registered...) is ignored. Newest ``effective[x]`` wins, ties by ``issued``;
values are never averaged. A value whose unit is missing, not convertible or implausible
for its unit is not graded: it becomes a :class:`UnitProblem` (R24).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar, overload

from cds_service.facts.common import (
    ACCEPTED_RESULT_STATUSES,
    code_of,
    concept_keys,
    effective_time,
    raw_effective_time,
    reference_of,
    to_datetime,
)
from cds_service.facts.model import BloodPressure, Measurement, UnitProblem, UnitProblemKind
from cds_service.fhir.parse import Candidate, raw_codes, raw_component_codes
from cds_service.knowledge import codes as c
from cds_service.knowledge.analytes import ANALYTE_BY_CODE, ANALYTES, BP_PANEL, AnalyteDef
from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.dipstick import ANSWER_GRADES, grade_from_g_per_l
from cds_service.knowledge.policy import Policy
from cds_service.knowledge.systems import INTERPRETATION
from cds_service.knowledge.units import normalise_unit

_EPOCH = datetime.min.replace(tzinfo=UTC)

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
        if system == c.SNOMED and code in ANSWER_GRADES:
            return ANSWER_GRADES[code]
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
        return grade_from_g_per_l(quantity_g_per_l)
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
    quantity = getattr(item, "valueQuantity", None)
    if quantity is None:
        number = getattr(item, "valueInteger", None)
        reported = float(number) if number is not None else None
        unit_text = None
    else:
        reported = float(quantity.value) if quantity.value is not None else None
        unit_text = getattr(quantity, "code", None) or getattr(quantity, "unit", None)
    return _raw_value_inner(analyte, code, item, obs, status, when, reported, unit_text)


def _raw_value_inner(
    analyte: AnalyteDef,
    code: CodeKey,
    item: Any,
    obs: Any,
    status: str,
    when: datetime | None,
    reported_value: float | None,
    raw_unit: str | None,
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
            reported_value,
            raw_unit,
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
            reported_value,
            raw_unit,
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
            reported_value,
            raw_unit,
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
        reported_value,
        raw_unit,
    )


@dataclass(frozen=True)
class MeasurementFacts:
    measurements: Mapping[str, Series]
    unit_problems: UnitProblems
    blood_pressures: BloodPressures


# ---------------------------------------------------------------------------------------
# Choosing on raw JSON, validating lazily
#
# Every kept Observation of an analyte becomes an _Entry with its sort key read from the raw
# JSON; a Series validates entries newest first, only as far as a reader goes (``latest``
# validates until the first valid, gradable value; ``within(…, 7)`` until the first value
# older than 7 days). The raw key equals the typed one for every resource that validates
# (same strings, parsed the same way), and entries keep their input order on ties, so the
# values and their order are exactly those of validating everything first.
# ---------------------------------------------------------------------------------------

_BP_ANALYTES = frozenset({"systolic_bp", "diastolic_bp"})


class _RawQuantity(NamedTuple):
    """A raw Quantity dict seen through the attributes ``_grade_quantity`` reads."""

    value: Any
    code: Any
    unit: Any


def _raw_sort_key(raw: dict[str, Any]) -> tuple[datetime, datetime]:
    """``_Raw.sort_key`` of an Observation, from its raw JSON."""
    issued = to_datetime(raw.get("issued"))
    when = raw_effective_time(raw) or issued
    return (when or _EPOCH, issued or _EPOCH)


def _typed_when(obs: Any) -> datetime | None:
    return effective_time(obs) or to_datetime(getattr(obs, "issued", None))


class _Entry:
    """One kept Observation of an analyte (or a BP panel), not validated yet."""

    __slots__ = ("_key", "candidate", "code")

    def __init__(self, candidate: Candidate, code: CodeKey | None) -> None:
        self.candidate = candidate
        self.code = code
        self._key: tuple[datetime, datetime] | None = None

    @property
    def key(self) -> tuple[datetime, datetime]:
        if self._key is None:
            self._key = _raw_sort_key(self.candidate.raw)
        return self._key

    def _model(self) -> tuple[Any, str] | None:
        obs = self.candidate.model()
        if obs is None:
            return None
        status = code_of(obs, "status") or "unknown"
        if status not in ACCEPTED_RESULT_STATUSES:  # filtered on raw JSON already
            return None
        return obs, status

    def read(self, analyte: AnalyteDef) -> _Raw | None:
        """The typed candidate value, or ``None`` when the resource is not valid FHIR."""
        found = self._model()
        if found is None or self.code is None:
            return None
        obs, status = found
        return _raw_value(analyte, self.code, obs, obs, status, _typed_when(obs))

    def read_panel(self) -> BloodPressure | None:
        found = self._model()
        if found is None:
            return None
        obs, status = found
        return _panel_bp(obs, status, _typed_when(obs))

    def may_have_problem(self, analyte: AnalyteDef) -> bool:
        """``False`` only if this value certainly grades without a UnitProblem when the
        resource validates (the typed reading sees the same strings and numbers)."""
        raw = self.candidate.raw
        if analyte.kind == "record":
            return False
        if analyte.kind == "ordinal":
            concept = raw.get("valueCodeableConcept")
            return not any(
                system == c.SNOMED and code in ANSWER_GRADES for system, code in raw_codes(concept)
            )
        quantity = raw.get("valueQuantity")
        if quantity is None:
            return not (analyte.unitless_ok and raw.get("valueInteger") is not None)
        if not isinstance(quantity, dict):
            return True
        value, code, unit = quantity.get("value"), quantity.get("code"), quantity.get("unit")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True
        if not isinstance(code, (str, type(None))) or not isinstance(unit, (str, type(None))):
            return True
        try:
            return _grade_quantity(analyte, _RawQuantity(value, code, unit))[3] is not None
        except (ArithmeticError, ValueError, TypeError):
            return True

    def may_carry(self, interpretations: frozenset[str]) -> bool:
        """Whether any interpretation coding of the raw resource has one of these codes."""
        concepts = self.candidate.raw.get("interpretation")
        if not isinstance(concepts, list):
            return False
        for concept in concepts:
            codings = concept.get("coding") if isinstance(concept, dict) else None
            if not isinstance(codings, list):
                continue
            for coding in codings:
                code = coding.get("code") if isinstance(coding, dict) else None
                if isinstance(code, str) and code in interpretations:
                    return True
        return False


_T = TypeVar("_T")


class _LazySequence(Sequence[_T]):
    """A read-only sequence filled on demand: subclasses produce one item per ``_advance``.

    Reading ``[0]``, ``bool()`` or the first items of an iteration only does the work (here:
    validation) for what is read; ``len`` and slices read everything.
    """

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[_T] = []

    def _advance(self) -> bool:
        """Read the next entry (it may add nothing); ``False`` when none is left."""
        raise NotImplementedError

    def _fill(self, count: int) -> bool:
        while len(self._items) < count and self._advance():
            pass
        return len(self._items) >= count

    def _fill_all(self) -> None:
        while self._advance():
            pass

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_T]: ...

    def __getitem__(self, index: int | slice) -> _T | Sequence[_T]:
        if isinstance(index, slice):
            self._fill_all()
            return tuple(self._items[index])
        if index < 0:
            self._fill_all()
        elif not self._fill(index + 1):
            raise IndexError(index)
        return self._items[index]

    def __len__(self) -> int:
        self._fill_all()
        return len(self._items)

    def __bool__(self) -> bool:
        return self._fill(1)

    def __iter__(self) -> Iterator[_T]:
        i = 0
        while self._fill(i + 1):
            yield self._items[i]
            i += 1


class Series(_LazySequence[Measurement]):
    """The gradable values of one analyte, newest first, validated as they are read.

    Behaves as the tuple of every valid, gradable value (``values[0]``, ``bool(values)``,
    iteration, ``len``); reading stops validating as soon as the reader stops.
    """

    __slots__ = (
        "_entries",
        "_first_key",
        "_indexes",
        "_next",
        "_now",
        "_problem",
        "_stale_before",
        "_window",
        "analyte",
    )

    def __init__(
        self,
        analyte: AnalyteDef,
        entries: list[_Entry],
        now: datetime,
        window: timedelta,
        stale_before: datetime | None = None,
    ) -> None:
        super().__init__()
        self.analyte = analyte
        self._entries = entries  # input order until the first read sorts them
        self._next = -1
        self._indexes: list[int] = []
        self._first_key: tuple[datetime, datetime] | None = None
        self._problem: _Raw | None = None
        self._now = now
        self._window = window
        self._stale_before = stale_before

    def _advance(self) -> bool:
        """Read the next entry; ``False`` when none is left."""
        if self._next < 0:
            if len(self._entries) > 1:  # newest first, input order on ties (stable sort)
                self._entries = sorted(self._entries, key=lambda e: e.key, reverse=True)
            self._next = 0
        if self._next >= len(self._entries):
            return False
        entry = self._entries[self._next]
        self._next += 1
        raw = entry.read(self.analyte)
        if raw is None:
            return True
        if raw.problem is None and raw.value is not None and raw.unit is not None:
            m = _measurement(raw, self._now, self._window)
            if (
                self._stale_before is not None
                and m.when is not None
                and m.when < self._stale_before
            ):
                m = replace(m, stale=True)
            if not self._items:
                self._first_key = raw.sort_key
            self._items.append(m)
            self._indexes.append(entry.candidate.index)
        elif raw.problem is not None and not self._items and self._problem is None:
            self._problem = raw
        return True

    def __repr__(self) -> str:
        return f"Series({self.analyte.key!r}, read={len(self._items)}, of={len(self._entries)})"

    @property
    def entries(self) -> int:
        """How many candidate Observations this analyte has (validated or not)."""
        return len(self._entries)

    def unit_problem(self) -> _Raw | None:
        """The newest value that could not be graded, if newer than the newest gradable one.

        Once the latest value has been read this is already known. Before, the raw JSON is
        screened first: when no Observation of the analyte can fail grading, there is no
        problem and nothing is validated; otherwise the values down to the newest gradable
        one are validated.
        """
        if self._next < 0 and not any(e.may_have_problem(self.analyte) for e in self._entries):
            return None
        self._fill(1)
        problem = self._problem
        if problem is None:
            return None
        if self._first_key is not None and not problem.sort_key > self._first_key:
            return None
        return problem

    def may_carry(self, interpretations: frozenset[str]) -> bool:
        """Whether any of its Observations has one of these interpretation codes (raw JSON):
        ``False`` means no value of this analyte can carry them, nothing validated."""
        return any(e.may_carry(interpretations) for e in self._entries)

    def first_index(self) -> int:
        """Input position of this analyte's first valid Observation (the order in which the
        analytes appeared when every Observation was validated up front)."""
        for entry in sorted(self._entries, key=lambda e: e.candidate.index):
            if entry._model() is not None:
                return entry.candidate.index
        return len(self._entries) + 1_000_000

    def indexed(self) -> list[tuple[int, Measurement]]:
        """Every value with its input position (all entries validated)."""
        self._fill_all()
        return list(zip(self._indexes, self._items, strict=True))


class UnitProblems(Sequence[UnitProblem]):
    """The newest ungradable value of each analyte when newer than its newest gradable one
    (R24), newest first; worked out on first read, when the rules that read values have
    already validated most of what it needs."""

    __slots__ = ("_items", "_series")

    def __init__(self, series: Mapping[str, Series]) -> None:
        self._series = series
        self._items: tuple[UnitProblem, ...] | None = None

    def _all(self) -> tuple[UnitProblem, ...]:
        if self._items is None:
            found: list[tuple[int, UnitProblem]] = []
            for key, values in self._series.items():
                r = values.unit_problem()
                if r is None or r.problem is None:
                    continue
                problem = UnitProblem(
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
                found.append((values.first_index(), problem))
            found.sort(key=lambda item: item[0])  # the analytes' order of appearance
            problems = [p for _, p in found]
            problems.sort(key=lambda p: p.when or _EPOCH, reverse=True)
            self._items = tuple(problems)
        return self._items

    @overload
    def __getitem__(self, index: int) -> UnitProblem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[UnitProblem]: ...

    def __getitem__(self, index: int | slice) -> UnitProblem | Sequence[UnitProblem]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[UnitProblem]:
        return iter(self._all())

    def __repr__(self) -> str:
        return f"UnitProblems({self._all()!r})"


class BloodPressures(_LazySequence[BloodPressure]):
    """Every BP reading newest first: panels validated as they are read, merged with the
    readings paired from separate systolic/diastolic Observations (panels first on ties)."""

    __slots__ = ("_now", "_p", "_paired", "_panels", "_q", "_window")

    def __init__(
        self,
        panels: list[_Entry],
        paired: list[BloodPressure],
        now: datetime,
        window: timedelta,
    ) -> None:
        super().__init__()
        self._panels = panels  # input order until the first read sorts them
        self._paired = sorted(paired, key=lambda b: b.when or _EPOCH, reverse=True)
        self._p = -1
        self._q = 0
        self._now = now
        self._window = window

    def _stale(self, b: BloodPressure) -> BloodPressure:
        return BloodPressure(
            b.systolic,
            b.diastolic,
            b.when,
            b.status,
            b.references,
            stale=b.when is None or self._now - b.when > self._window,
        )

    def _advance(self) -> bool:
        if self._p < 0:
            if len(self._panels) > 1:  # newest first, input order on ties (stable sort)
                self._panels = sorted(self._panels, key=lambda e: e.key[0], reverse=True)
            self._p = 0
        panel = self._panels[self._p] if self._p < len(self._panels) else None
        pair = self._paired[self._q] if self._q < len(self._paired) else None
        if panel is None and pair is None:
            return False
        if panel is not None and (pair is None or panel.key[0] >= (pair.when or _EPOCH)):
            self._p += 1
            reading = panel.read_panel()
            if reading is not None:
                self._items.append(self._stale(reading))
        else:
            assert pair is not None
            self._q += 1
            self._items.append(self._stale(pair))
        return True

    def __repr__(self) -> str:
        return f"BloodPressures(read={len(self._items)})"


def build_measurements(
    observations: Sequence[Candidate],
    now: datetime,
    policy: Policy,
    stale_before: Mapping[str, datetime] | None = None,
) -> MeasurementFacts:
    """Group kept Observations by analyte on raw JSON; validate only what is read.

    ``stale_before``: per analyte, values taken before this time are stale whatever their
    age (Hb taken before iron started).
    """
    by_analyte: dict[str, list[_Entry]] = {}
    panels: list[_Entry] = []
    for candidate in observations:
        raw = candidate.raw
        status = raw.get("status")
        if not isinstance(status, str) or status not in ACCEPTED_RESULT_STATUSES:
            continue
        keys = candidate.codes
        if BP_PANEL.key in keys or (
            "component" in raw
            and any(ANALYTE_BY_CODE.get(k) in _BP_ANALYTES for k in raw_component_codes(raw))
        ):
            panels.append(_Entry(candidate, None))
            continue
        analyte_key, code = _analyte_of(keys)
        if analyte_key is None or code is None:
            continue
        entries = by_analyte.get(analyte_key)
        if entries is None:
            by_analyte[analyte_key] = [_Entry(candidate, code)]
        else:
            entries.append(_Entry(candidate, code))

    restale = stale_before or {}
    series: dict[str, Series] = {}
    for key, entries in by_analyte.items():
        analyte = ANALYTES[key]
        window = timedelta(days=policy.staleness_for(analyte.freshness))
        series[key] = Series(analyte, entries, now, window, restale.get(key))

    paired = _blood_pressures(series.get("systolic_bp"), series.get("diastolic_bp"), policy)
    bps = BloodPressures(panels, paired, now, timedelta(days=policy.staleness_for("vital")))
    return MeasurementFacts(MappingProxyType(series), UnitProblems(series), bps)


def _analyte_of(keys: Sequence[CodeKey]) -> tuple[str | None, CodeKey | None]:
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
        if analyte_key not in _BP_ANALYTES:
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


def _sort_key(m: Measurement) -> tuple[datetime, datetime]:
    return (m.when or m.issued or _EPOCH, m.issued or _EPOCH)


def _blood_pressures(
    systolic_values: Series | None, diastolic_values: Series | None, policy: Policy
) -> list[BloodPressure]:
    """Separate SBP/DBP Observations paired within ``bp_pairing_minutes`` (staleness is set
    by :class:`BloodPressures`). Pairing walks every separate reading, oldest first."""
    if systolic_values is None and diastolic_values is None:
        return []
    pairing = timedelta(minutes=policy.bp_pairing_minutes)
    # Input order first (ties keep it), then oldest first, as when everything was validated.
    systolic = sorted(
        (m for _, m in sorted(systolic_values.indexed() if systolic_values else [])),
        key=_sort_key,
    )
    diastolic = [m for _, m in sorted(diastolic_values.indexed() if diastolic_values else [])]
    used: set[int] = set()
    readings: list[BloodPressure] = []
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
    return readings
