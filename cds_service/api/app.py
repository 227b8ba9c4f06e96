"""App factory and lifespan. Nothing is built at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx2
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from cds_service import __version__
from cds_service.api import errors, observability
from cds_service.api.middleware import install_security
from cds_service.api.responses import JsonResponse
from cds_service.api.routes import contract, feedback, metrics, sandbox
from cds_service.cards import advise
from cds_service.engine import check_data_needs
from cds_service.errors import InvalidRequest
from cds_service.fhir.resolve import DataResolver, FhirDataResolver
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import Advisor, ServiceRegistry, call_service
from cds_service.settings import Settings
from cds_service.store import FeedbackStore

log = logging.getLogger("cds_service.api")

# _GC_NOTE: everything built at start-up (modules, models, value sets, the registry) lives as
# long as the process. Freezing it moves it out of the cyclic collector's generations, so the
# full collections that a large request body triggers no longer re-scan it: at 300 resources
# this halves the mean call time (bench/RESULTS.md). Unfrozen at shutdown, so an app built and
# closed in tests leaves nothing behind.
#
# The young-generation threshold is raised from CPython's 700 to GC_GEN0_THRESHOLD while the
# app runs (the previous thresholds are restored at shutdown). A call allocates container
# objects by the thousand (a 300-resource body alone is about 7,100 dicts and lists, then the
# engine's facts) and frees nearly all of them by reference counting when it ends; at 700 each
# call still triggered about 10 young, 1 middle and 0.1 full collections that only re-scanned
# live request data: about 1.0 ms of collector time per call at 300 resources, 8 calls in
# flight (measured in-process with gc.callbacks; 0.8 ms one call at a time). At 20,000, 0.03
# ms; at 50,000 no collection ran at all in 400 calls. Cycles are still collected: the count
# that triggers a collection is net container allocations, so garbage in cycles (measured: none
# left by a successful call) triggers one after at most GC_GEN0_THRESHOLD containers, which
# bounds what it can hold to a few MB. The two older thresholds keep CPython's values.
GC_GEN0_THRESHOLD = 50_000


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
        self.http: httpx2.AsyncClient | None = None
        self.store: FeedbackStore | None = None


def create_app(
    settings: Settings | None = None,
    *,
    advisor: Advisor | None = None,
    clock: Callable[[], datetime] | None = None,
    resolver: DataResolver | None = None,
) -> FastAPI:
    settings = settings or Settings()
    registry = ServiceRegistry.from_directory(settings.hooks_dir, expand_code_set)
    check_data_needs(registry.declarations.values())  # refuse to start on uncovered data needs
    state = AppState(
        settings=settings,
        registry=registry,
        resolver=resolver or FhirDataResolver(settings, lambda: state.http),
        advisor=advisor or advise,
        clock=clock or (lambda: datetime.now(UTC)),
    )
    store = state.store = FeedbackStore.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.start()  # migrations; a database that is down is retried by /readyz
        try:
            async with httpx2.AsyncClient() as http:
                state.http = http
                thresholds = gc.get_threshold()  # see _GC_NOTE
                gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
                gc.freeze()
                try:
                    yield
                finally:
                    gc.unfreeze()
                    gc.set_threshold(*thresholds)
                    state.http = None
        finally:
            await store.drain()  # issued cards still queued for the database are written
            store.close()

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
    app.include_router(contract.router)
    app.include_router(feedback.router)
    app.include_router(metrics.router)
    app.include_router(sandbox.router)
    install_security(app, settings, clock=state.clock, http=lambda: state.http)
    observability.install(app, registry, settings)

    @app.get("/cds-services")
    async def discovery() -> Response:
        return JsonResponse(state.registry.discovery().wire())

    @app.post("/cds-services/{service_id}")
    async def invoke(service_id: str, request: Request) -> Response:
        body = await _json_body(request)
        result = await call_service(
            state.registry, state.resolver, state.advisor, service_id, body, state.clock
        )
        hook_instance = str(body.get("hookInstance"))
        log.info(
            "hook call",
            extra={
                "hook": result.evaluation.hook,
                "service": service_id,
                "hook_instance": hook_instance,
                "cards": len(result.response.cards),
                "resources": len(result.evaluation.data.resources),
                "gaps": len(result.evaluation.data.gaps),
                "elapsed_ms": round(result.elapsed_ms, 2),
            },
        )
        observability.record_call(request.app, request.scope, service_id, result)
        cards, evaluation = result.response.cards, result.evaluation
        hook, issued_at = evaluation.hook, evaluation.now
        answer = JsonResponse(result.response.wire())
        # The call's FHIR data (megabytes at a few hundred resources) is not needed to record the
        # cards: drop it before waiting on the store, so calls run during the wait don't stack it.
        del body, result, evaluation
        await store.remember(  # off the event loop; logs and answers if the store fails
            cards,
            service_id=service_id,
            hook=hook,
            hook_instance=hook_instance,
            issued_at=issued_at,
        )
        return answer

    @app.get("/healthz")
    async def healthz() -> Response:
        return JsonResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        checks: dict[str, Any] = {"config": "ok", "services": len(state.registry.declarations)}
        problem = await store.readiness()  # SELECT 1 (and migrations, if start-up missed them)
        checks["database"] = problem or "ok"
        if problem:
            return JsonResponse({"status": "not ready", "checks": checks}, status_code=503)
        return JsonResponse({"status": "ready", "checks": checks})

    return app


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON at byte {exc.pos}: {exc.msg}") from exc
