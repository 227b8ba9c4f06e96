"""Runs the registered rules for one hook call: scope gate, family selection, isolation.

* Families: a service's ``rule_families`` (``"all"`` = every family); rules limited to
  other hooks are skipped.
* Scope gate (clinical.md 1.1): no cards without pregnancy evidence, never gated on
  ``Patient.gender``. Postpartum (<=42 days) keeps only the (P) rules. Unknown or
  conflicting status keeps only the rules marked ``when_unknown`` (critical seizure/BP,
  and R24's request to reconcile), in a person of reproductive age (or age unknown).
* A rule that raises is logged (rule id and exception type only) and reported as a
  :class:`RuleFailure`; the cards layer shows "this check could not run". The call
  still answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import parse_qsl

from cds_service.errors import ConfigurationError
from cds_service.facts import PatientFacts, PregnancyStatus, build_facts
from cds_service.fhir.data import Evaluation
from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.policy import DEFAULT_POLICY, Policy
from cds_service.knowledge.systems import canonical_system
from cds_service.rules._registry import (
    HOOKS_WITH_DRAFT_ORDERS,
    SCOPE_NEEDS,
    DataNeed,
    Finding,
    RegistryError,
    RuleSpec,
    load_registry,
    validate_finding,
)

log = logging.getLogger("cds_service.engine")


@lru_cache(maxsize=1)
def registry() -> Mapping[str, RuleSpec]:
    """All registered rules (loaded once per process)."""
    return load_registry()


@dataclass(frozen=True)
class RuleFailure:
    rule: RuleSpec
    error: str  # exception type name only (no PHI)


@dataclass(frozen=True)
class EngineResult:
    facts: PatientFacts
    findings: tuple[Finding, ...]
    failures: tuple[RuleFailure, ...]
    rules_run: tuple[str, ...]

    @property
    def in_scope(self) -> bool:
        return self.facts.pregnancy.status not in (
            PregnancyStatus.NO_EVIDENCE,
            PregnancyStatus.NOT_PREGNANT,
        )


def select_rules(
    families: Sequence[str], hook: str, rules: Mapping[str, RuleSpec] | None = None
) -> tuple[RuleSpec, ...]:
    """The rules a service runs: its families (or all), limited to the hook."""
    rules = registry() if rules is None else rules
    wanted = set(families)
    every = "all" in wanted
    return tuple(
        spec for spec in rules.values() if (every or spec.family in wanted) and spec.runs_on(hook)
    )


def _unknown_status_eligible(facts: PatientFacts) -> bool:
    """1.1 item 5: keep critical cards for a person who could be pregnant.

    Age outside the reproductive range, or a clinical-use sex parameter of
    "male-typical" (Gender Harmony), is the only reason to drop them; gender is not read.
    """
    if facts.patient.sex_for_clinical_use == "male-typical":
        return False
    age = facts.patient.age_years
    policy = facts.policy
    return age is None or policy.reproductive_age_min <= age <= policy.reproductive_age_max


def gate(spec: RuleSpec, facts: PatientFacts) -> bool:
    """Whether ``spec`` may run for this patient's pregnancy status."""
    status = facts.pregnancy.status
    if status is PregnancyStatus.PREGNANT:
        return True
    if status is PregnancyStatus.POSTPARTUM:
        return spec.postpartum
    if status is PregnancyStatus.UNKNOWN:
        return spec.when_unknown and _unknown_status_eligible(facts)
    return False


def run_rules(facts: PatientFacts, rules: Iterable[RuleSpec]) -> EngineResult:
    found: list[Finding] = []
    failures: list[RuleFailure] = []
    ran: list[str] = []
    for spec in rules:
        if not gate(spec, facts):
            continue
        ran.append(spec.id)
        try:
            result = spec.func(facts)
            items: Sequence[Finding]
            if result is None:
                items = ()
            elif isinstance(result, Finding):
                items = (result,)
            else:
                items = tuple(result)
            for item in items:
                validate_finding(spec, item)
        except Exception as exc:  # isolation is the point (STYLE.md)
            log.exception(
                "rule failed", extra={"rule": spec.id, "error": type(exc).__name__}, exc_info=False
            )
            failures.append(RuleFailure(spec, type(exc).__name__))
            continue
        found.extend(items)
    return EngineResult(facts, tuple(found), tuple(failures), tuple(ran))


