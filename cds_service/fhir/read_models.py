"""Typed FHIR R4 views of the elements the fact builders read, validated by pydantic-core.

Why not the full ``fhir.resources`` models on the request path: validating one Observation
with them costs 100-500 µs (their per-element validators run in Python), which was most of a
hook call. These models hold only the elements ``cds_service.facts`` reads and check them
with FHIR R4's own rules, in Rust (pydantic-core), at a few µs per resource:

* primitive types by the R4 regular expressions: ``code``, ``id``, ``string`` (not empty),
  ``date``, ``dateTime`` (a time needs a zone) and ``instant``, plus a calendar check
  (no 30 February); a date is a JSON string (``fhir.resources`` also takes a number, as
  seconds since 1970: that is not FHIR JSON); ``decimal`` is a JSON number (or a numeric
  string, as ``fhir.resources`` accepts), never a boolean, NaN or infinity;
* cardinality: a list element must be a list, a single element must not be one; required
  elements the builders read (``Observation.status`` and ``code``, a request's ``status``
  and ``medication[x]``, ``Extension.url``) must be present;
* choice types: at most one ``value[x]`` of those read.

A resource whose *read* elements break these rules is skipped and counted, exactly as
before. An element the builders never read is not checked: a result carrying a clinically
valid value is used even if, say, its ``performer`` is malformed, because dropping a
potassium of 2.0 mmol/L over a bad ``performer`` would be a missed red flag. The differential
test (``tests/fhir/test_read_models.py``) checks, on fixtures and generated resources, that
every resource ``fhir.resources`` accepts is accepted here with the same values.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator

# --- primitive types (FHIR R4 datatypes page, "Primitive Types": regex column) -------------

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"

DATE_PATTERN = rf"^{_YEAR}(-{_MONTH}(-{_DAY})?)?$"
DATETIME_PATTERN = rf"^{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?$"
INSTANT_PATTERN = rf"^{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}$"
CODE_PATTERN = r"^[^\s]+(\s[^\s]+)*$"
# R4 caps an id at 64 characters; fhir.resources does not, nor do we (a longer id is
# still the id of a result that counts).
ID_PATTERN = r"^[A-Za-z0-9\-\.]+$"
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


def _calendar(value: str) -> str:
    """A full date part must exist in the calendar (the regex allows 2026-02-30)."""
    if len(value) >= 10:
        date.fromisoformat(value[:10])  # ValueError -> a validation error
    return value


FhirString = Annotated[str, Strict(), Field(min_length=1)]
FhirCode = Annotated[str, Strict(), Field(pattern=CODE_PATTERN)]
FhirId = Annotated[str, Strict(), Field(pattern=ID_PATTERN)]
# uri: any string, as fhir.resources reads it (a system with a stray space only fails to
# match a known code system; it does not make a result unusable).
FhirUri = Annotated[str, Strict()]
FhirDate = Annotated[str, Strict(), Field(pattern=DATE_PATTERN), AfterValidator(_calendar)]
FhirDateTime = Annotated[str, Strict(), Field(pattern=DATETIME_PATTERN), AfterValidator(_calendar)]
FhirInstant = Annotated[str, Strict(), Field(pattern=INSTANT_PATTERN), AfterValidator(_calendar)]


def _finite_float(value: float | str) -> float:
    number = float(value)
    if not math.isfinite(number):  # "1e999"
        raise ValueError("decimal out of range")
    return number


FhirDecimal = Annotated[
    Annotated[int, Strict()]
    | Annotated[float, Strict(), Field(allow_inf_nan=False)]
    | Annotated[str, Strict(), Field(pattern=DECIMAL_PATTERN)],
    AfterValidator(_finite_float),
]
FhirInteger = Annotated[int, Strict()]
FhirBoolean = bool  # "true"/"false" strings are accepted, as fhir.resources accepts them


class Element(BaseModel):
    """Base of the read models of resources: elements never read are ignored, unchecked."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=False)


