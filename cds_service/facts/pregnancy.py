"""Pregnancy state and gestational age (clinical.md 1.1 and 1.2).

Scope is decided from pregnancy *evidence*, never from ``Patient.gender``:

* pregnant: a "Pregnant" pregnancy-status Observation (final/amended/corrected), an active
  pregnancy Condition, a future EDD, or a recent gestational-age / LMP observation;
* postpartum: a delivery (Procedure, early-postpartum Condition, or a pregnancy Condition
  that ended) in the last ``policy.postpartum_window_days`` days; an EDD that passed more
  than ``policy.post_dates_days`` ago with no delivery recorded is read as "recently
  delivered, date estimated" so that the (P) red flags stay on;
* not pregnant: the most recent statement says so and nothing still asserts a pregnancy;
* unknown: "Unknown" (LA4489-6) is the latest word, or a newer "Not pregnant" contradicts a
  pregnancy that is still asserted (active Condition, future EDD): that is a *conflict*;
* no evidence: nothing at all (no cards).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from cds_service.facts.common import (
    FINAL_STATUSES,
    code_of,
    concept_keys,
    effective_time,
    reference_of,
    to_datetime,
)
from cds_service.facts.model import Evidence, PregnancyState, PregnancyStatus, fmt_date, fmt_number
from cds_service.knowledge import codes as c
from cds_service.knowledge.policy import Policy
from cds_service.knowledge.units import normalise_unit

_TERM_DAYS = 280
_MAX_EDD_AHEAD_DAYS = 300
_INACTIVE = frozenset({"inactive", "resolved", "remission"})
_REFUTED = frozenset({"refuted", "entered-in-error"})

Kind = Literal["pregnant", "not-pregnant", "unknown"]


@dataclass(frozen=True)
class _Statement:
    kind: Kind
    when: datetime
    evidence: Evidence
    # Still asserted now (active Condition, future EDD) rather than a point-in-time answer.
    ongoing: bool = False


@dataclass(frozen=True)
class _Dating:
    edd: date
    recorded: datetime
    preference: int
    evidence: Evidence


def _condition_active(cond: Any) -> bool:
    clinical = {k[1] for k in concept_keys(getattr(cond, "clinicalStatus", None))}
    verification = {k[1] for k in concept_keys(getattr(cond, "verificationStatus", None))}
    if verification & _REFUTED:
        return False
    return not (clinical & _INACTIVE)


def _condition_time(cond: Any) -> datetime | None:
    onset = to_datetime(getattr(cond, "onsetDateTime", None))
    if onset is None and getattr(cond, "onsetPeriod", None) is not None:
        onset = to_datetime(cond.onsetPeriod.start)
    return onset or to_datetime(getattr(cond, "recordedDate", None))


def _abatement(cond: Any) -> datetime | None:
    found = to_datetime(getattr(cond, "abatementDateTime", None))
    if found is None and getattr(cond, "abatementPeriod", None) is not None:
        found = to_datetime(cond.abatementPeriod.end) or to_datetime(cond.abatementPeriod.start)
    return found


def _obs_value_keys(obs: Any) -> list[tuple[str, str]]:
    return concept_keys(getattr(obs, "valueCodeableConcept", None))


def _ga_days(obs: Any) -> int | None:
    q = getattr(obs, "valueQuantity", None)
    if q is None or q.value is None:
        return None
    unit = normalise_unit(getattr(q, "code", None), getattr(q, "unit", None))
    code_keys = concept_keys(obs.code)
    value = float(q.value)
    if unit == "wk" or (unit is None and (c.LOINC, "49052-4") not in code_keys):
        days = value * 7
    elif unit == "d" or (unit is None and (c.LOINC, "49052-4") in code_keys):
        days = value
    else:
        return None
    return round(days) if 0 <= days <= 45 * 7 else None


def _date_value(obs: Any) -> date | None:
    found = to_datetime(getattr(obs, "valueDateTime", None))
    if found is None:
        found = to_datetime(getattr(obs, "valueString", None))
    return found.date() if found is not None else None


def build_pregnancy(
    observations: tuple[Any, ...],
    conditions: tuple[Any, ...],
    procedures: tuple[Any, ...],
    now: datetime,
    policy: Policy,
) -> PregnancyState:
    today = now.date()
    statements: list[_Statement] = []
    datings: list[_Dating] = []
    deliveries: list[tuple[datetime | None, Evidence]] = []

    for obs in observations:
        status = code_of(obs, "status")
        if status not in FINAL_STATUSES:
            continue
        keys = concept_keys(obs.code)
        when = effective_time(obs) or to_datetime(getattr(obs, "issued", None))
        if when is None:
            continue
        ref = reference_of(obs)
        if c.PREGNANCY_STATUS.key in keys:
            values = _obs_value_keys(obs)
            kind: Kind | None = None
            if c.PREGNANT_VALUES.matches(values):
                kind = "pregnant"
            elif c.NOT_PREGNANT_VALUES.matches(values):
                kind = "not-pregnant"
            elif c.UNKNOWN_VALUES.matches(values):
                kind = "unknown"
            if kind is not None:
                label = {
                    "pregnant": "Pregnant",
                    "not-pregnant": "Not pregnant",
                    "unknown": "Unknown",
                }[kind]
                ev = Evidence("Pregnancy status", label, when, status, ref, c.PREGNANCY_STATUS.key)
                statements.append(_Statement(kind, when, ev))
            continue
        edd_key = next((k for k in keys if k in c.EDD), None)
        if edd_key is not None:
            edd = _date_value(obs)
            if edd is not None:
                ev = Evidence("EDD", edd.isoformat(), when, status, ref, edd_key)
                datings.append(_Dating(edd, when, c.EDD_PREFERENCE.get(edd_key, 3), ev))
            continue
        ga_key = next((k for k in keys if k in c.GESTATIONAL_AGE), None)
        if ga_key is not None:
            days = _ga_days(obs)
            if days is not None:
                edd = when.date() + timedelta(days=_TERM_DAYS - days)
                ev = Evidence(
                    "Gestational age", f"{days // 7}+{days % 7}w", when, status, ref, ga_key
                )
                datings.append(_Dating(edd, when, 4, ev))
            continue
        if c.LMP.key in keys:
            lmp = _date_value(obs)
            if lmp is not None:
                ev = Evidence("LMP", lmp.isoformat(), when, status, ref, c.LMP.key)
                datings.append(_Dating(lmp + timedelta(days=_TERM_DAYS), when, 5, ev))

    for cond in conditions:
        keys = concept_keys(cond.code)
        verification = {k[1] for k in concept_keys(getattr(cond, "verificationStatus", None))}
        if verification & _REFUTED:
            continue
        when = _condition_time(cond)
        ref = reference_of(cond)
        active = _condition_active(cond)
        if c.PREGNANCY_CONDITIONS.matches(keys):
            if active:
                stamp = when or now
                if when is None or now - when <= timedelta(
                    days=policy.pregnancy_evidence_max_age_days
                ):
                    ev = Evidence(
                        "Pregnancy (condition)", "active", when, "active", ref, next(iter(keys))
                    )
                    statements.append(_Statement("pregnant", stamp, ev, ongoing=True))
            else:
                ended = _abatement(cond)
                if ended is not None:
                    ev = Evidence(
                        "Pregnancy (condition)",
                        f"ended {fmt_date(ended)}",
                        ended,
                        "resolved",
                        ref,
                        next(iter(keys)),
                    )
                    deliveries.append((ended, ev))
        elif c.NOT_PREGNANT_CONDITIONS.matches(keys) and active and when is not None:
            ev = Evidence("Not pregnant (condition)", None, when, "active", ref, next(iter(keys)))
            statements.append(_Statement("not-pregnant", when, ev))
        elif c.POSTPARTUM_CONDITIONS.matches(keys) and active:
            ev = Evidence("Early postpartum state", None, when, "active", ref, next(iter(keys)))
            deliveries.append((when, ev))

    for proc in procedures:
        if code_of(proc, "status") in ("entered-in-error", "not-done", "preparation"):
            continue
        if not c.DELIVERY_PROCEDURES.matches(concept_keys(proc.code)):
            continue
        when = effective_time(proc)
        ev = Evidence(
            "Delivery",
            None,
            when,
            code_of(proc, "status"),
            reference_of(proc),
            next(iter(concept_keys(proc.code))),
        )
        deliveries.append((when, ev))

    return _decide(statements, datings, deliveries, now, today, policy)


def _decide(
    statements: list[_Statement],
    datings: list[_Dating],
    deliveries: list[tuple[datetime | None, Evidence]],
    now: datetime,
    today: date,
    policy: Policy,
) -> PregnancyState:
    window = timedelta(days=policy.postpartum_window_days)

    # The latest delivery: undated postpartum evidence means "recently", date unknown.
    delivery_when: datetime | None = None
    delivery_ev: Evidence | None = None
    undated_delivery: Evidence | None = None
    for when, ev in deliveries:
        if when is None:
            undated_delivery = undated_delivery or ev
        elif delivery_when is None or when > delivery_when:
            delivery_when, delivery_ev = when, ev

    # Only evidence recorded after the last delivery describes the current episode.
    after = (lambda t: t > delivery_when) if delivery_when is not None else (lambda t: True)
    current_statements = [s for s in statements if after(s.when)]
    current_datings = [d for d in datings if after(d.recorded)]

    dating = _best_dating(current_datings)
    pregnant_by_dating: _Dating | None = None
    estimated_delivery: _Dating | None = None
    if dating is not None:
        to_edd = (dating.edd - today).days
        if 0 < to_edd <= _MAX_EDD_AHEAD_DAYS or -policy.post_dates_days <= to_edd <= 0:
            pregnant_by_dating = dating
        elif (
            -(policy.post_dates_days + policy.postpartum_window_days)
            <= to_edd
            < -policy.post_dates_days
        ):
            estimated_delivery = dating

    # ---- postpartum: a dated delivery inside the window (or undated postpartum evidence) ----
    if delivery_when is not None and now - delivery_when <= window:
        assert delivery_ev is not None
        newer_pregnant = [s for s in current_statements if s.kind == "pregnant"]
        conflict_ev = tuple(s.evidence for s in newer_pregnant)
        return PregnancyState(
            PregnancyStatus.POSTPARTUM,
            evidence=(delivery_ev,),
            conflict=bool(newer_pregnant),
            conflict_evidence=conflict_ev,
            delivery_date=delivery_when.date(),
            days_postpartum=(today - delivery_when.date()).days,
        )
    if undated_delivery is not None and delivery_when is None:
        return PregnancyState(
            PregnancyStatus.POSTPARTUM, evidence=(undated_delivery,), delivery_estimated=True
        )

    # ---- pregnant / not pregnant / unknown from statements and dating ----
    max_age = timedelta(days=policy.pregnancy_evidence_max_age_days)
    pregnant_points = [
        s for s in current_statements if s.kind == "pregnant" and now - s.when <= max_age
    ]
    if pregnant_by_dating is not None:
        pregnant_points.append(
            _Statement(
                "pregnant", pregnant_by_dating.recorded, pregnant_by_dating.evidence, ongoing=True
            )
        )
    negatives = [s for s in current_statements if s.kind != "pregnant"]
    latest_positive = max(pregnant_points, key=lambda s: s.when, default=None)
    latest_negative = max(negatives, key=lambda s: s.when, default=None)

    if latest_negative is not None and (
        latest_positive is None or latest_negative.when >= latest_positive.when
    ):
        still_asserted = [s for s in pregnant_points if s.ongoing]
        if still_asserted:
            # 1.1 item 5: a newer "not pregnant"/"unknown" contradicts an asserted pregnancy.
            return PregnancyState(
                PregnancyStatus.UNKNOWN,
                evidence=(latest_negative.evidence,),
                conflict=True,
                conflict_evidence=(latest_negative.evidence, *(s.evidence for s in still_asserted)),
            )
        if latest_negative.kind == "unknown":
            return PregnancyState(PregnancyStatus.UNKNOWN, evidence=(latest_negative.evidence,))
        return PregnancyState(PregnancyStatus.NOT_PREGNANT, evidence=(latest_negative.evidence,))

    if latest_positive is not None:
        evidence = tuple(
            sorted(dict.fromkeys(s.evidence for s in pregnant_points), key=_newest, reverse=True)
        )
        if pregnant_by_dating is not None:
            edd = pregnant_by_dating.edd
            ga = _TERM_DAYS - (edd - today).days
            return PregnancyState(
                PregnancyStatus.PREGNANT,
                evidence=evidence,
                edd=edd,
                gestational_age_days=ga,
                trimester=policy.trimester(ga),
                episode_start=edd - timedelta(days=_TERM_DAYS),
            )
        return PregnancyState(PregnancyStatus.PREGNANT, evidence=evidence)

    if estimated_delivery is not None:
        days = (today - estimated_delivery.edd).days
        note = Evidence(
            "EDD passed, no delivery recorded",
            f"EDD {estimated_delivery.edd.isoformat()} ({fmt_number(days, 0)} days ago)",
            estimated_delivery.recorded,
            "final",
            estimated_delivery.evidence.reference,
            estimated_delivery.evidence.code,
        )
        return PregnancyState(
            PregnancyStatus.POSTPARTUM,
            evidence=(note,),
            edd=estimated_delivery.edd,
            days_postpartum=days,
            delivery_estimated=True,
        )
    if delivery_when is not None:
        # Delivered more than 42 days ago and nothing newer: outside the postpartum window.
        assert delivery_ev is not None
        return PregnancyState(
            PregnancyStatus.NOT_PREGNANT,
            evidence=(delivery_ev,),
            delivery_date=delivery_when.date(),
            days_postpartum=(today - delivery_when.date()).days,
        )
    return PregnancyState(PregnancyStatus.NO_EVIDENCE)


def _newest(ev: Evidence) -> datetime:
    return ev.when or datetime.min.replace(tzinfo=UTC)


def _best_dating(datings: list[_Dating]) -> _Dating | None:
    """The most recently recorded dating; same day: EDD 11778-8 > ovulation > LMP EDD > GA > LMP."""
    if not datings:
        return None
    return max(datings, key=lambda d: (d.recorded.date(), -d.preference, d.recorded))
