"""Order checks (order-select / order-sign): quinine (R18), diuretics (R17b), D-dimer (R18b).

* Quinine for leg cramps in pregnancy: Cochrane 2020 left quinine out because of its
  known adverse effects (teratogenicity); the only medication action this service may
  suggest is removing the draft order (clinical.md E.1 item 3).
* A loop or thiazide diuretic lowers K, Mg and Na (NICE CKS drug causes of cramps; the
  article warns against uncontrolled diuretic use in pregnancy): without a recent result,
  suggest checking them.
* A D-dimer order gets an info note: it is not a stand-alone rule-out for VTE in
  pregnancy (RCOG GTG37b; the service never suggests D-dimer itself).

order-select: decision support focuses on the newly *selected* orders (CDS Hooks
order-select: "Decision support should focus on the 'selected' orders"); order-sign
checks every draft being signed.
"""

from __future__ import annotations

from cds_service.facts import Evidence, OrderFact, PatientFacts
from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.codes import DIURETIC_CLASSES
from cds_service.rules._registry import Finding, draft_orders, labs, rule

ORDER_HOOKS = ("order-select", "order-sign")
# Electrolytes a diuretic order should be preceded by, as order-item keys.
DIURETIC_BASELINE = ("potassium", "magnesium", "sodium")


def _same_reference(selection: str, reference: str) -> bool:
    """``MedicationRequest/x`` also matches an absolute ``.../MedicationRequest/x``."""
    return selection == reference or selection.endswith("/" + reference)


def focused_drafts(facts: PatientFacts) -> tuple[OrderFact, ...]:
    """The hook's draft orders this call is about: the selections on order-select."""
    drafts = facts.hook_drafts()
    if facts.hook != "order-select" or not facts.selections:
        return drafts
    return tuple(
        d
        for d in drafts
        if d.reference is not None
        and any(_same_reference(s, d.reference) for s in facts.selections)
    )


def _drug_name(order: OrderFact) -> str:
    """The first word of the order's text ("Furosemide 20 mg tablet" -> "Furosemide")."""
    words = (order.label or "Diuretic").split()
    return words[0].capitalize() if words else "Diuretic"


def _order_evidence(order: OrderFact) -> Evidence:
    return Evidence(
        order.label or order.resource_type,
        None,
        order.authored,
        f"{order.status} order",
        order.reference,
        min(order.codes) if order.codes else None,
    )


@rule(
    id="R18",
    title="Quinine ordered in pregnancy",
    family="medications",
    citation="COCH",
    needs=draft_orders(),
    hooks=ORDER_HOOKS,
    severities=("warning",),
)
def quinine_order(facts: PatientFacts) -> Finding | None:
    """A draft MedicationRequest for quinine (RxNorm 9071 / ATC P01BC01) for a pregnant
    patient: warn (teratogenicity concern) and suggest deleting the draft order."""
    if not facts.pregnancy.pregnant:
        return None
    orders = [o for o in focused_drafts(facts) if "quinine" in o.classes]
    if not orders:
        return None
    refs = tuple(o.reference for o in orders if o.reference)
    return Finding(
        rule_id="R18",
        problem="quinine",
        indicator="warning",
        headline="Quinine ordered for a pregnant patient",
        action="avoid - teratogenicity concern; consider alternatives",
        rule_text=(
            "Quinine is not recommended for leg cramps in pregnancy: the Cochrane review "
            "left it out because of its known adverse effects, including teratogenicity."
        ),
        evidence=tuple(_order_evidence(o) for o in orders),
        cautions=("Do not prescribe quinine for cramps in pregnancy.",),
        notes=(
            "Alternatives: calf stretching and non-drug measures; magnesium or calcium are "
            "options by preference with low-certainty evidence (WHO ANC 2016, Cochrane 2020).",
        ),
        delete_orders=refs,
    )


@rule(
    id="R17b",
    title="Diuretic ordered in pregnancy without recent K, Mg and Na",
    family="medications",
    citation="CKS",
    needs=(*draft_orders(), *labs("potassium", "magnesium", "sodium")),
    hooks=ORDER_HOOKS,
    severities=("info",),
)
def diuretic_order_without_electrolytes(facts: PatientFacts) -> Finding | None:
    """A draft loop or thiazide diuretic for a pregnant patient with no potassium,
    magnesium or sodium result within its freshness window: suggest the missing ones
    (info)."""
    if not facts.pregnancy.pregnant:
        return None
    orders = [o for o in focused_drafts(facts) if o.classes & set(DIURETIC_CLASSES)]
    if not orders:
        return None
    missing = tuple(a for a in DIURETIC_BASELINE if facts.fresh(a) is None)
    if not missing:
        return None
    evidence = [_order_evidence(o) for o in orders]
    for analyte in DIURETIC_BASELINE:
        latest = facts.latest(analyte)
        if latest is not None:
            evidence.append(latest.evidence())
    names = ", ".join(ANALYTES[a].label for a in missing)
    window = facts.policy.staleness_for("electrolyte")
    return Finding(
        rule_id="R17b",
        problem="diuretic-order",
        indicator="info",
        headline=f"{_drug_name(orders[0])} ordered without {names} in the last {window} days",
        action=f"check {names} before starting",
        rule_text=(
            "Loop and thiazide diuretics lower potassium, magnesium and sodium, and low "
            "values cause cramps (NICE CKS). Check them when no recent result exists."
        ),
        evidence=tuple(evidence),
        orders=("diuretic-baseline",),
        gaps=(f"No result within {window} days for: {names}.",),
    )


@rule(
    id="R18b",
    title="D-dimer ordered: not a stand-alone rule-out in pregnancy",
    family="medications",
    citation="GTG37b",
    needs=draft_orders(),
    hooks=ORDER_HOOKS,
    postpartum=True,
    severities=("info",),
)
def d_dimer_order(facts: PatientFacts) -> Finding | None:
    """A draft D-dimer order for a pregnant or postpartum patient: D-dimer rises through
    pregnancy and cannot on its own rule out VTE; suspected DVT/PE needs imaging
    (info note)."""
    codes = ANALYTES["d_dimer"].value_set.codes
    orders = [o for o in focused_drafts(facts) if o.codes & codes]
    if not orders:
        return None
    return Finding(
        rule_id="R18b",
        problem="d-dimer-order",
        indicator="info",
        headline="D-dimer ordered",
        action="not a stand-alone rule-out in pregnancy; image if VTE is suspected",
        rule_text=(
            "D-dimer rises across pregnancy and the puerperium; RCOG GTG37b advises against "
            "using it to rule out VTE. Suspected DVT needs compression duplex; suspected PE "
            "needs the local imaging pathway."
        ),
        evidence=tuple(_order_evidence(o) for o in orders),
        cautions=("Do not use a normal D-dimer to stop the work-up for DVT or PE.",),
    )
