"""Findings -> CDS Hooks cards (clinical.md E, TEAM.md contracts).

* One card per problem at its highest severity; findings of the same problem merge
  (eclampsia + severe BP = one critical card, PE outranks DVT). Cards sort critical ->
  warning -> info.
* ``summary`` (< 140 characters): the finding with its value and unit, the gestation, and
  the action. ``detail`` (markdown): the data used, the rule in plain words with its
  threshold, the citation, what not to do, and data gaps.
* ``source``: guideline label + URL; ``topic`` = Coding(urn:prenatal-cds:rule, rule id).
* Suggestions (<= 3) create draft ``ServiceRequest`` resources (status draft, intent
  proposal, subject, reasonReference) with section C codes; a test already in the draft
  orders or resulted within its freshness window is not suggested again.
* Override reasons on warning and critical cards; a fresh uuid on every card and suggestion.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from cds_service.engine import EngineResult, RuleFailure, evaluate, registry
from cds_service.facts import Evidence, PatientFacts, PregnancyStatus
from cds_service.fhir.data import Evaluation
from cds_service.knowledge import wording
from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.codes import CodeKey
from cds_service.knowledge.orders import ORDER_ITEMS, OrderBundle, OrderItem, bundle_for
from cds_service.knowledge.policy import DEFAULT_POLICY, Policy
from cds_service.knowledge.sources import Citation, citation
from cds_service.knowledge.systems import RULE
from cds_service.rules._registry import INDICATOR_RANK, Finding, RuleSpec
from cds_service.wire import Action, Card, Coding, Link, Source, Suggestion

log = logging.getLogger("cds_service.cards")

MAX_SUMMARY = 139
MAX_SUGGESTIONS = 3
DATA_RULE_ID = "DATA"


def advise(evaluation: Evaluation, policy: Policy = DEFAULT_POLICY) -> list[Card]:
    """The service's advisor: facts -> rules -> cards (``services.Advisor``)."""
    return build_cards(evaluate(evaluation, policy))


def build_cards(result: EngineResult) -> list[Card]:
    facts = result.facts
    call = _Call(facts, registry())
    groups: dict[str, list[Finding]] = {}
    for finding in _drop_superseded(result.findings):
        groups.setdefault(finding.problem, []).append(finding)
    ranked: list[tuple[int, tuple[int, str], Card]] = []
    for findings in groups.values():
        findings.sort(key=lambda f: (-f.rank, call.sort_key(f.rule_id)))
        card = _problem_card(findings, facts, call.rules, call)
        ranked.append((findings[0].rank, call.sort_key(findings[0].rule_id), card))
    for failure in result.failures:
        ranked.append((0, failure.rule.sort_key, _failure_card(failure)))
    if facts.data_gaps and (result.in_scope or _gap_touches_scope(facts)):
        ranked.append((0, (1000, ""), _data_gap_card(facts)))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [card for _, _, card in ranked]


class _Call:
    """What the cards of one call share, worked out once per call instead of once per card:
    rule sort keys, the pregnancy line, whether a test was resulted recently. Lives for one
    ``build_cards`` only: nothing about a patient outlives the call."""

    __slots__ = ("_pregnancy", "_resulted", "_sort_keys", "_windows", "facts", "rules")

    def __init__(self, facts: PatientFacts, rules: Any) -> None:
        self.facts = facts
        self.rules = rules
        self._sort_keys: dict[str, tuple[int, str]] = {}
        self._pregnancy: str | None = None
        self._resulted: dict[tuple[str, str], bool] = {}
        self._windows: dict[str, timedelta] = {}

    def sort_key(self, rule_id: str) -> tuple[int, str]:
        key = self._sort_keys.get(rule_id)
        if key is None:
            key = self._sort_keys[rule_id] = _rule_sort(self.rules, rule_id)
        return key

    def pregnancy_line(self) -> str:
        if self._pregnancy is None:
            self._pregnancy = _pregnancy_line(self.facts)
        return self._pregnancy

    def resulted(self, analyte: str, freshness: str) -> bool:
        """``analyte`` has a dated result within its freshness window (acute: hours)."""
        key = (analyte, freshness)
        done = self._resulted.get(key)
        if done is None:
            latest = self.facts.latest(analyte)
            done = self._resulted[key] = (
                latest is not None
                and latest.when is not None
                and self.facts.now - latest.when <= self._window(analyte, freshness)
            )
        return done

    def _window(self, analyte: str, freshness: str) -> timedelta:
        policy = self.facts.policy
        if freshness == "acute":
            return timedelta(hours=policy.acute_order_freshness_hours)
        klass = ANALYTES[analyte].freshness
        window = self._windows.get(klass)
        if window is None:
            window = self._windows[klass] = timedelta(days=policy.staleness_for(klass))
        return window


