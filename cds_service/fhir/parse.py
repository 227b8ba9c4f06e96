"""Typed FHIR R4 views (:mod:`cds_service.fhir.read_models`) of the resources the engine reads.

Validation is done as late as possible (it was the dominant cost with the full
``fhir.resources`` models, and is still the largest per-resource cost):

* raw JSON is filtered by code *first* (a dict lookup per coding against precomputed
  frozensets); resources no rule reads are never validated;
* the Observations that pass are grouped by code and only the newest
  ``MAX_OBSERVATIONS_PER_CODE`` of each code are kept (entered-in-error/cancelled never
  count), still as raw JSON;
* every kept resource becomes a :class:`Candidate`: its ``model()`` validates it on first
  use and caches the result. The fact builders decide, on raw JSON, which candidates they
  need at all and in which order (newest first), so that a chart's years of history are
  not validated to read the latest value.

What is checked, and why only the elements the builders read: see ``read_models``.

A resource that fails validation is skipped and counted (:class:`ValidationStats`), never
a 500; only counts are logged (no PHI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cds_service.fhir.read_models import READ_MODELS, read_model
from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.systems import CANONICAL_SYSTEMS as _CANONICAL
from cds_service.knowledge.value_sets import PREFETCH_CODE_SETS


def _codes(*set_names: str) -> frozenset[CodeKey]:
    return frozenset(k for name in set_names for k in PREFETCH_CODE_SETS[name].codes)


# Codes worth validating, per resource type (derived from the knowledge value sets).
OBSERVATION_CODES = _codes(
    "pregnancy-observations", "vital-observations", "lab-observations", "finding-observations"
)
CONDITION_CODES = _codes("conditions")
PROCEDURE_CODES = _codes("delivery-procedures")


def raw_codes(concept: Any) -> list[CodeKey]:
    """(system, code) pairs of a raw CodeableConcept dict, systems canonicalised."""
    # ``type(x) is T or isinstance(x, T)``: JSON gives plain dicts, lists and strs, for which
    # the first test is cheaper; the second keeps subclasses working as before.
    out: list[CodeKey] = []
    if not (type(concept) is dict or isinstance(concept, dict)):
        return out
    codings = concept.get("coding")
    if not (type(codings) is list or isinstance(codings, list)):
        return out
    canonical = _CANONICAL
    for coding in codings:
        if type(coding) is dict or isinstance(coding, dict):
            system = coding.get("system")
            code = coding.get("code")
            if (type(system) is str or isinstance(system, str)) and (
                type(code) is str or isinstance(code, str)
            ):
                out.append((canonical.get(system, system), code))
    return out


def raw_component_codes(resource: dict[str, Any]) -> list[CodeKey]:
    """(system, code) pairs of every ``component.code`` of a raw Observation."""
    out: list[CodeKey] = []
    components = resource.get("component")
    if isinstance(components, list):
        for component in components:
            if isinstance(component, dict):
                out.extend(raw_codes(component.get("code")))
    return out


def _relevant_observation(resource: dict[str, Any], codes: list[CodeKey]) -> bool:
    if not OBSERVATION_CODES.isdisjoint(codes):
        return True
    return "component" in resource and not OBSERVATION_CODES.isdisjoint(
        raw_component_codes(resource)
    )


def _relevant(resource: dict[str, Any]) -> bool:
    """Whether a resource other than an Observation can be read (those: ``parse_resources``)."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return False
    if rtype == "Condition":
        return not CONDITION_CODES.isdisjoint(raw_codes(resource.get("code")))
    if rtype == "Procedure":
        return not PROCEDURE_CODES.isdisjoint(raw_codes(resource.get("code")))
    return rtype in READ_MODELS


def validate(resource: dict[str, Any]) -> Any | None:
    """One resource as its read model, or ``None`` if it is not a valid resource we read."""
    return read_model(resource)


class ValidationStats:
    """Per-call counters: resources validated, and those skipped as invalid (no PHI)."""

    __slots__ = ("invalid", "validated")

    def __init__(self) -> None:
        self.validated = 0
        self.invalid = 0


class Candidate:
    """A raw resource the engine may read; validated (``read_models``) on first use.

    ``index`` is its position among the kept resources of its type (the order the
    builders saw them in when everything was validated up front: ties keep that order).
    """

    __slots__ = ("_checked", "_model", "_stats", "codes", "index", "raw")

    def __init__(
        self,
        raw: dict[str, Any],
        index: int,
        stats: ValidationStats,
        codes: tuple[CodeKey, ...] = (),
    ) -> None:
        self.raw = raw
        self.index = index
        self.codes = codes  # raw ``code.coding`` pairs (Observations only)
        self._stats = stats
        self._model: Any | None = None
        self._checked = False

    def model(self) -> Any | None:
        """The validated read model, or ``None`` (skipped and counted once) if invalid."""
        if not self._checked:
            self._checked = True
            self._stats.validated += 1
            self._model = validate(self.raw)
            if self._model is None:
                self._stats.invalid += 1
        return self._model

    @property
    def status(self) -> str | None:
        """The raw ``status`` string (equal to the validated one whenever the resource is
        valid); ``None`` when absent or not a string."""
        value = self.raw.get("status")
        return value if isinstance(value, str) else None


