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
    rules = registry()
    groups: dict[str, list[Finding]] = {}
    for finding in _drop_superseded(result.findings):
        groups.setdefault(finding.problem, []).append(finding)
    ranked: list[tuple[int, tuple[int, str], Card]] = []
    for findings in groups.values():
        findings.sort(key=lambda f: (-f.rank, _rule_sort(rules, f.rule_id)))
        card = _problem_card(findings, facts, rules)
        ranked.append((findings[0].rank, _rule_sort(rules, findings[0].rule_id), card))
    for failure in result.failures:
        ranked.append((0, failure.rule.sort_key, _failure_card(failure)))
    if facts.data_gaps and (result.in_scope or _gap_touches_scope(facts)):
        ranked.append((0, (1000, ""), _data_gap_card(facts)))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [card for _, _, card in ranked]


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


def _pregnancy_line(facts: PatientFacts) -> str:
    preg = facts.pregnancy
    status = {
        PregnancyStatus.PREGNANT: "pregnant",
        PregnancyStatus.POSTPARTUM: "postpartum",
        PregnancyStatus.UNKNOWN: "unknown or conflicting",
    }.get(preg.status, str(preg.status))
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


def detail_for(findings: Sequence[Finding], facts: PatientFacts, rules: Any) -> str:
    lead = findings[0]
    lines: list[str] = ["**Data used**"]
    seen: set[Evidence] = set()
    for finding in findings:
        for ev in finding.evidence:
            if ev not in seen:
                seen.add(ev)
                lines.append(f"- {ev.line()}")
    lines.append(f"- {_pregnancy_line(facts)}")
    lines.append("")
    lines.append("**Rule**")
    for finding in findings:
        title = rules[finding.rule_id].title if finding.rule_id in rules else finding.rule_id
        lines.append(f"- {title} ({finding.rule_id}, {finding.indicator}): {finding.rule_text}")
    notes = [n for f in findings for n in f.notes]
    if notes:
        lines.append("")
        lines.append("**Notes**")
        lines.extend(f"- {n}" for n in dict.fromkeys(notes))
    cited = [_citation(f, rules) for f in findings]
    lines.append("")
    lines.append("**Source**: " + "; ".join(f"{c.label} ({c.url})" for c in dict.fromkeys(cited)))
    cautions = list(dict.fromkeys(c for f in findings for c in f.cautions))
    if cautions:
        lines.append("")
        lines.append("**Do not**")
        lines.extend(f"- {c}" for c in cautions)
    gaps = list(dict.fromkeys(g for f in findings for g in f.gaps))
    if gaps:
        lines.append("")
        lines.append("**Data gaps**")
        lines.extend(f"- {g}" for g in gaps)
    if facts.pregnancy.status is PregnancyStatus.UNKNOWN:
        lines.append("")
        lines.append(wording.UNKNOWN_STATUS_NOTE)
    lines.append("")
    lines.append(
        wording.CRITICAL_FOOTER if lead.indicator == "critical" else wording.ADVISORY_FOOTER
    )
    return "\n".join(lines)


def _citation(finding: Finding, rules: Any) -> Citation:
    spec: RuleSpec | None = rules.get(finding.rule_id)
    return citation(finding.citation or (spec.citation if spec is not None else "FHIROBS"))


# ---- suggestions --------------------------------------------------------------------------


def _already_ordered(item: OrderItem, facts: PatientFacts) -> bool:
    codes = {c.key for c in item.codings}
    return any(order.codes & codes for order in facts.orders)


def _recently_resulted(item: OrderItem, facts: PatientFacts, freshness: str) -> bool:
    for analyte in item.analytes:
        latest = facts.latest(analyte)
        if latest is None or latest.when is None:
            continue
        if freshness == "acute":
            window = timedelta(hours=facts.policy.acute_order_freshness_hours)
        else:
            window = timedelta(days=facts.policy.staleness_for(ANALYTES[analyte].freshness))
        if facts.now - latest.when <= window:
            return True
    return False


def _service_request(
    item: OrderItem, facts: PatientFacts, reasons: Sequence[str]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [
                {"system": c.system, "code": c.code, "display": c.display} for c in item.codings
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


def _plan_orders(findings: Sequence[Finding], facts: PatientFacts) -> list[_Planned]:
    planned: list[_Planned] = []
    taken: set[str] = set()
    for finding in findings:
        for key in finding.orders:
            bundle = bundle_for(key)
            items = tuple(
                ORDER_ITEMS[i]
                for i in bundle.items
                if i not in taken
                and not _already_ordered(ORDER_ITEMS[i], facts)
                and not _recently_resulted(ORDER_ITEMS[i], facts, finding.order_freshness)
            )
            if bundle.alternatives and len(items) != len(bundle.items):
                # One of the alternatives is already done or ordered: none is needed.
                continue
            if not items:
                continue
            taken.update(i.key for i in items)
            planned.append(_Planned(bundle, items))
    return planned


def _suggestions(
    findings: Sequence[Finding], facts: PatientFacts
) -> tuple[list[Suggestion], str | None]:
    reasons = list(
        dict.fromkeys(
            ev.reference
            for f in findings
            for ev in f.evidence
            if ev.reference and ev.reference.split("/", 1)[0] in ("Observation", "Condition")
        )
    )
    suggestions: list[Suggestion] = []
    for finding in findings:
        for ref in finding.delete_orders:
            suggestions.append(
                Suggestion(
                    label="Remove the draft order",
                    uuid=str(uuid.uuid4()),
                    is_recommended=True,
                    actions=[
                        Action(
                            type="delete", description="Remove this draft order", resource_id=ref
                        )
                    ],
                )
            )
    planned = _plan_orders(findings, facts)
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
            description=f"Draft order: {item.label}",
            resource=_service_request(item, facts, reasons),
        )
        for item in items
    ]
    return Suggestion(
        label=label, uuid=str(uuid.uuid4()), is_recommended=recommended, actions=actions
    )


# ---- cards --------------------------------------------------------------------------------


def _override_reasons() -> list[Coding]:
    return [
        Coding(system=c.system, code=c.code, display=c.display) for c in wording.OVERRIDE_REASONS
    ]


def _problem_card(findings: Sequence[Finding], facts: PatientFacts, rules: Any) -> Card:
    lead = findings[0]
    spec: RuleSpec | None = rules.get(lead.rule_id)
    cited = _citation(lead, rules)
    suggestions, behaviour = _suggestions(findings, facts)
    card = Card(
        uuid=str(uuid.uuid4()),
        summary=summary_for(lead, facts),
        detail=detail_for(findings, facts, rules),
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
        uuid=str(uuid.uuid4()),
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
        uuid=str(uuid.uuid4()),
        summary=wording.DATA_GAP_SUMMARY,
        detail="\n".join(lines),
        indicator="info",
        source=Source(
            label="prenatal-cds data availability",
            url=cited.url,
            topic=Coding(system=RULE, code=DATA_RULE_ID, display="Data availability"),
        ),
    )
