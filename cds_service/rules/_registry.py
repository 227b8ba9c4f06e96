"""The rule registry: rules are small pure functions registered with :func:`rule`.

A rule reads :class:`~cds_service.facts.PatientFacts` and returns a :class:`Finding`, a
sequence of findings, or ``None``. The decorator records everything a reviewer needs in
one place: id, title, family, citation, data needs, whether it runs postpartum (the
"(P)" rules of clinical.md B), and the function's docstring as its explanation.
:func:`load_registry` imports every module of this package and fails at load on a bad
or duplicate entry (ruff's lesson: rules are registered, not wired).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

from cds_service.facts import Evidence, Measurement, PatientFacts
from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.codes import FINDINGS, CodeKey
from cds_service.knowledge.orders import ORDER_BUNDLES, ORDER_ITEMS
from cds_service.knowledge.sources import CITATIONS
from cds_service.knowledge.value_sets import VALUE_SETS

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: Mapping[str, int] = MappingProxyType({"info": 0, "warning": 1, "critical": 2})
OrderFreshness = Literal["acute", "routine"]

HOOKS_WITH_DRAFT_ORDERS = frozenset({"order-select", "order-sign"})


@dataclass(frozen=True)
class Finding:
    """What one rule concluded. The cards layer turns findings into cards.

    * ``problem``: findings with the same problem merge into one card at the highest
      severity (e.g. "pre-eclampsia" for R1-R4, "vte" for R5/R6);
    * ``headline``: the finding with its triggering value and unit ("BP 165/112 mmHg");
      the cards layer appends the gestation and ``action`` ("urgent obstetric review now");
    * ``rule_text``: the rule in plain words with its threshold;
    * ``evidence``: the exact data used (value, unit, date, status, reference);
    * ``orders``: order bundle or item keys (knowledge.orders) to suggest;
    * ``cautions``: what not to do; ``gaps``: data that was missing or stale;
    * ``delete_orders``: draft order references ("MedicationRequest/x") to suggest removing;
    * ``order_freshness``: "acute" treats results older than a day as not done.
    """

    rule_id: str
    problem: str
    indicator: Indicator
    headline: str
    action: str
    rule_text: str
    evidence: tuple[Evidence, ...] = ()
    orders: tuple[str, ...] = ()
    cautions: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    citation: str | None = None
    delete_orders: tuple[str, ...] = ()
    order_freshness: OrderFreshness = "routine"
    # Drop this finding when another card already shows all of its evidence (R24 flags).
    supersedable: bool = False
    # Word the summary "if pregnant or recently pregnant" while status is unknown (1.1 #5);
    # False for findings about the record itself (R24's request to reconcile).
    hedge_unknown_status: bool = True

    @property
    def rank(self) -> int:
        return INDICATOR_RANK[self.indicator]


NeedKind = Literal[
    "observations", "conditions", "findings", "medications", "patient", "procedures", "draft-orders"
]


@dataclass(frozen=True)
class DataNeed:
    """Data a rule reads. Checked at start-up against each service's prefetch templates."""

    kind: NeedKind
    value_set: str | None = None

    def codes(self) -> frozenset[CodeKey]:
        if self.value_set is None:
            return frozenset()
        return VALUE_SETS[self.value_set].codes

    def describe(self) -> str:
        return f"{self.kind}:{self.value_set}" if self.value_set else self.kind


def labs(*analytes: str) -> tuple[DataNeed, ...]:
    """Observations of these analytes (knowledge.analytes keys), labs or vitals."""
    return tuple(DataNeed("observations", f"analyte:{a}") for a in analytes)


def blood_pressure() -> tuple[DataNeed, ...]:
    return (DataNeed("observations", "blood-pressure"),)


def findings(*keys: str) -> tuple[DataNeed, ...]:
    """Symptoms/conditions that may arrive as a Condition or as an Observation."""
    return tuple(DataNeed("findings", f"finding:{k}") for k in keys)


def conditions(*keys: str) -> tuple[DataNeed, ...]:
    """Findings that only ever arrive as a Condition (diagnoses)."""
    return tuple(DataNeed("conditions", f"finding:{k}") for k in keys)


def medications() -> tuple[DataNeed, ...]:
    return (DataNeed("medications"),)


def draft_orders() -> tuple[DataNeed, ...]:
    return (DataNeed("draft-orders"),)


# The scope gate (engine) needs these on every service; (P) rules also need postpartum data.
SCOPE_NEEDS: tuple[DataNeed, ...] = (
    DataNeed("patient"),
    DataNeed("observations", "pregnancy-status"),
    DataNeed("observations", "edd"),
    DataNeed("conditions", "pregnancy-condition"),
)
POSTPARTUM_NEEDS: tuple[DataNeed, ...] = (DataNeed("conditions", "postpartum-condition"),)

RuleResult: TypeAlias = "Finding | Sequence[Finding] | None"
RuleFunc = Callable[[PatientFacts], "Finding | Sequence[Finding] | None"]

_ID = re.compile(r"^R[1-9][0-9]?[a-z]?$")


@dataclass(frozen=True)
class RuleSpec:
    """A registered rule and its metadata (one place, ruff-style)."""

    id: str
    title: str
    family: str
    citation: str
    needs: tuple[DataNeed, ...]
    func: RuleFunc = field(compare=False)
    explanation: str
    postpartum: bool = False
    when_unknown: bool = False
    hooks: frozenset[str] | None = None
    severities: tuple[Indicator, ...] = ("info", "warning", "critical")

    @property
    def sort_key(self) -> tuple[int, str]:
        match = re.match(r"^R(\d+)([a-z]?)$", self.id)
        return (int(match.group(1)), match.group(2)) if match else (999, self.id)

    def runs_on(self, hook: str) -> bool:
        return self.hooks is None or hook in self.hooks

    def all_needs(self) -> tuple[DataNeed, ...]:
        return self.needs + (POSTPARTUM_NEEDS if self.postpartum else ())