def models(candidates: Iterable[Candidate]) -> tuple[Any, ...]:
    """The valid models of ``candidates``, in order (validating each one)."""
    out = []
    for candidate in candidates:
        model = candidate.model()
        if model is not None:
            out.append(model)
    return tuple(out)


@dataclass(frozen=True)
class ParsedData:
    """Kept resources by type, as unvalidated :class:`Candidate` s, input order.

    ``observations`` are the relevant Observations after the per-code cap, in the order the
    cap produced (codes in order of first appearance, newest first within a code).
    ``ignored`` counts resources dropped on raw JSON (irrelevant code, not a type we read,
    entered-in-error, over the cap); ``stats.invalid`` grows as candidates are validated.
    """

    by_type: Mapping[str, tuple[Candidate, ...]] = field(default_factory=dict)
    observations: tuple[Candidate, ...] = ()
    stats: ValidationStats = field(default_factory=ValidationStats)
    ignored: int = 0

    def of(self, resource_type: str) -> tuple[Candidate, ...]:
        return self.by_type.get(resource_type, ())

    @property
    def invalid(self) -> int:
        return self.stats.invalid


# Observations per code kept for validation, newest first. The rules read the latest value
# and short histories (BP over 7 days, weight trend); older results are never graded.
MAX_OBSERVATIONS_PER_CODE = 25
_IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled"})


def _raw_time(resource: dict[str, Any]) -> str:
    """Sortable effective time of a raw Observation (ISO strings sort chronologically)."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        value = resource.get(key)
        if isinstance(value, str):
            return value
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        value = period.get("end") or period.get("start")
        if isinstance(value, str):
            return value
    issued = resource.get("issued")
    return issued if isinstance(issued, str) else ""


_Coded = tuple[dict[str, Any], tuple[CodeKey, ...]]


def _coded_time(item: _Coded) -> str:
    return _raw_time(item[0])


def _newest_per_code(groups: dict[tuple[CodeKey, ...], list[_Coded]]) -> tuple[list[_Coded], int]:
    """The newest ``MAX_OBSERVATIONS_PER_CODE`` of each code group (groups in order of first
    appearance, newest first within a group; ties keep input order), and how many were cut."""
    kept: list[_Coded] = []
    dropped = 0
    for group in groups.values():
        if len(group) > 1:
            group.sort(key=_coded_time, reverse=True)
        kept.extend(group[:MAX_OBSERVATIONS_PER_CODE])
        dropped += max(0, len(group) - MAX_OBSERVATIONS_PER_CODE)
    return kept, dropped


def parse_resources(resources: Iterable[dict[str, Any]]) -> ParsedData:
    """Filter by code on raw JSON, keep the newest observations per code; validate nothing.

    One pass over the resources (the hot loop of a call: hundreds of resources, most of them
    never read): Observations are grouped by code as they are seen, entered-in-error and
    cancelled ones never count.
    """
    stats = ValidationStats()
    by_type: dict[str, list[Candidate]] = {}
    ignored = 0
    groups: dict[tuple[CodeKey, ...], list[_Coded]] = {}
    for resource in resources:
        if not isinstance(resource, dict):
            ignored += 1
            continue
        if resource.get("resourceType") == "Observation":
            codes = raw_codes(resource.get("code"))
            if not _relevant_observation(resource, codes):
                ignored += 1
                continue
            status = resource.get("status")
            if isinstance(status, str) and status in _IGNORED_STATUSES:
                ignored += 1
                continue
            coded = tuple(codes)
            key = tuple(sorted(coded)) if len(coded) > 1 else coded
            group = groups.get(key)
            if group is None:
                groups[key] = [(resource, coded)]
            else:
                group.append((resource, coded))
            continue
        if not _relevant(resource):
            ignored += 1
            continue
        bucket = by_type.setdefault(resource["resourceType"], [])
        bucket.append(Candidate(resource, len(bucket), stats))
    kept, dropped = _newest_per_code(groups)
    return ParsedData(
        by_type=MappingProxyType({k: tuple(v) for k, v in by_type.items()}),
        observations=tuple(Candidate(obs, i, stats, codes) for i, (obs, codes) in enumerate(kept)),
        stats=stats,
        ignored=ignored + dropped,
    )


def parse_drafts(resources: Iterable[dict[str, Any]]) -> tuple[tuple[Any, ...], int]:
    """Draft orders from the hook context (any request type we read), and the invalid count."""
    out: list[Any] = []
    invalid = 0
    for resource in resources:
        if not isinstance(resource, dict):
            invalid += 1
            continue
        parsed = validate(resource)
        if parsed is None:
            if resource.get("resourceType") in READ_MODELS:
                invalid += 1
            continue
        out.append(parsed)
    return tuple(out), invalid