class DataType(BaseModel):
    """Base of the read models of data types: a read element is checked whole, so a key that
    is not an element of the type (a Coding where a CodeableConcept belongs, a typo) makes it
    invalid, as in fhir.resources. The type's other elements are declared (``Any``, unread)
    with their ``_name`` primitive-extension twins."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)

    id: Any = None
    extension: Any = None


def _twin(name: str) -> Any:
    """The ``_name`` key carrying a primitive's id/extensions (never read)."""
    return Field(None, alias=f"_{name}")


class BackboneElement(DataType):
    modifierExtension: Any = None


# --- complex types ------------------------------------------------------------------------


class Coding(DataType):
    system: FhirUri | None = None
    code: FhirCode | None = None
    display: FhirString | None = None
    version: Any = None
    userSelected: Any = None
    system_: Any = _twin("system")
    code_: Any = _twin("code")
    display_: Any = _twin("display")
    version_: Any = _twin("version")
    userSelected_: Any = _twin("userSelected")


class CodeableConcept(DataType):
    coding: list[Coding] | None = None
    text: FhirString | None = None
    text_: Any = _twin("text")


class Quantity(DataType):
    value: FhirDecimal | None = None
    comparator: FhirCode | None = None
    unit: FhirString | None = None
    system: FhirUri | None = None
    code: FhirCode | None = None
    value_: Any = _twin("value")
    comparator_: Any = _twin("comparator")
    unit_: Any = _twin("unit")
    system_: Any = _twin("system")
    code_: Any = _twin("code")


class Period(DataType):
    start: FhirDateTime | None = None
    end: FhirDateTime | None = None
    start_: Any = _twin("start")
    end_: Any = _twin("end")


class Reference(DataType):
    reference: FhirString | None = None
    display: FhirString | None = None
    type: Any = None
    identifier: Any = None
    reference_: Any = _twin("reference")
    display_: Any = _twin("display")
    type_: Any = _twin("type")


class Range(DataType):
    low: Quantity | None = None
    high: Quantity | None = None


class Ratio(DataType):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class ReferenceRange(BackboneElement):
    low: Quantity | None = None
    high: Quantity | None = None
    type: Any = None
    appliesTo: Any = None
    age: Any = None
    text: Any = None
    text_: Any = _twin("text")


class Extension(Element):
    """Read only for the sex-for-clinical-use extension; its value[x] may be any type, so
    unknown keys are not checked here."""

    url: FhirUri
    extension: list[Extension] | None = None
    valueCodeableConcept: CodeableConcept | None = None


class TimingRepeat(DataType):
    boundsPeriod: Period | None = None
    boundsDuration: Any = None
    boundsRange: Any = None
    count: Any = None
    countMax: Any = None
    duration: Any = None
    durationMax: Any = None
    durationUnit: Any = None
    frequency: Any = None
    frequencyMax: Any = None
    period: Any = None
    periodMax: Any = None
    periodUnit: Any = None
    dayOfWeek: Any = None
    timeOfDay: Any = None
    when: Any = None
    offset: Any = None
    count_: Any = _twin("count")
    countMax_: Any = _twin("countMax")
    duration_: Any = _twin("duration")
    durationMax_: Any = _twin("durationMax")
    durationUnit_: Any = _twin("durationUnit")
    frequency_: Any = _twin("frequency")
    frequencyMax_: Any = _twin("frequencyMax")
    period_: Any = _twin("period")
    periodMax_: Any = _twin("periodMax")
    periodUnit_: Any = _twin("periodUnit")
    dayOfWeek_: Any = _twin("dayOfWeek")
    timeOfDay_: Any = _twin("timeOfDay")
    when_: Any = _twin("when")
    offset_: Any = _twin("offset")


class Timing(BackboneElement):
    repeat: TimingRepeat | None = None
    event: Any = None
    code: Any = None
    event_: Any = _twin("event")


class Dosage(BackboneElement):
    route: CodeableConcept | None = None
    timing: Timing | None = None
    sequence: Any = None
    text: Any = None
    additionalInstruction: Any = None
    patientInstruction: Any = None
    asNeededBoolean: Any = None
    asNeededCodeableConcept: Any = None
    site: Any = None
    method: Any = None
    doseAndRate: Any = None
    maxDosePerPeriod: Any = None
    maxDosePerAdministration: Any = None
    maxDosePerLifetime: Any = None
    sequence_: Any = _twin("sequence")
    text_: Any = _twin("text")
    patientInstruction_: Any = _twin("patientInstruction")
    asNeededBoolean_: Any = _twin("asNeededBoolean")


