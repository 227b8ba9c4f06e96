"""CDS Hooks 2.0 request and per-hook context models (spec §2 and §7)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from cds_service.wire.common import WireModel

# [LIB] invariant ord-1: userId is always ResourceType/id.
_USER_ID = r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$"
_FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"


class FhirAuthorization(WireModel):
    """R-3: OAuth 2.0 bearer token for ``fhirServer``. Transient: never logged (R-4)."""

    # The spec names these fields in snake_case on the wire.
    model_config = ConfigDict(alias_generator=None, extra="ignore")

    access_token: str = Field(min_length=1, repr=False)
    token_type: str
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return "Bearer"

    def __repr__(self) -> str:  # never leak the token through logs or tracebacks
        return f"FhirAuthorization(subject={self.subject!r}, scope={self.scope!r})"

    __str__ = __repr__


class HookContext(WireModel):
    """Fields common to the hooks we serve; unknown context fields are ignored."""

    user_id: str = Field(pattern=_USER_ID)
    patient_id: str = Field(pattern=_FHIR_ID)
    encounter_id: str | None = Field(default=None, pattern=_FHIR_ID)

    def tokens(self) -> dict[str, str]:
        """Root-level primitive context fields usable as prefetch tokens (R-12)."""
        out = {"context.userId": self.user_id, "context.patientId": self.patient_id}
        if self.encounter_id:
            out["context.encounterId"] = self.encounter_id
        resource_type, _, ident = self.user_id.partition("/")
        out[f"user{resource_type}Id"] = ident
        return out


class PatientViewContext(HookContext):
    """patient-view: userId, patientId required; encounterId optional."""


class EncounterStartContext(HookContext):
    """encounter-start: encounterId is REQUIRED."""

    encounter_id: str = Field(pattern=_FHIR_ID)


class _DraftOrdersBundle(WireModel):
    model_config = ConfigDict(alias_generator=None, extra="allow")
    resourceType: str

    @field_validator("resourceType")
    @classmethod
    def _is_bundle(cls, value: str) -> str:
        if value != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        return value


class OrderSignContext(HookContext):
    """order-sign: draftOrders (Bundle of request resources) is REQUIRED."""

    draft_orders: _DraftOrdersBundle

    def draft_order_resources(self) -> list[dict[str, Any]]:
        raw = self.draft_orders.model_dump()
        return [
            e["resource"]
            for e in raw.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]


class OrderSelectContext(OrderSignContext):
    """order-select: selections (references into draftOrders) is REQUIRED too."""

    selections: list[str] = Field(min_length=1)


_CONTEXT_MODELS: dict[str, type[HookContext]] = {
    "patient-view": PatientViewContext,
    "encounter-start": EncounterStartContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


def context_model_for(hook: str) -> type[HookContext] | None:
    return _CONTEXT_MODELS.get(hook)


def supported_hooks() -> tuple[str, ...]:
    return tuple(_CONTEXT_MODELS)


class CdsRequest(WireModel):
    """R-2. ``context`` is validated against the hook's model in :meth:`typed_context`.

    ``prefetch`` keeps absent and ``null`` apart: an absent key is not in the dict
    (the client did not satisfy it: fetch it), a ``None`` value means "queried,
    nothing found" (R-8).
    """

    hook: str = Field(min_length=1)
    hook_instance: str
    fhir_server: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    fhir_authorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("hook_instance")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError as exc:
            raise ValueError("hookInstance must be a UUID") from exc
        return value

    @field_validator("fhir_authorization")
    @classmethod
    def _auth_needs_server(
        cls, value: FhirAuthorization | None, info: ValidationInfo
    ) -> FhirAuthorization | None:
        # A field (not model) validator, so the 400 names the field: expression fhirAuthorization.
        if value is not None and info.data.get("fhir_server") is None:
            raise ValueError("fhirServer is required when fhirAuthorization is given (cds-r-1)")
        return value

    def typed_context(self) -> HookContext:
        """Validate ``context`` for this request's hook; raises pydantic ValidationError."""
        model = context_model_for(self.hook)
        if model is None:
            raise ValueError(f"unsupported hook {self.hook!r}")
        return model.model_validate(self.context)
