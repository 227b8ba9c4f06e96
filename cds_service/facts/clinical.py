"""Symptoms and conditions (clinical.md A.1, F), active medicines by class (A.4), orders.

Symptoms arrive as a Condition (active, not refuted/entered-in-error) or as an Observation
whose code is the finding: value absent, ``true`` or SNOMED "Yes" means present;
``false`` or "No" means looked for and absent. Laterality comes from ``bodySite``.
Matching is by (system, code) only, so free text alone never creates a finding.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cds_service.facts.common import (
    ACCEPTED_RESULT_STATUSES,
    code_of,
    concept_keys,
    concept_text,
    effective_time,
    reference_of,
    to_datetime,
)
from cds_service.facts.model import Laterality, MedicationFact, OrderFact, SymptomFact
from cds_service.knowledge import codes as c
from cds_service.knowledge.codes import CodeKey

_EPOCH = datetime.min.replace(tzinfo=UTC)
_INACTIVE = frozenset({"inactive", "resolved", "remission"})
_REFUTED = frozenset({"refuted", "entered-in-error"})
_LEFT = re.compile(r"\bleft\b", re.IGNORECASE)
_RIGHT = re.compile(r"\bright\b", re.IGNORECASE)
_BOTH = re.compile(r"\b(bilateral|both)\b", re.IGNORECASE)


def laterality(body_sites: Any) -> Laterality | None:
    left = right = both = False
    for site in body_sites or []:
        keys = concept_keys(site)
        left |= c.LATERALITY_LEFT.key in keys
        right |= c.LATERALITY_RIGHT.key in keys
        text = getattr(site, "text", None) or ""
        for coding in getattr(site, "coding", None) or []:
            text += " " + (getattr(coding, "display", None) or "")
        both |= bool(_BOTH.search(text))
        left |= bool(_LEFT.search(text))
        right |= bool(_RIGHT.search(text))
    if both or (left and right):
        return "bilateral"
    if left:
        return "left"
    if right:
        return "right"
    return None


def _finding_of(keys: list[CodeKey]) -> tuple[str | None, CodeKey | None]:
    for key in keys:
        found = c.FINDING_BY_CODE.get(key)
        if found is not None:
            return found, key
    return None, None


def _observation_present(obs: Any) -> bool | None:
    """True present, False absent, None = a value we cannot read as present/absent."""
    boolean = getattr(obs, "valueBoolean", None)
    if boolean is not None:
        return bool(boolean)
    concept = getattr(obs, "valueCodeableConcept", None)
    if concept is not None:
        keys = concept_keys(concept)
        if c.ANSWER_YES.key in keys:
            return True
        if c.ANSWER_NO.key in keys:
            return False
        return None
    for attr in ("valueQuantity", "valueString", "valueInteger", "valueRange", "valueRatio"):
        if getattr(obs, attr, None) is not None:
            return None
    return True


def build_symptoms(
    observations: tuple[Any, ...], conditions: tuple[Any, ...]
) -> Mapping[str, tuple[SymptomFact, ...]]:
    by_key: dict[str, list[SymptomFact]] = defaultdict(list)
    for obs in observations:
        status = code_of(obs, "status") or "unknown"
        if status not in ACCEPTED_RESULT_STATUSES:
            continue
        key, code = _finding_of(concept_keys(obs.code))
        if key is None:
            continue
        present = _observation_present(obs)
        if present is None:
            continue
        when = effective_time(obs)
        recorded = to_datetime(getattr(obs, "issued", None))
        by_key[key].append(
            SymptomFact(
                key,
                c.FINDINGS[key].label,
                present,
                when,
                recorded,
                "Observation",
                status,
                laterality(getattr(obs, "bodySite", None) and [obs.bodySite]),
                reference_of(obs),
                code,
            )
        )
    for cond in conditions:
        key, code = _finding_of(concept_keys(cond.code))
        if key is None:
            continue
        verification = {k[1] for k in concept_keys(getattr(cond, "verificationStatus", None))}
        if verification & _REFUTED:
            continue
        clinical = {k[1] for k in concept_keys(getattr(cond, "clinicalStatus", None))}
        present = not (clinical & _INACTIVE)
        onset = to_datetime(getattr(cond, "onsetDateTime", None))
        if onset is None and getattr(cond, "onsetPeriod", None) is not None:
            onset = to_datetime(cond.onsetPeriod.start)
        recorded = to_datetime(getattr(cond, "recordedDate", None))
        when = onset
        if not present:
            when = to_datetime(getattr(cond, "abatementDateTime", None)) or onset
        status = min(clinical) if clinical else "active"
        if verification - {"confirmed"}:
            status += f", {sorted(verification)[0]}"
        by_key[key].append(
            SymptomFact(
                key,
                c.FINDINGS[key].label,
                present,
                when,
                recorded,
                "Condition",
                status,
                laterality(getattr(cond, "bodySite", None)),
                reference_of(cond),
                code,
            )
        )
    out: dict[str, tuple[SymptomFact, ...]] = {}
    for key, facts in by_key.items():
        facts.sort(
            key=lambda f: (f.when or f.recorded or _EPOCH, f.recorded or _EPOCH), reverse=True
        )
        out[key] = tuple(facts)
    return out


# ---------------------------------------------------------------------------------------
# Medicines
# ---------------------------------------------------------------------------------------


def medication_codes(
    resource: Any, medications: Mapping[str, Any]
) -> tuple[list[CodeKey], str | None, Any]:
    """Codes of a MedicationRequest/Statement: its concept, or the referenced Medication
    (contained or in the data) and that Medication's ingredients."""
    concept = getattr(resource, "medicationCodeableConcept", None)
    keys = concept_keys(concept)
    label = concept_text(concept)
    med = None
    ref = getattr(resource, "medicationReference", None)
    if ref is not None and getattr(ref, "reference", None):
        target = str(ref.reference)
        if target.startswith("#"):
            med = next(
                (
                    r
                    for r in getattr(resource, "contained", None) or []
                    if getattr(r, "id", None) == target[1:]
                ),
                None,
            )
        else:
            med = medications.get(target.rsplit("/", 1)[-1])
        label = label or getattr(ref, "display", None)
    if med is not None:
        keys += concept_keys(getattr(med, "code", None))
        label = label or concept_text(getattr(med, "code", None))
        for ingredient in getattr(med, "ingredient", None) or []:
            keys += concept_keys(getattr(ingredient, "itemCodeableConcept", None))
    return keys, label, med


