"""The typed, frozen patient snapshot the rules read (``PatientFacts``).

Built once per call by :func:`cds_service.facts.build_facts`; rules never see FHIR JSON.
All values are in canonical units (knowledge.analytes); every value keeps the resource
reference, date and status it came from so a card can show exactly what it used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, Protocol, cast

from cds_service.fhir.data import DataGap
from cds_service.fhir.parse import ValidationStats
from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.policy import DEFAULT_POLICY, Policy

Laterality = Literal["left", "right", "bilateral"]


def fmt_number(value: float, decimals: int = 1) -> str:
    """A clinical number without float noise: 2.40 -> "2.4", 105.0 -> "105"."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_date(when: datetime | date | None) -> str:
    if when is None:
        return "date unknown"
    if isinstance(when, datetime):
        return when.date().isoformat()
    return when.isoformat()


@dataclass(frozen=True)
class Evidence:
    """One data item a finding used: shown verbatim in the card detail."""

    label: str
    value: str | None = None
    when: datetime | None = None
    status: str | None = None
    reference: str | None = None
    code: CodeKey | None = None

    def line(self) -> str:
        parts = [self.label]
        if self.value:
            parts.append(self.value)
        meta = [fmt_date(self.when)]
        if self.status:
            meta.append(self.status)
        text = " ".join(parts) + f" ({', '.join(meta)})"
        if self.code:
            text += f" [{_system_name(self.code[0])} {self.code[1]}]"
        return text


def _system_name(system: str) -> str:
    return {
        "http://loinc.org": "LOINC",
        "http://snomed.info/sct": "SNOMED CT",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
        "http://www.whocc.no/atc": "ATC",
        "urn:prenatal-cds:finding": "prenatal-cds",
    }.get(system, system)


@dataclass(frozen=True)
class Measurement:
    """A valid, gradable result in canonical units (one Observation or BP component)."""

    analyte: str
    value: float
    unit: str
    reported_value: float | None
    reported_unit: str | None
    code: CodeKey
    when: datetime | None
    issued: datetime | None
    status: str
    interpretation: frozenset[str] = frozenset()
    reference_low: float | None = None
    reference_high: float | None = None
    reference: str | None = None
    stale: bool = False
    age_days: float | None = None

    @property
    def preliminary(self) -> bool:
        return self.status == "preliminary"

    @property
    def label(self) -> str:
        return ANALYTES[self.analyte].label

    def value_text(self) -> str:
        """Canonical value and unit, e.g. "105 g/L"; "2+" for dipstick grades."""
        analyte = ANALYTES[self.analyte]
        if analyte.kind == "ordinal":
            return _grade_text(self.value)
        unit = analyte.display_unit
        number = fmt_number(self.value, analyte.decimals)
        if unit.startswith(("/", "%", "°")):
            return f"{number}{unit}"
        return f"{number} {unit}".strip()

    def reported_text(self) -> str:
        """The value as reported when it differs from the canonical text."""
        if self.reported_value is None or self.reported_unit is None:
            return self.value_text()
        if self.reported_unit == self.unit:
            return self.value_text()
        reported = fmt_number(self.reported_value, 2)
        return f"{self.value_text()} (reported {reported} {self.reported_unit})"

    def evidence(self) -> Evidence:
        status = self.status + (", stale" if self.stale else "")
        if self.interpretation:
            status += ", flag " + "/".join(sorted(self.interpretation))
        return Evidence(
            self.label, self.reported_text(), self.when, status, self.reference, self.code
        )


def _grade_text(grade: float) -> str:
    if grade <= 0:
        return "negative"
    if grade < 1:
        return "trace"
    return f"{int(grade)}+"


UnitProblemKind = Literal["missing", "unconvertible", "implausible", "ambiguous"]