class Ingredient(BackboneElement):
    itemCodeableConcept: CodeableConcept | None = None
    itemReference: Any = None
    isActive: Any = None
    strength: Any = None
    isActive_: Any = _twin("isActive")


# --- value[x] -----------------------------------------------------------------------------

_VALUE_CHOICES = frozenset(
    {
        "valueQuantity",
        "valueCodeableConcept",
        "valueString",
        "valueBoolean",
        "valueInteger",
        "valueRange",
        "valueRatio",
        "valueSampledData",
        "valueTime",
        "valueDateTime",
        "valuePeriod",
    }
)


def _at_most_one(model: BaseModel, choice: str, names: frozenset[str]) -> None:
    """At most one of a choice element's ``[x]`` forms (a key given as JSON null is absent)."""
    given = model.model_fields_set & names  # C-level: the usual case has one or none
    if len(given) > 1 and sum(getattr(model, name) is not None for name in given) > 1:
        raise ValueError(f"{choice}: only one of the choices may be present")


class _Valued(BaseModel):
    """An Observation or component: ``code`` and ``value[x]`` (every choice declared, so
    that two of them make the element invalid, read or not)."""

    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: FhirString | None = None
    valueBoolean: FhirBoolean | None = None
    valueInteger: FhirInteger | None = None
    valueRange: Range | None = None
    valueRatio: Ratio | None = None
    valueDateTime: FhirDateTime | None = None
    valueSampledData: Any = None
    valueTime: Any = None
    valuePeriod: Any = None
    interpretation: list[CodeableConcept] | None = None
    referenceRange: list[ReferenceRange] | None = None

    @model_validator(mode="after")
    def _one_value(self) -> _Valued:
        _at_most_one(self, "value[x]", _VALUE_CHOICES)
        return self


class ObservationComponent(_Valued, BackboneElement):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)

    dataAbsentReason: Any = None
    valueString_: Any = _twin("valueString")
    valueBoolean_: Any = _twin("valueBoolean")
    valueInteger_: Any = _twin("valueInteger")
    valueTime_: Any = _twin("valueTime")
    valueDateTime_: Any = _twin("valueDateTime")


# --- resources ----------------------------------------------------------------------------


class Resource(Element):
    resource_type: ClassVar[str] = "Resource"
    __resource_type__: ClassVar[str] = "Resource"

    resourceType: str
    id: FhirId | None = None

    def get_resource_type(self) -> str:
        return self.resource_type


_EFFECTIVE = frozenset(
    {"effectiveDateTime", "effectiveInstant", "effectivePeriod", "effectiveTiming"}
)


class Observation(_Valued, Resource):
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=False)
    resource_type: ClassVar[str] = "Observation"
    __resource_type__: ClassVar[str] = "Observation"

    resourceType: Literal["Observation"]
    status: FhirCode
    effectiveDateTime: FhirDateTime | None = None
    effectiveInstant: FhirInstant | None = None
    effectivePeriod: Period | None = None
    issued: FhirInstant | None = None
    effectiveTiming: Any = None
    bodySite: CodeableConcept | None = None
    component: list[ObservationComponent] | None = None

    @model_validator(mode="after")
    def _one_effective(self) -> Observation:
        _at_most_one(self, "effective[x]", _EFFECTIVE)
        return self


class Condition(Resource):
    resource_type: ClassVar[str] = "Condition"
    __resource_type__: ClassVar[str] = "Condition"

    resourceType: Literal["Condition"]
    code: CodeableConcept | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    onsetDateTime: FhirDateTime | None = None
    onsetPeriod: Period | None = None
    onsetAge: Any = None
    onsetRange: Any = None
    onsetString: Any = None
    abatementDateTime: FhirDateTime | None = None
    abatementPeriod: Period | None = None
    abatementAge: Any = None
    abatementRange: Any = None
    abatementString: Any = None
    recordedDate: FhirDateTime | None = None

    @model_validator(mode="after")
    def _choices(self) -> Condition:
        _at_most_one(self, "onset[x]", _ONSET)
        _at_most_one(self, "abatement[x]", _ABATEMENT)
        return self


