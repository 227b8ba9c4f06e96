"""``GET /metrics``: Prometheus text exposition (see ``api/observability.py``).

Not a CDS endpoint: no caller JWT (scrapers authenticate at the network or proxy; see
docs/production.md). The body holds counts and timings only, never patient data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from cds_service.api.observability import metrics_for

router = APIRouter()


@router.get("/metrics")
def metrics(request: Request) -> Response:
    body = metrics_for(request.app).exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