@dataclass(frozen=True)
class UnitProblem:
    """A result that could not be graded because of its unit (clinical.md 1.3, 1.4).

    Kept only when it is newer than the latest gradable value of the same analyte.
    """

    analyte: str
    kind: UnitProblemKind
    reported_value: float | None
    reported_unit: str | None
    code: CodeKey
    when: datetime | None
    status: str
    interpretation: frozenset[str] = frozenset()
    reference: str | None = None

    @property
    def label(self) -> str:
        return ANALYTES[self.analyte].label

    def evidence(self) -> Evidence:
        value = "no value" if self.reported_value is None else fmt_number(self.reported_value, 2)
        unit = self.reported_unit or "no unit"
        status = self.status
        if self.interpretation:
            status += ", flag " + "/".join(sorted(self.interpretation))
        return Evidence(
            self.label, f"{value} [{unit}]", self.when, status, self.reference, self.code
        )


@dataclass(frozen=True)
class BloodPressure:
    """One blood-pressure reading: a panel, or a systolic/diastolic pair within 5 minutes."""

    systolic: float | None
    diastolic: float | None
    when: datetime | None
    status: str
    references: tuple[str, ...] = ()
    stale: bool = False

    @property
    def preliminary(self) -> bool:
        return self.status == "preliminary"

    def text(self) -> str:
        s = "?" if self.systolic is None else fmt_number(self.systolic, 0)
        d = "?" if self.diastolic is None else fmt_number(self.diastolic, 0)
        return f"{s}/{d} mmHg"

    def evidence(self) -> Evidence:
        status = self.status + (", stale" if self.stale else "")
        ref = self.references[0] if self.references else None
        return Evidence("BP", self.text(), self.when, status, ref, ("http://loinc.org", "85354-9"))

    def at_least(self, systolic: float, diastolic: float) -> bool:
        """SBP >= systolic OR DBP >= diastolic ("and/or" as NICE NG133 words it)."""
        return (self.systolic is not None and self.systolic >= systolic) or (
            self.diastolic is not None and self.diastolic >= diastolic
        )


@dataclass(frozen=True)
class SymptomFact:
    """A symptom, sign or condition statement (clinical.md F): present or looked-for-absent."""

    key: str
    label: str
    present: bool
    when: datetime | None
    recorded: datetime | None
    resource_type: str
    status: str
    laterality: Laterality | None = None
    reference: str | None = None
    code: CodeKey | None = None

    def evidence(self) -> Evidence:
        label = self.label + (f" ({self.laterality})" if self.laterality else "")
        value = None if self.present else "absent"
        return Evidence(
            label, value, self.when or self.recorded, self.status, self.reference, self.code
        )


@dataclass(frozen=True)
class MedicationFact:
    """An active medicine (MedicationRequest / MedicationStatement) with its drug classes."""

    classes: frozenset[str]
    codes: tuple[CodeKey, ...]
    label: str
    status: str
    started: datetime | None
    reference: str | None
    parenteral: bool | None = None

    def evidence(self) -> Evidence:
        route = {True: ", parenteral", False: ", oral", None: ""}[self.parenteral]
        return Evidence(
            self.label,
            None,
            self.started,
            self.status + route,
            self.reference,
            self.codes[0] if self.codes else None,
        )


@dataclass(frozen=True)
class OrderFact:
    """An order in flight: a hook draft order, or a draft/active ServiceRequest in the record."""

    resource_type: str
    id: str | None
    codes: frozenset[CodeKey]
    classes: frozenset[str]
    status: str
    authored: datetime | None
    from_hook: bool
    label: str = ""

    @property
    def reference(self) -> str | None:
        return f"{self.resource_type}/{self.id}" if self.id else None


class PregnancyStatus(StrEnum):
    PREGNANT = "pregnant"
    POSTPARTUM = "postpartum"
    NOT_PREGNANT = "not-pregnant"
    UNKNOWN = "unknown"
    NO_EVIDENCE = "no-evidence"


