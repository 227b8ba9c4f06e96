"""Operations: Prometheus metrics and structured JSON logs. Neither carries PHI.

Metrics live in a :class:`Metrics` object with its own ``CollectorRegistry`` per app
instance (tests build many apps in one process; nothing is global). Exposed at
``GET /metrics`` (``api/routes/metrics.py``):

==================================  ===========================  =========================
metric                              labels                       counted from
==================================  ===========================  =========================
``cds_calls_total``                 service, hook, status        every service call
``cds_call_duration_seconds``       service, hook                every service call
``cds_cards_total``                 service, hook, indicator,    each returned card
                                    rule
``cds_fhir_data_gaps_total``        service, key, reason         ``evaluation.data.gaps``
``cds_feedback_total``              service, outcome             :func:`record_feedback`
==================================  ===========================  =========================

Label values are bounded: a service id or hook the registry does not declare is
counted as ``unknown``; ``rule`` is the card's ``source.topic`` code (TEAM.md contract).

**For the feedback route**: call ``record_feedback(request.app, service_id, outcome)``
once per stored feedback item (``outcome`` is ``accepted`` or ``overridden``).

Several worker processes (``cds-service serve --workers N``): when
``PROMETHEUS_MULTIPROC_DIR`` is set (``serve`` sets it for N > 1), prometheus-client
writes every process's values there and ``/metrics`` aggregates them.

Logs: :func:`logging_config` (a ``dictConfig`` for uvicorn, applied in each worker)
formats the ``cds_service`` and ``uvicorn`` loggers as one JSON object per line. A
service call logs one ``hook call`` line (service, hook, hookInstance, timing, card,
resource and gap counts); a failed call logs one ``hook call failed`` line with its
status. Never tokens, JWTs, names or identifiers.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.knowledge.systems import RULE
from cds_service.settings import Settings
from cds_service.wire import Card

if TYPE_CHECKING:
    from cds_service.services import CallResult, ServiceRegistry

log = logging.getLogger("cds_service.api")

UNKNOWN = "unknown"
INDICATORS = frozenset({"info", "warning", "critical"})
OUTCOMES = frozenset({"accepted", "overridden"})
# The 500 ms budget (spec C-10) sits in the middle of the buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
_SERVICE_CALL = re.compile(r"^/cds-services/([^/]+)$")
_HOOK_STATE = "cds_hook"


class Metrics:
    """The app's metric objects, registered in their own registry."""

    def __init__(self, registry: ServiceRegistry, multiproc_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiproc_dir = multiproc_dir
        self.services = frozenset(registry.ids())
        self.hooks = frozenset(hook for _, hook in registry.declarations)
        self.keys = frozenset(key for d in registry.declarations.values() for key in d.prefetch)
        self.calls = Counter(
            "cds_calls",
            "CDS service calls by service, hook and HTTP status.",
            ("service", "hook", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "cds_call_duration_seconds",
            "Service call latency (request received to response sent).",
            ("service", "hook"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cards = Counter(
            "cds_cards",
            "Cards returned, by indicator and rule id (source.topic).",
            ("service", "hook", "indicator", "rule"),
            registry=self.registry,
        )
        self.gaps = Counter(
            "cds_fhir_data_gaps",
            "Prefetch/FHIR data that was unavailable for a call, by prefetch key and reason.",
            ("service", "key", "reason"),
            registry=self.registry,
        )
        self.feedback = Counter(
            "cds_feedback",
            "Feedback items stored, by outcome.",
            ("service", "outcome"),
            registry=self.registry,
        )

    def service_label(self, service_id: str) -> str:
        return service_id if service_id in self.services else UNKNOWN

    def hook_label(self, hook: object) -> str:
        return hook if isinstance(hook, str) and hook in self.hooks else UNKNOWN

    def observe_cards(self, service_id: str, hook: str, cards: Iterable[Card]) -> None:
        service, hook = self.service_label(service_id), self.hook_label(hook)
        for card in cards:
            topic = card.source.topic
            rule = topic.code if topic is not None and topic.system == RULE else "none"
            indicator = card.indicator if card.indicator in INDICATORS else UNKNOWN
            self.cards.labels(service, hook, indicator, rule[:32]).inc()

    def observe_gaps(self, service_id: str, gaps: Iterable[tuple[str, str]]) -> None:
        service = self.service_label(service_id)
        for key, reason in gaps:
            self.gaps.labels(service, key if key in self.keys else UNKNOWN, reason).inc()

    def observe_feedback(self, service_id: str, outcome: str, count: int = 1) -> None:
        label = outcome if outcome in OUTCOMES else UNKNOWN
        self.feedback.labels(self.service_label(service_id), label).inc(count)

    def exposition(self) -> bytes:
        """The Prometheus text format: this process, or every worker in multiprocess mode."""
        if self.multiproc_dir is not None:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=str(self.multiproc_dir))  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)


def metrics_for(app: FastAPI) -> Metrics:
    metrics: Metrics = app.state.metrics
    return metrics


def record_call(app: FastAPI, scope: Scope, service_id: str, result: CallResult) -> None:
    """Count a successful call's cards and data gaps; tell the middleware its hook."""
    metrics = metrics_for(app)
    hook = result.evaluation.hook
    scope.setdefault("state", {})[_HOOK_STATE] = hook
    metrics.observe_cards(service_id, hook, result.response.cards)
    metrics.observe_gaps(service_id, ((g.key, g.reason) for g in result.evaluation.data.gaps))


def record_feedback(app: FastAPI, service_id: str, outcome: str, count: int = 1) -> None:
    """For the feedback route: count ``count`` stored items with ``outcome``."""
    metrics_for(app).observe_feedback(service_id, outcome, count)


class CallMetricsMiddleware:
    """Times every ``POST /cds-services/{id}``, counts it by status, and logs failed calls.

    Successful calls are logged by the route ("hook call"); a failure (4xx/5xx) never
    reaches that line, so it is logged here, once, without the body.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        match = _SERVICE_CALL.match(path)
        if match is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        chunks: list[bytes] = []

        async def capture_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(chunks) < 4096:
                chunks.append(message.get("body", b""))
            return message

        async def capture_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, capture_receive, capture_send)
        finally:
            elapsed = time.perf_counter() - started
            service_id = match.group(1)
            hook = scope.get("state", {}).get(_HOOK_STATE)
            body: Any = None
            if hook is None:
                body = _loads(b"".join(chunks))
                hook = body.get("hook") if isinstance(body, dict) else None
            service, hook_label = (
                self.metrics.service_label(service_id),
                self.metrics.hook_label(hook),
            )
            self.metrics.calls.labels(service, hook_label, str(status)).inc()
            self.metrics.latency.labels(service, hook_label).observe(elapsed)
            if status >= 400:
                instance = body.get("hookInstance") if isinstance(body, dict) else None
                log.warning(
                    "hook call failed",
                    extra={
                        "hook": hook_label,
                        "service": service,
                        "hook_instance": instance if _is_uuid(instance) else None,
                        "status": status,
                        "elapsed_ms": round(elapsed * 1000, 2),
                    },
                )


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def install(app: FastAPI, registry: ServiceRegistry, settings: Settings) -> Metrics:
    """Create the app's metrics and add the call-timing middleware. Installed after the
    security middleware it runs outside it, so rejected calls (401, 413, 415) count too."""
    metrics = Metrics(registry, settings.prometheus_multiproc_dir)
    app.state.metrics = metrics
    app.add_middleware(CallMetricsMiddleware, metrics=metrics)
    return metrics


# -------------------------------------------------------------------------------- logging

# LogRecord attributes that are not "extra" fields.
_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, ensure_ascii=False)


HTTP_CLIENT_LOGGERS = ("httpx2", "httpcore2", "httpx", "httpcore")


def logging_config(settings: Settings) -> dict[str, Any]:
    """``logging.config.dictConfig`` for ``cds-service serve`` (uvicorn's ``log_config``).

    uvicorn applies it in every worker process. Access logs stay off (``serve`` passes
    ``access_log=False``): the ``hook call`` line is the per-call record.
    """
    level = settings.log_level.upper()
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if settings.log_json
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            "cds_service": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            # httpx2 logs "HTTP Request: GET <url>" at INFO, and FHIR search URLs carry the
            # patient id: keep the HTTP client libraries at WARNING whatever the level (httpx
            # and httpcore too: the names of the same libraries before httpx2).
            **{name: {"level": "WARNING"} for name in HTTP_CLIENT_LOGGERS},
        },
    }


def configure_logging(settings: Settings) -> bool:
    """Apply :func:`logging_config` in this process, before uvicorn starts (so the CLI's own
    first lines are JSON too), unless logging is already set up: a host application's or a
    test runner's root handlers are left alone. Returns whether it configured anything."""
    import logging.config

    if logging.getLogger().handlers:
        return False
    logging.config.dictConfig(logging_config(settings))
    return True


def worker_metrics_dir(settings: Settings) -> Path:
    """Before starting several workers: the directory they share for metrics, emptied.

    ``PROMETHEUS_MULTIPROC_DIR`` if set (its old ``*.db`` files are removed: values from a
    previous run must not be added to this one), else a fresh temporary directory that the
    environment passes on to the workers.
    """
    import os
    import tempfile

    directory = settings.prometheus_multiproc_dir
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="prenatal-cds-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory
