"""The bare baseline: the same stack (FastAPI on uvicorn) doing the least a CDS service can do.

It reads the body, parses it with orjson (a service cannot do less than read what it is sent)
and answers ``{"cards": []}``. The HTTP benchmark runs it with the same uvicorn options and
worker count as the real service, so the ratio between the two is our own cost.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

EMPTY = orjson.dumps({"cards": []})


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/cds-services/{service_id}")
    async def invoke(service_id: str, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if not isinstance(body, dict):
            return Response(b'{"error":"not an object"}', 400, media_type="application/json")
        return Response(EMPTY, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


# The service's young-generation threshold (cds_service.api.app.GC_GEN0_THRESHOLD; a test keeps
# the two equal). Not imported: the baseline process must not load the service.
GC_GEN0_THRESHOLD = 50_000


def create_frozen_app() -> FastAPI:
    """The same bare app with the service's GC tuning (``gc.freeze()`` of the start-up heap and
    the larger young-generation threshold, as ``cds_service.api.app`` sets in its lifespan): a
    second baseline, so the service's own GC tuning is not counted as the service being
    cheaper than the stack."""
    app = create_app()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            gc.set_threshold(*thresholds)

    app.router.lifespan_context = lifespan
    return app