def classes_of(keys: list[CodeKey]) -> frozenset[str]:
    return _classes_of(tuple(keys))


@lru_cache(maxsize=4096)  # bounded: the keys come from the request
def _classes_of(keys: tuple[CodeKey, ...]) -> frozenset[str]:
    return frozenset(
        mc.key
        for mc in c.MEDICATION_CLASSES.values()
        if any(mc.matches(system, code) for system, code in keys)
    )


def _parenteral(resource: Any, keys: list[CodeKey], med: Any) -> bool | None:
    if any(system == c.ATC and code == c.PARENTERAL_MGSO4_ATC for system, code in keys):
        return True
    routes: list[CodeKey] = []
    for dosage in (
        getattr(resource, "dosageInstruction", None) or getattr(resource, "dosage", None) or []
    ):
        routes += concept_keys(getattr(dosage, "route", None))
    if c.PARENTERAL_ROUTES.matches(routes):
        return True
    if c.ORAL_ROUTES.matches(routes):
        return False
    return None


def _started(resource: Any) -> datetime | None:
    for dosage in (
        getattr(resource, "dosageInstruction", None) or getattr(resource, "dosage", None) or []
    ):
        timing = getattr(dosage, "timing", None)
        repeat = getattr(timing, "repeat", None) if timing is not None else None
        bounds = getattr(repeat, "boundsPeriod", None) if repeat is not None else None
        if bounds is not None and getattr(bounds, "start", None):
            return to_datetime(bounds.start)
    period = getattr(resource, "effectivePeriod", None)
    if period is not None and getattr(period, "start", None):
        return to_datetime(period.start)
    for attr in ("effectiveDateTime", "authoredOn", "dateAsserted"):
        found = to_datetime(getattr(resource, attr, None))
        if found is not None:
            return found
    return None


def build_medications(
    requests: tuple[Any, ...], statements: tuple[Any, ...], medications: Mapping[str, Any]
) -> tuple[MedicationFact, ...]:
    out: list[MedicationFact] = []
    for resource in (*requests, *statements):
        status = code_of(resource, "status") or "unknown"
        if status != "active":
            continue
        keys, label, med = medication_codes(resource, medications)
        classes = classes_of(keys)
        if not classes:
            continue
        out.append(
            MedicationFact(
                classes=classes,
                codes=tuple(keys),
                label=label or ", ".join(sorted(c.MEDICATION_CLASSES[k].label for k in classes)),
                status=status,
                started=_started(resource),
                reference=reference_of(resource),
                parenteral=_parenteral(resource, keys, med),
            )
        )
    return tuple(out)


def build_orders(
    hook_drafts: tuple[Any, ...],
    service_requests: tuple[Any, ...],
    requests: tuple[Any, ...],
    medications: Mapping[str, Any],
) -> tuple[OrderFact, ...]:
    """Hook draft orders, plus draft/active ServiceRequests and draft MedicationRequests."""
    out: list[OrderFact] = []
    for resource in hook_drafts:
        out.append(_order(resource, medications, from_hook=True))
    for sr in service_requests:
        if code_of(sr, "status") in ("draft", "active"):
            out.append(_order(sr, medications, from_hook=False))
    for mr in requests:
        if code_of(mr, "status") == "draft":
            out.append(_order(mr, medications, from_hook=False))
    return tuple(out)


def _order(resource: Any, medications: Mapping[str, Any], *, from_hook: bool) -> OrderFact:
    rtype = resource.get_resource_type()
    if rtype in ("MedicationRequest", "MedicationStatement"):
        keys, label, _ = medication_codes(resource, medications)
    else:
        keys = concept_keys(getattr(resource, "code", None))
        label = concept_text(getattr(resource, "code", None))
    authored = to_datetime(getattr(resource, "authoredOn", None))
    return OrderFact(
        resource_type=rtype,
        id=getattr(resource, "id", None),
        codes=frozenset(keys),
        classes=classes_of(keys),
        status=code_of(resource, "status") or "unknown",
        authored=authored,
        from_hook=from_hook,
        label=label or "",
    )
