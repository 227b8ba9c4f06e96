"""``cds-service feedback-report``: acceptance and override rates per rule and service.

Definitions (also in ``docs/feedback.md``):

- *cards issued*: cards recorded for the (service, rule) since ``--since`` (by issue time);
- *feedback*: feedback items received on those cards (whenever they arrived);
- *accepted* / *overridden*: cards with at least one ``accepted`` / ``overridden`` item;
- *acceptance rate* = accepted / cards issued, *override rate* = overridden / cards issued.
  Ignored cards are never reported by the EHR (F-4), so the rest were ignored or the EHR
  sends no feedback;
- *top override reasons*: the most frequent override codes, ``(no reason given)`` when
  the clinician overrode without choosing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from sqlalchemy import Engine, case, func, select, true

from cds_service.store.models import Feedback, IssuedCard

TOP_REASONS = 3
NO_REASON = "(no reason given)"


@dataclass(frozen=True)
class ReasonCount:
    system: str | None
    code: str | None
    display: str | None
    count: int

    @property
    def label(self) -> str:
        return self.display or self.code or NO_REASON

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "code": self.code,
            "display": self.display,
            "count": self.count,
        }


@dataclass(frozen=True)
class RuleStats:
    service_id: str
    rule_id: str | None
    cards_issued: int
    feedback: int
    accepted: int
    overridden: int
    top_override_reasons: tuple[ReasonCount, ...]

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.cards_issued if self.cards_issued else 0.0

    @property
    def override_rate(self) -> float:
        return self.overridden / self.cards_issued if self.cards_issued else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service_id,
            "rule": self.rule_id,
            "cardsIssued": self.cards_issued,
            "feedback": self.feedback,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "acceptanceRate": round(self.acceptance_rate, 4),
            "overrideRate": round(self.override_rate, 4),
            "topOverrideReasons": [r.as_json() for r in self.top_override_reasons],
        }


@dataclass(frozen=True)
class FeedbackReport:
    since: datetime | None
    rules: tuple[RuleStats, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "rules": [r.as_json() for r in self.rules],
        }

    def table(self) -> Table:
        title = "Feedback per rule" + (
            f" (cards issued since {self.since:%Y-%m-%d %H:%M} UTC)" if self.since else ""
        )
        table = Table(title=title)
        table.add_column("Service")
        table.add_column("Rule")
        for numeric in ("Cards", "Feedback", "Accepted", "Overridden", "Accept %", "Override %"):
            table.add_column(numeric, justify="right")
        table.add_column("Top override reasons")
        for row in self.rules:
            reasons = ", ".join(f"{r.label} ×{r.count}" for r in row.top_override_reasons)
            table.add_row(
                row.service_id,
                row.rule_id or "-",
                str(row.cards_issued),
                str(row.feedback),
                str(row.accepted),
                str(row.overridden),
                f"{row.acceptance_rate:.1%}",
                f"{row.override_rate:.1%}",
                reasons or "-",
            )
        return table


def parse_since(value: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an ISO 8601 date-time (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO date or date-time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _rule_order(key: tuple[str, str | None]) -> tuple[Any, ...]:
    """Services alphabetically; rules R2 before R10; cards without a rule last."""
    service, rule = key
    if rule is None:
        return (service, 1, ())
    parts = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|\D+", rule)
    )
    return (service, 0, parts)


def build_report(engine: Engine, since: datetime | None = None) -> FeedbackReport:
    """Three aggregate queries; the work stays in the database."""
    window = IssuedCard.issued_at >= since if since is not None else true()
    key = (IssuedCard.service_id, IssuedCard.rule_id)
    issued_q = select(*key, func.count()).where(window).group_by(*key)
    accepted = case((Feedback.outcome == "accepted", Feedback.card_uuid))
    overridden = case((Feedback.outcome == "overridden", Feedback.card_uuid))
    feedback_q = (
        select(
            *key,
            func.count(Feedback.id),
            func.count(func.distinct(accepted)),
            func.count(func.distinct(overridden)),
        )
        .join(Feedback, Feedback.card_uuid == IssuedCard.uuid)
        .where(window)
        .group_by(*key)
    )
    reasons_q = (
        select(
            *key,
            Feedback.override_reason_system,
            Feedback.override_reason_code,
            func.max(Feedback.override_reason_display),
            func.count(),
        )
        .join(Feedback, Feedback.card_uuid == IssuedCard.uuid)
        .where(window, Feedback.outcome == "overridden")
        .group_by(*key, Feedback.override_reason_system, Feedback.override_reason_code)
    )
    with engine.connect() as connection:
        issued = {(s, r): n for s, r, n in connection.execute(issued_q)}
        counts = {(s, r): (n, a, o) for s, r, n, a, o in connection.execute(feedback_q)}
        reasons: dict[tuple[str, str | None], list[ReasonCount]] = {}
        for s, r, system, code, display, n in connection.execute(reasons_q):
            reasons.setdefault((s, r), []).append(ReasonCount(system, code, display, n))
    rows = []
    for group in sorted(issued, key=_rule_order):
        n_feedback, n_accepted, n_overridden = counts.get(group, (0, 0, 0))
        top = sorted(reasons.get(group, []), key=lambda rc: (-rc.count, rc.label))[:TOP_REASONS]
        rows.append(
            RuleStats(
                service_id=group[0],
                rule_id=group[1],
                cards_issued=issued[group],
                feedback=n_feedback,
                accepted=n_accepted,
                overridden=n_overridden,
                top_override_reasons=tuple(top),
            )
        )
    return FeedbackReport(since=since, rules=tuple(rows))
