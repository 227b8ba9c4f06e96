"""CDS Hooks 2.0 feedback (spec §4, F-2…F-4), plus the flat 1.1 shape older clients send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cds_service.wire.common import WireModel
from cds_service.wire.response import Coding


class AcceptedSuggestion(WireModel):
    id: str = Field(min_length=1)


class OverrideReason(WireModel):
    """``reason`` may lack ``display`` and may be a code the service never offered (F-4)."""

    reason: Coding | None = None
    user_comment: str | None = None


class FeedbackItem(WireModel):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = None
    override_reason: OverrideReason | None = None
    outcome_timestamp: datetime

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("an accepted outcome needs acceptedSuggestions (cds-fb-2)")
        return self

    @field_validator("outcome_timestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """F-3: a UTC instant. A naive time is read as UTC; one that has no UTC equivalent
        (``0001-01-01T00:00:00+02:00``) is a bad request, not a crash downstream."""
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("outcomeTimestamp is outside the representable UTC range") from exc


class FeedbackRequest(WireModel):
    """``{"feedback": [...]}``; :meth:`parse` also accepts a single flat 1.1 item."""

    feedback: list[FeedbackItem] = Field(min_length=1)

    @classmethod
    def parse(cls, body: Any) -> FeedbackRequest:
        if isinstance(body, dict) and "feedback" not in body and "card" in body:
            return cls.model_validate({"feedback": [body]})
        return cls.model_validate(body)