def _drop_superseded(findings: Sequence[Finding]) -> list[Finding]:
    """A supersedable finding (an R24 lab flag) adds nothing when another finding already
    shows the same data on its card."""
    kept: list[Finding] = []
    for finding in findings:
        if finding.supersedable:
            refs = {ev.reference for ev in finding.evidence if ev.reference}
            others = {
                ev.reference
                for other in findings
                if other is not finding and not other.supersedable
                for ev in other.evidence
                if ev.reference
            }
            if refs and refs <= others:
                continue
        kept.append(finding)
    return kept


def _rule_sort(rules: Any, rule_id: str) -> tuple[int, str]:
    spec = rules.get(rule_id)
    return spec.sort_key if spec is not None else (999, rule_id)


def new_uuid() -> str:
    """A random (version 4) UUID string: every card and each of its suggestions get one."""
    return str(uuid.uuid4())


# ---- summary ------------------------------------------------------------------------------


def summary_for(finding: Finding, facts: PatientFacts) -> str:
    """ "[finding + value + unit + gestation]: [action]" within 139 characters (E.2)."""
    status = facts.pregnancy.status
    if status is PregnancyStatus.UNKNOWN and finding.hedge_unknown_status:
        head, action = finding.headline, wording.UNKNOWN_STATUS_PREFIX + finding.action
    elif status is PregnancyStatus.UNKNOWN:
        head, action = finding.headline, finding.action
    else:
        when = facts.pregnancy.when_text()
        head, action = (f"{finding.headline} {when}" if when else finding.headline), finding.action
    text = f"{head}: {action}"
    if len(text) > MAX_SUMMARY:
        log.warning("summary too long", extra={"rule": finding.rule_id, "length": len(text)})
        text = text[: MAX_SUMMARY - 1].rstrip() + "…"
    return text


# ---- detail -------------------------------------------------------------------------------


_STATUS_TEXT: dict[PregnancyStatus, str] = {
    PregnancyStatus.PREGNANT: "pregnant",
    PregnancyStatus.POSTPARTUM: "postpartum",
    PregnancyStatus.UNKNOWN: "unknown or conflicting",
}


def _pregnancy_line(facts: PatientFacts) -> str:
    preg = facts.pregnancy
    status = _STATUS_TEXT.get(preg.status, str(preg.status))
    parts = [f"Pregnancy status: {status}"]
    if preg.pregnant and preg.ga_text():
        parts.append(
            f"gestational age {preg.ga_text()} (EDD {preg.edd.isoformat() if preg.edd else '?'})"
        )
    if preg.postpartum:
        if preg.delivery_estimated:
            parts.append("delivery date not recorded (estimated from EDD)")
        elif preg.delivery_date is not None:
            parts.append(f"delivered {preg.delivery_date.isoformat()} (day {preg.days_postpartum})")
    if preg.evidence:
        parts.append("based on " + "; ".join(ev.line() for ev in preg.evidence[:2]))
    return ", ".join(parts)


def detail_for(
    findings: Sequence[Finding], facts: PatientFacts, rules: Any, call: _Call | None = None
) -> str:
    if call is None:
        call = _Call(facts, rules)
    lead = findings[0]
    lines: list[str] = ["**Data used**"]
    seen: set[Evidence] = set()
    for finding in findings:
        for ev in finding.evidence:
            if ev not in seen:
                seen.add(ev)
                lines.append("- " + ev.line())
    lines.append("- " + call.pregnancy_line())
    lines.append("")
    lines.append("**Rule**")
    for finding in findings:
        title = rules[finding.rule_id].title if finding.rule_id in rules else finding.rule_id
        lines.append(f"- {title} ({finding.rule_id}, {finding.indicator}): {finding.rule_text}")
    if any(f.notes for f in findings):
        lines.append("")
        lines.append("**Notes**")
        lines.extend("- " + n for n in dict.fromkeys(n for f in findings for n in f.notes))
    cited = dict.fromkeys(_citation(f, rules) for f in findings)
    lines.append("")
    lines.append("**Source**: " + "; ".join(_source_text(c) for c in cited))
    if any(f.cautions for f in findings):
        lines.append("")
        lines.append("**Do not**")
        lines.extend("- " + c for c in dict.fromkeys(c for f in findings for c in f.cautions))
    if any(f.gaps for f in findings):
        lines.append("")
        lines.append("**Data gaps**")
        lines.extend("- " + g for g in dict.fromkeys(g for f in findings for g in f.gaps))
    if facts.pregnancy.status is PregnancyStatus.UNKNOWN:
        lines.append("")
        lines.append(wording.UNKNOWN_STATUS_NOTE)
    lines.append("")
    lines.append(
        wording.CRITICAL_FOOTER if lead.indicator == "critical" else wording.ADVISORY_FOOTER
    )
    return "\n".join(lines)