def evaluate(
    evaluation: Evaluation,
    policy: Policy = DEFAULT_POLICY,
    rules: Mapping[str, RuleSpec] | None = None,
) -> EngineResult:
    """Facts for the call, then every selected rule that passes the scope gate."""
    facts = build_facts(evaluation, policy)
    selected = select_rules(evaluation.rule_families, evaluation.hook, rules)
    result = run_rules(facts, selected)
    # Validation is lazy: the count covers the resources the rules actually read.
    invalid = facts.invalid_resources
    if invalid:
        log.warning("skipped invalid FHIR resources", extra={"invalid": invalid})
    return result


# ---- start-up check: every rule's data needs are covered by the service's prefetch ------


class ServiceLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def hook(self) -> str: ...
    @property
    def prefetch(self) -> Mapping[str, str]: ...
    @property
    def rule_families(self) -> tuple[str, ...]: ...


_ALL = frozenset({("*", "*")})


def _template_coverage(prefetch: Mapping[str, str]) -> dict[str, frozenset[CodeKey]]:
    """Per resource type, the codes the templates ask for (``_ALL`` when unfiltered)."""
    out: dict[str, set[CodeKey]] = {}
    for template in prefetch.values():
        path, _, query = template.partition("?")
        resource_type = path.split("/", 1)[0]
        bucket = out.setdefault(resource_type, set())
        if not query:
            bucket |= _ALL  # a read (Patient/{{id}}) or an unfiltered search
            continue
        codes = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "code"]
        if not codes:
            bucket |= _ALL
            continue
        for value in codes:
            for token in value.split(","):
                system, sep, code = token.rpartition("|")
                if sep:
                    bucket.add((canonical_system(system) or system, code))
    return {k: frozenset(v) for k, v in out.items()}


def _covered(need: DataNeed, coverage: Mapping[str, frozenset[CodeKey]], hook: str) -> bool:
    def has(resource_type: str, codes: frozenset[CodeKey]) -> bool:
        available = coverage.get(resource_type)
        if available is None:
            return False
        return ("*", "*") in available or codes <= available

    if need.kind == "draft-orders":
        return hook in HOOKS_WITH_DRAFT_ORDERS
    if need.kind == "patient":
        return "Patient" in coverage
    if need.kind == "medications":
        return "MedicationRequest" in coverage or "MedicationStatement" in coverage
    codes = need.codes()
    if need.kind == "observations":
        return has("Observation", codes)
    if need.kind == "conditions":
        return has("Condition", codes)
    if need.kind == "procedures":
        return has("Procedure", codes)
    return has("Observation", codes) and has("Condition", codes)  # findings


def uncovered_needs(service: ServiceLike, rules: Mapping[str, RuleSpec] | None = None) -> list[str]:
    """Human-readable list of (rule, need) pairs the service's prefetch does not cover."""
    coverage = _template_coverage(service.prefetch)
    selected = select_rules(service.rule_families, service.hook, rules)
    if not selected:
        return []  # a service that runs no rule needs no data (and no scope gate)
    problems = [
        f"scope gate needs {need.describe()}"
        for need in SCOPE_NEEDS
        if not _covered(need, coverage, service.hook)
    ]
    for spec in selected:
        for need in spec.all_needs():
            if not _covered(need, coverage, service.hook):
                problems.append(f"{spec.id} needs {need.describe()}")
    return problems


def check_data_needs(
    services: Iterable[ServiceLike], rules: Mapping[str, RuleSpec] | None = None
) -> None:
    """Refuse to start when a service would run a rule its prefetch cannot feed."""
    try:
        loaded = registry() if rules is None else rules
    except RegistryError as exc:
        raise ConfigurationError(f"rule registry: {exc}") from exc
    errors: list[str] = []
    for service in services:
        families = set(service.rule_families)
        known = {spec.family for spec in loaded.values()}
        unknown = families - known - {"all"}
        if unknown:
            errors.append(f"{service.id} ({service.hook}): unknown rule families {sorted(unknown)}")
        errors.extend(
            f"{service.id} ({service.hook}): {problem}"
            for problem in uncovered_needs(service, loaded)
        )
    if errors:
        raise ConfigurationError("prefetch does not cover rule data needs: " + "; ".join(errors))
