"""``POST /cds-services/{id}/feedback`` (CDS Hooks 2.0 §4, F-1…F-5).

Accepts the 2.0 batch ``{"feedback": [...]}`` and the flat single object CDS Hooks 1.1
clients send. Status codes (the spec defines none, F-5):

- 200 ``{"stored": n, "duplicates": m}``: every item is stored or was already stored;
- 400 a schema error, or an accepted suggestion id that is not one of the card's,
  naming the field (``feedback.2.acceptedSuggestions.0.id``; plain ``card``,
  ``outcome``… for the flat shape);
- 404 an unknown service id, or a card this service never issued (``feedback.2.card``);
- 503 the database is unavailable (the EHR may retry: retries are idempotent).

A batch is atomic: if any item is rejected, nothing of it is stored.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from cds_service.api.observability import record_feedback
from cds_service.api.responses import JsonResponse
from cds_service.errors import InvalidRequest, UnknownService
from cds_service.services import invalid_from
from cds_service.store import StoreUnavailable, batch_location
from cds_service.store.feedback import Locate
from cds_service.wire import FeedbackItem, FeedbackRequest

if TYPE_CHECKING:
    from cds_service.api.app import AppState

log = logging.getLogger("cds_service.api")

router = APIRouter()


def _flat_location(index: int, name: str) -> str:
    return name


def parse_feedback(body: Any) -> tuple[list[FeedbackItem], Locate]:
    """The items, and how to name a field of item *i* in an error for this body's shape."""
    if isinstance(body, dict) and "feedback" not in body and "card" in body:
        # CDS Hooks 1.1: one feedback object, not wrapped in {"feedback": [...]}.
        try:
            return [FeedbackItem.model_validate(body)], _flat_location
        except ValidationError as exc:
            raise invalid_from(exc) from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", field=None)
    try:
        return FeedbackRequest.parse(body).feedback, batch_location
    except ValidationError as exc:
        raise invalid_from(exc) from exc


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON at byte {exc.pos}: {exc.msg}") from exc


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request) -> Response:
    state: AppState = request.app.state.cds
    if service_id not in state.registry.ids():
        raise UnknownService(f"no CDS service with id {service_id!r}")
    items, locate = parse_feedback(await _json_body(request))
    store = state.store
    if store is None:
        raise HTTPException(503, "the feedback store is not open")
    try:
        result = await store.save_feedback(service_id, items, state.clock(), locate)
    except StoreUnavailable as exc:
        raise HTTPException(503, "the feedback store is unavailable; retry later") from exc
    for outcome, count in result.stored_by_outcome.items():
        record_feedback(request.app, service_id, outcome, count)
    log.info(
        "feedback",
        extra={
            "service": service_id,
            "items": len(items),
            "stored": result.stored,
            "duplicates": result.duplicates,
        },
    )
    return JsonResponse(result.wire())