@functools.cache
def _source_text(cited: Citation) -> str:
    return f"{cited.label} ({cited.url})"


def _citation(finding: Finding, rules: Any) -> Citation:
    spec: RuleSpec | None = rules.get(finding.rule_id)
    return citation(finding.citation or (spec.citation if spec is not None else "FHIROBS"))


# ---- suggestions --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemParts:
    """The constant parts of one catalogue item's draft order, built once per item."""

    codes: frozenset[CodeKey]
    codings: tuple[tuple[str, str, str], ...]
    description: str


def _parts_of(item: OrderItem) -> _ItemParts:
    cached = _ITEM_PARTS.get(item.key)
    if cached is not None and cached[0] is item:
        return cached[1]
    parts = _ItemParts(
        codes=frozenset(c.key for c in item.codings),
        codings=tuple((c.system, c.code, c.display) for c in item.codings),
        description=f"Draft order: {item.label}",
    )
    _ITEM_PARTS[item.key] = (item, parts)
    return parts


# Keyed by item key, checked by identity: an item that is not the catalogue's own gets fresh
# parts rather than another item's.
_ITEM_PARTS: dict[str, tuple[OrderItem, _ItemParts]] = {}
for _item in ORDER_ITEMS.values():
    _parts_of(_item)


def _already_ordered(item: OrderItem, facts: PatientFacts) -> bool:
    codes = _parts_of(item).codes
    return any(not codes.isdisjoint(order.codes) for order in facts.orders)


def _recently_resulted(
    item: OrderItem, facts: PatientFacts, freshness: str, call: _Call | None = None
) -> bool:
    if call is None:
        call = _Call(facts, registry())
    return any(call.resulted(analyte, freshness) for analyte in item.analytes)


def _service_request(
    item: OrderItem, facts: PatientFacts, reasons: Sequence[str]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [
                {"system": system, "code": code, "display": display}
                for system, code, display in _parts_of(item).codings
            ],
            "text": item.label,
        },
        "subject": {"reference": f"Patient/{facts.patient_id}"},
    }
    if facts.encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{facts.encounter_id}"}
    if reasons:
        resource["reasonReference"] = [{"reference": ref} for ref in reasons]
    return resource


@dataclass(frozen=True)
class _Planned:
    bundle: OrderBundle
    items: tuple[OrderItem, ...]


def _plan_orders(
    findings: Sequence[Finding], facts: PatientFacts, call: _Call | None = None
) -> list[_Planned]:
    if call is None:
        call = _Call(facts, registry())
    planned: list[_Planned] = []
    taken: set[str] = set()
    for finding in findings:
        for key in finding.orders:
            bundle = bundle_for(key)
            needed: list[OrderItem] = []
            for i in bundle.items:
                if i in taken:
                    continue
                item = ORDER_ITEMS[i]
                if not _already_ordered(item, facts) and not _recently_resulted(
                    item, facts, finding.order_freshness, call
                ):
                    needed.append(item)
            items = tuple(needed)
            if bundle.alternatives and len(items) != len(bundle.items):
                # One of the alternatives is already done or ordered: none is needed.
                continue
            if not items:
                continue
            taken.update(i.key for i in items)
            planned.append(_Planned(bundle, items))
    return planned


_REASON_TYPES = frozenset({"Observation", "Condition"})


def _suggestions(
    findings: Sequence[Finding], facts: PatientFacts, call: _Call | None = None
) -> tuple[list[Suggestion], str | None]:
    reasons = list(
        dict.fromkeys(
            ev.reference
            for f in findings
            for ev in f.evidence
            if ev.reference and ev.reference.split("/", 1)[0] in _REASON_TYPES
        )
    )
    suggestions: list[Suggestion] = []
    for finding in findings:
        for ref in finding.delete_orders:
            suggestions.append(
                Suggestion(
                    label="Remove the draft order",
                    uuid=new_uuid(),
                    is_recommended=True,
                    actions=[
                        Action(
                            type="delete", description="Remove this draft order", resource_id=ref
                        )
                    ],
                )
            )
    planned = _plan_orders(findings, facts, call)
    alternatives = [p for p in planned if p.bundle.alternatives]
    independent = [p for p in planned if not p.bundle.alternatives]
    behaviour: Literal["at-most-one", "any"] | None = None
    if alternatives and not independent and not suggestions:
        behaviour = "at-most-one"
        plan = alternatives[0]
        for index, item in enumerate(plan.items):
            suggestions.append(
                _suggestion(item.label, (item,), facts, reasons, recommended=index == 0)
            )
    else:
        for plan in planned:
            items = plan.items[:1] if plan.bundle.alternatives else plan.items
            label = items[0].label if plan.bundle.alternatives else plan.bundle.label
            suggestions.append(_suggestion(label, items, facts, reasons, recommended=None))
        if suggestions:
            behaviour = "at-most-one" if len(suggestions) == 1 and not planned else "any"
    return suggestions[:MAX_SUGGESTIONS], behaviour


