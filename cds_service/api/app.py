"""App factory and lifespan. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from cds_service import __version__
from cds_service.api import errors
from cds_service.api.responses import JsonResponse
from cds_service.errors import InvalidRequest
from cds_service.fhir.resolve import DataResolver
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import Advisor, ServiceRegistry, call_service, no_advice
from cds_service.settings import Settings

log = logging.getLogger("cds_service.api")


class AppState:
    """What the lifespan opens and the routes share."""

    def __init__(
        self,
        settings: Settings,
        registry: ServiceRegistry,
        resolver: DataResolver,
        advisor: Advisor,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.resolver = resolver
        self.advisor = advisor
        self.clock = clock
        self.http: httpx.AsyncClient | None = None


def create_app(
    settings: Settings | None = None,
    *,
    advisor: Advisor | None = None,
    clock: Callable[[], datetime] | None = None,
    resolver: DataResolver | None = None,
) -> FastAPI:
    settings = settings or Settings()
    registry = ServiceRegistry.from_directory(settings.hooks_dir, expand_code_set)
    state = AppState(
        settings=settings,
        registry=registry,
        resolver=resolver or DataResolver(),
        advisor=advisor or no_advice,
        clock=clock or (lambda: datetime.now(UTC)),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as http:
            state.http = http
            yield
            state.http = None

    app = FastAPI(
        title="prenatal-cds",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.cds = state
    errors.install(app)

    @app.get("/cds-services")
    async def discovery() -> Response:
        return JsonResponse(state.registry.discovery().wire())

    @app.post("/cds-services/{service_id}")
    async def invoke(service_id: str, request: Request) -> Response:
        body = await _json_body(request)
        result = await call_service(
            state.registry, state.resolver, state.advisor, service_id, body, state.clock
        )
        log.info(
            "hook call",
            extra={
                "hook": result.evaluation.hook,
                "service": service_id,
                "hook_instance": body.get("hookInstance"),
                "cards": len(result.response.cards),
                "resources": len(result.evaluation.data.resources),
                "gaps": len(result.evaluation.data.gaps),
                "elapsed_ms": round(result.elapsed_ms, 2),
            },
        )
        return JsonResponse(result.response.wire())

    @app.get("/healthz")
    async def healthz() -> Response:
        return JsonResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        checks = {"config": "ok", "services": len(state.registry.declarations)}
        return JsonResponse({"status": "ready", "checks": checks})

    return app


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON at byte {exc.pos}: {exc.msg}") from exc