_RULES: dict[str, RuleSpec] = {}


class RegistryError(Exception):
    """A rule declaration is invalid: the registry refuses to load."""


def _validate(spec: RuleSpec) -> None:
    where = f"{spec.func.__module__}.{spec.func.__qualname__}"
    if not _ID.match(spec.id):
        raise RegistryError(f"{where}: rule id {spec.id!r} must look like R1, R12b")
    if not spec.title.strip() or len(spec.title) > 70:
        raise RegistryError(f"{where}: title must be 1-70 characters")
    if not spec.family.strip():
        raise RegistryError(f"{where}: family is required")
    if spec.citation not in CITATIONS:
        raise RegistryError(f"{where}: unknown citation key {spec.citation!r}")
    if not spec.explanation.strip():
        raise RegistryError(f"{where}: a rule needs a docstring (its plain-words explanation)")
    if not spec.needs:
        raise RegistryError(f"{where}: a rule must declare its data needs")
    for need in spec.needs:
        if need.value_set is not None and need.value_set not in VALUE_SETS:
            raise RegistryError(f"{where}: unknown value set {need.value_set!r}")
    if not spec.severities or any(s not in INDICATOR_RANK for s in spec.severities):
        raise RegistryError(f"{where}: severities must be info/warning/critical")
    existing = _RULES.get(spec.id)
    if existing is not None and (existing.func.__module__, existing.func.__qualname__) != (
        spec.func.__module__,
        spec.func.__qualname__,
    ):
        raise RegistryError(
            f"{where}: duplicate rule id {spec.id} (also {existing.func.__module__})"
        )


def rule(
    *,
    id: str,  # "id" is the rule's name in clinical.md
    title: str,
    family: str,
    citation: str,
    needs: Iterable[DataNeed],
    postpartum: bool = False,
    when_unknown: bool = False,
    hooks: Iterable[str] | None = None,
    severities: Iterable[Indicator] = ("info", "warning", "critical"),
) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule. ``postpartum=True`` marks a (P) rule (pregnancy and <=42 days
    postpartum); ``when_unknown=True`` keeps it when pregnancy status is unknown
    (clinical.md 1.1 item 5: critical seizure/BP only); ``hooks`` limits it to some hooks."""

    def decorate(func: RuleFunc) -> RuleFunc:
        spec = RuleSpec(
            id=id,
            title=title,
            family=family,
            citation=citation,
            needs=tuple(needs),
            func=func,
            explanation=" ".join((func.__doc__ or "").split()),
            postpartum=postpartum,
            when_unknown=when_unknown,
            hooks=frozenset(hooks) if hooks is not None else None,
            severities=tuple(severities),
        )
        _validate(spec)
        _RULES[spec.id] = spec
        return func

    return decorate


def validate_finding(spec: RuleSpec, finding: Finding) -> None:
    """A finding must match its rule and name only known orders and citations."""
    if finding.rule_id != spec.id:
        raise RegistryError(f"{spec.id} returned a finding for {finding.rule_id}")
    if finding.indicator not in spec.severities:
        raise RegistryError(f"{spec.id} returned {finding.indicator}, not in {spec.severities}")
    for key in finding.orders:
        if key not in ORDER_BUNDLES and key not in ORDER_ITEMS:
            raise RegistryError(f"{spec.id} suggests unknown order {key!r}")
    if finding.citation is not None and finding.citation not in CITATIONS:
        raise RegistryError(f"{spec.id} cites unknown source {finding.citation!r}")


def load_registry() -> Mapping[str, RuleSpec]:
    """Import every family module in this package; return the rules sorted by id."""
    package = importlib.import_module("cds_service.rules")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"cds_service.rules.{module.name}")
    ordered = sorted(_RULES.values(), key=lambda s: s.sort_key)
    return MappingProxyType({s.id: s for s in ordered})


def families(registry: Mapping[str, RuleSpec]) -> frozenset[str]:
    return frozenset(spec.family for spec in registry.values())


# ---- helpers the family modules share --------------------------------------------------


def cap_preliminary(indicator: Indicator, *values: Measurement | None) -> Indicator:
    """clinical.md 1.3: a preliminary result alone never triggers a critical card."""
    used = [v for v in values if v is not None]
    if indicator == "critical" and used and all(v.preliminary for v in used):
        return "warning"
    return indicator


def gestation_at_least(facts: PatientFacts, weeks: int) -> bool | None:
    """Pregnant at >= ``weeks`` (True/False), postpartum counts as True, unknown GA -> None."""
    if facts.pregnancy.postpartum:
        return True
    days = facts.ga_days
    if days is None:
        return None
    return days >= weeks * 7


def gestation_below(facts: PatientFacts, weeks: int) -> bool | None:
    """Pregnant at < ``weeks`` (True/False); postpartum -> False; unknown GA -> None."""
    if not facts.pregnancy.pregnant:
        return False
    days = facts.ga_days
    if days is None:
        return None
    return days < weeks * 7


GA_UNKNOWN_GAP = (
    "Gestational age is not recorded (no EDD, gestational age or LMP): the rule was applied "
    "as if the gestation threshold were met."
)


def finding_label(key: str) -> str:
    return FINDINGS[key].label


def analyte_label(key: str) -> str:
    return ANALYTES[key].label