@dataclass(frozen=True)
class PregnancyState:
    """Pregnancy status as of ``PatientFacts.now`` with the evidence behind it (1.1, 1.2)."""

    status: PregnancyStatus
    evidence: tuple[Evidence, ...] = ()
    conflict: bool = False
    conflict_evidence: tuple[Evidence, ...] = ()
    edd: date | None = None
    gestational_age_days: int | None = None
    trimester: int | None = None
    delivery_date: date | None = None
    days_postpartum: int | None = None
    delivery_estimated: bool = False
    episode_start: date | None = None

    @property
    def pregnant(self) -> bool:
        return self.status is PregnancyStatus.PREGNANT

    @property
    def postpartum(self) -> bool:
        return self.status is PregnancyStatus.POSTPARTUM

    def ga_text(self) -> str | None:
        """ "34+2w" (weeks+days), or ``None`` if unknown."""
        days = self.gestational_age_days
        if days is None:
            return None
        return f"{days // 7}+{days % 7}w"

    def when_text(self) -> str:
        """Where the patient is in pregnancy, for card text: "at 34+2w", "postpartum day 5"."""
        if self.status is PregnancyStatus.PREGNANT:
            ga = self.ga_text()
            return f"at {ga}" if ga else "in pregnancy"
        if self.status is PregnancyStatus.POSTPARTUM:
            if self.days_postpartum is not None and not self.delivery_estimated:
                return f"postpartum day {self.days_postpartum}"
            return "postpartum"
        return ""


@dataclass(frozen=True)
class PatientInfo:
    gender: str | None = None
    birth_date: date | None = None
    age_years: int | None = None
    sex_for_clinical_use: str | None = None


def _freeze(m: Mapping[str, tuple[object, ...]]) -> Mapping[str, tuple[object, ...]]:
    return MappingProxyType(dict(m))


class Screened(Protocol):
    """Values that can tell, before validating anything, whether a flag may be present."""

    def may_carry(self, interpretations: frozenset[str]) -> bool: ...

    def first_index(self) -> int: ...