def _suggestion(
    label: str,
    items: Sequence[OrderItem],
    facts: PatientFacts,
    reasons: Sequence[str],
    *,
    recommended: bool | None,
) -> Suggestion:
    actions = [
        Action(
            type="create",
            description=_parts_of(item).description,
            resource=_service_request(item, facts, reasons),
        )
        for item in items
    ]
    return Suggestion(label=label, uuid=new_uuid(), is_recommended=recommended, actions=actions)


# ---- cards --------------------------------------------------------------------------------

# clinical.md E.2 override reasons, validated once. Cards share these Coding objects (the
# wire models are never mutated after construction); each card gets its own list.
_OVERRIDE_REASONS: tuple[Coding, ...] = tuple(
    Coding(system=c.system, code=c.code, display=c.display) for c in wording.OVERRIDE_REASONS
)


def _override_reasons() -> list[Coding]:
    return list(_OVERRIDE_REASONS)


def _problem_card(
    findings: Sequence[Finding], facts: PatientFacts, rules: Any, call: _Call | None = None
) -> Card:
    if call is None:
        call = _Call(facts, rules)
    lead = findings[0]
    spec: RuleSpec | None = rules.get(lead.rule_id)
    cited = _citation(lead, rules)
    suggestions, behaviour = _suggestions(findings, facts, call)
    card = Card(
        uuid=new_uuid(),
        summary=summary_for(lead, facts),
        detail=detail_for(findings, facts, rules, call),
        indicator=lead.indicator,
        source=Source(
            label=cited.label,
            url=cited.url,
            topic=Coding(
                system=RULE, code=lead.rule_id, display=spec.title if spec else lead.rule_id
            ),
        ),
        suggestions=suggestions or None,
        selection_behavior=behaviour if suggestions else None,
        override_reasons=_override_reasons() if INDICATOR_RANK[lead.indicator] > 0 else None,
        links=[Link(label=cited.label[:80], url=cited.url, type="absolute")],
    )
    _check_wording(card)
    return card


def _check_wording(card: Card) -> None:
    text = f"{card.summary}\n{card.detail or ''}".lower()
    for phrase in wording.FORBIDDEN_PHRASES:
        if phrase in text:
            log.error("card uses forbidden wording", extra={"phrase": phrase})


def _failure_card(failure: RuleFailure) -> Card:
    spec = failure.rule
    cited = citation(spec.citation)
    summary = wording.RULE_FAILED_SUMMARY.format(title=spec.title.lower())
    detail = (
        f"The check **{spec.title}** ({spec.id}) could not run on this record "
        f"({failure.error}). Its red flags were not assessed by this service: review them "
        "clinically.\n\n" + wording.ADVISORY_FOOTER
    )
    return Card(
        uuid=new_uuid(),
        summary=summary[:MAX_SUMMARY],
        detail=detail,
        indicator="info",
        source=Source(
            label=cited.label,
            url=cited.url,
            topic=Coding(system=RULE, code=spec.id, display=spec.title),
        ),
    )


_SCOPE_KEYS = frozenset({"patient", "pregnancy", "conditions", "deliveries"})


def _gap_touches_scope(facts: PatientFacts) -> bool:
    return any(gap.key in _SCOPE_KEYS for gap in facts.data_gaps)


def _data_gap_card(facts: PatientFacts) -> Card:
    lines = ["The following data could not be retrieved for this call:"]
    for gap in facts.data_gaps:
        kind = wording.PREFETCH_KEY_TEXT.get(gap.key, gap.key)
        reason = wording.GAP_REASON_TEXT.get(gap.reason, gap.reason)
        lines.append(f"- {kind}: {reason}")
    lines.append("")
    lines.append(
        "The advice on this screen uses only the data that was received; red flags in the "
        "missing data were not checked."
    )
    cited = citation("FHIROBS")
    return Card(
        uuid=new_uuid(),
        summary=wording.DATA_GAP_SUMMARY,
        detail="\n".join(lines),
        indicator="info",
        source=Source(
            label="prenatal-cds data availability",
            url=cited.url,
            topic=Coding(system=RULE, code=DATA_RULE_ID, display="Data availability"),
        ),
    )
