"""The bare baseline: the same stack (FastAPI on uvicorn) doing the least a CDS service can do.

It reads the body, parses it with orjson (a service cannot do less than read what it is sent)
and answers ``{"cards": []}``. The HTTP benchmark runs it with the same uvicorn options and
worker count as the real service, so the ratio between the two is our own cost.
"""

from __future__ import annotations

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