@dataclass(frozen=True)
class PatientFacts:
    """Everything the rules may read about one patient, as of ``now``.

    ``measurements[analyte]`` and ``symptoms[key]`` are newest first. Use the helper
    methods below rather than indexing, so that status and staleness are applied the same
    way in every rule.

    ``measurements``, ``blood_pressures`` and ``unit_problems`` are lazy sequences
    (``facts.measurements``): each Observation is validated (``fhir.read_models``) only when a
    reader reaches it, newest first, so read as little as the rule needs (``latest``,
    ``within``, ``bps_within`` stop at the first value they do not need).
    """

    now: datetime
    patient_id: str
    hook: str
    pregnancy: PregnancyState
    patient: PatientInfo = field(default_factory=PatientInfo)
    measurements: Mapping[str, Sequence[Measurement]] = field(default_factory=dict)
    unit_problems: Sequence[UnitProblem] = ()
    blood_pressures: Sequence[BloodPressure] = ()
    symptoms: Mapping[str, tuple[SymptomFact, ...]] = field(default_factory=dict)
    medications: tuple[MedicationFact, ...] = ()
    orders: tuple[OrderFact, ...] = ()
    data_gaps: tuple[DataGap, ...] = ()
    encounter_id: str | None = None
    invalid_drafts: int = 0
    # Counts of the call's FHIR validation; validation is lazy (facts.measurements), so the
    # count grows as rules read values.
    validation: ValidationStats = field(default_factory=ValidationStats, compare=False, repr=False)
    # order-select: references ("MedicationRequest/x") of the newly selected draft orders.
    selections: tuple[str, ...] = ()
    policy: Policy = DEFAULT_POLICY

    # ---- measurements ----
    def latest(self, analyte: str) -> Measurement | None:
        """The most recent gradable value (may be stale or preliminary: check the flags)."""
        values = self.measurements.get(analyte, ())
        return values[0] if values else None

    def fresh(self, analyte: str) -> Measurement | None:
        """The most recent value if it is within its staleness window, else ``None``."""
        value = self.latest(analyte)
        return value if value is not None and not value.stale else None

    def history(self, analyte: str) -> tuple[Measurement, ...]:
        return tuple(self.measurements.get(analyte, ()))

    def within(self, analyte: str, days: float) -> tuple[Measurement, ...]:
        """Values of ``analyte`` measured in the last ``days`` days (newest first)."""
        cutoff = self.now - timedelta(days=days)
        out: list[Measurement] = []
        # Newest first (undated last): stop at the first older value, so that a lazily
        # validated history is read only as far back as the window goes.
        for m in self.measurements.get(analyte, ()):
            if m.when is None or m.when < cutoff:
                break
            out.append(m)
        return tuple(out)

    def critical_flags(self, interpretations: frozenset[str]) -> tuple[Measurement, ...]:
        """The latest value of each analyte when it is current (not stale) and its
        interpretation includes one of ``interpretations``; in ``measurements`` order."""
        found: list[tuple[int, Measurement]] = []
        for position, values in enumerate(self.measurements.values()):
            screened = values if hasattr(values, "may_carry") else None
            if screened is not None and not cast(Screened, screened).may_carry(interpretations):
                continue  # no Observation of this analyte carries such a code: none validated
            latest = values[0] if values else None
            if latest is None or latest.stale or not latest.interpretation & interpretations:
                continue
            order = position if screened is None else cast(Screened, screened).first_index()
            found.append((order, latest))
        found.sort(key=lambda item: item[0])
        return tuple(m for _, m in found)

    @property
    def invalid_resources(self) -> int:
        """Resources skipped as invalid so far (the hook's draft orders included)."""
        return self.validation.invalid + self.invalid_drafts

    def unit_problem(self, analyte: str) -> UnitProblem | None:
        return next((p for p in self.unit_problems if p.analyte == analyte), None)

    # ---- blood pressure ----
    def latest_bp(self) -> BloodPressure | None:
        return self.blood_pressures[0] if self.blood_pressures else None

    def bps_within(self, hours: float) -> tuple[BloodPressure, ...]:
        cutoff = self.now - timedelta(hours=hours)
        out: list[BloodPressure] = []
        for b in self.blood_pressures:  # newest first, undated last
            if b.when is None or b.when < cutoff:
                break
            out.append(b)
        return tuple(out)

    # ---- symptoms ----
    def symptom(self, key: str, within_days: float | None = None) -> SymptomFact | None:
        """The latest statement about ``key`` if it says *present* (and is recent enough).

        ``within_days=None`` uses ``policy.acute_symptom_days``. An undated statement
        counts as current (missing a red flag is worse than a stale card).
        """
        statements = self.symptoms.get(key, ())
        if not statements or not statements[0].present:
            return None
        latest = statements[0]
        days = self.policy.acute_symptom_days if within_days is None else within_days
        when = latest.when or latest.recorded
        if when is not None and when < self.now - timedelta(days=days):
            return None
        return latest

    def symptoms_present(
        self, keys: Iterable[str], within_days: float | None = None
    ) -> tuple[SymptomFact, ...]:
        found = (self.symptom(k, within_days) for k in keys)
        return tuple(s for s in found if s is not None)

    def symptom_absent(self, key: str) -> bool:
        """The latest statement says the finding was looked for and is absent."""
        statements = self.symptoms.get(key, ())
        return bool(statements) and not statements[0].present

    # ---- medicines and orders ----
    def on(self, *classes: str) -> tuple[MedicationFact, ...]:
        """Active medicines in any of ``classes`` (knowledge.codes.MEDICATION_CLASSES keys)."""
        wanted = set(classes)
        return tuple(m for m in self.medications if m.classes & wanted)

    def hook_drafts(self) -> tuple[OrderFact, ...]:
        return tuple(o for o in self.orders if o.from_hook)

    @property
    def in_pregnancy_or_postpartum(self) -> bool:
        return self.pregnancy.status in (PregnancyStatus.PREGNANT, PregnancyStatus.POSTPARTUM)

    @property
    def ga_days(self) -> int | None:
        return self.pregnancy.gestational_age_days if self.pregnancy.pregnant else None

    @property
    def trimester(self) -> int | None:
        return self.pregnancy.trimester if self.pregnancy.pregnant else None