_ONSET = frozenset({"onsetDateTime", "onsetPeriod", "onsetAge", "onsetRange", "onsetString"})
_ABATEMENT = frozenset(name.replace("onset", "abatement") for name in _ONSET)


class Medication(Resource):
    resource_type: ClassVar[str] = "Medication"
    __resource_type__: ClassVar[str] = "Medication"

    resourceType: Literal["Medication"]
    code: CodeableConcept | None = None
    ingredient: list[Ingredient] | None = None


class ContainedResource(Resource):
    """A contained resource: read only as a Medication (``id``, ``code``, ingredients)."""

    code: CodeableConcept | None = None
    ingredient: list[Ingredient] | None = None


class _MedicineResource(Resource):
    status: FhirCode
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    contained: list[ContainedResource] | None = None

    @model_validator(mode="after")
    def _one_medication(self) -> _MedicineResource:
        if (self.medicationCodeableConcept is None) == (self.medicationReference is None):
            raise ValueError("medication[x]: exactly one of the choices is required")
        return self


class MedicationRequest(_MedicineResource):
    resource_type: ClassVar[str] = "MedicationRequest"
    __resource_type__: ClassVar[str] = "MedicationRequest"

    resourceType: Literal["MedicationRequest"]
    intent: FhirCode | None = None
    authoredOn: FhirDateTime | None = None
    dosageInstruction: list[Dosage] | None = None


class MedicationStatement(_MedicineResource):
    resource_type: ClassVar[str] = "MedicationStatement"
    __resource_type__: ClassVar[str] = "MedicationStatement"

    resourceType: Literal["MedicationStatement"]
    effectiveDateTime: FhirDateTime | None = None
    effectivePeriod: Period | None = None
    dateAsserted: FhirDateTime | None = None
    dosage: list[Dosage] | None = None

    @model_validator(mode="after")
    def _one_effective(self) -> MedicationStatement:
        _at_most_one(self, "effective[x]", _STATEMENT_EFFECTIVE)
        return self


_STATEMENT_EFFECTIVE = frozenset({"effectiveDateTime", "effectivePeriod"})


class Procedure(Resource):
    resource_type: ClassVar[str] = "Procedure"
    __resource_type__: ClassVar[str] = "Procedure"

    resourceType: Literal["Procedure"]
    status: FhirCode
    code: CodeableConcept | None = None
    performedDateTime: FhirDateTime | None = None
    performedPeriod: Period | None = None
    performedString: Any = None
    performedAge: Any = None
    performedRange: Any = None

    @model_validator(mode="after")
    def _one_performed(self) -> Procedure:
        _at_most_one(self, "performed[x]", _PERFORMED)
        return self


_PERFORMED = frozenset(name.replace("onset", "performed") for name in _ONSET)


class ServiceRequest(Resource):
    resource_type: ClassVar[str] = "ServiceRequest"
    __resource_type__: ClassVar[str] = "ServiceRequest"

    resourceType: Literal["ServiceRequest"]
    status: FhirCode
    intent: FhirCode | None = None
    code: CodeableConcept | None = None
    authoredOn: FhirDateTime | None = None


class Patient(Resource):
    resource_type: ClassVar[str] = "Patient"
    __resource_type__: ClassVar[str] = "Patient"

    resourceType: Literal["Patient"]
    gender: FhirCode | None = None
    birthDate: FhirDate | None = None
    extension: list[Extension] | None = None


READ_MODELS: dict[str, type[Resource]] = {
    model.resource_type: model
    for model in (
        Patient,
        Observation,
        Condition,
        MedicationRequest,
        MedicationStatement,
        Medication,
        Procedure,
        ServiceRequest,
    )
}


def read_model(resource: dict[str, Any]) -> Resource | None:
    """One raw resource as its read model, or ``None`` (a type not read, or invalid)."""
    model = READ_MODELS.get(str(resource.get("resourceType")))
    if model is None:
        return None
    try:
        return model.model_validate(resource)
    except ValueError:  # pydantic's ValidationError is a ValueError
        return None
