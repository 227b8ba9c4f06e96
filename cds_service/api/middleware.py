"""HTTP guards in front of the routes: CORS, caller authentication, request size and type.

Order, outermost first: CORS (so that a browser can read even a 401/413/415), caller
authentication (nothing of an unauthenticated request is read beyond its headers), then the body
limits. Only ``/cds-services`` and below (discovery, services, feedback) need a caller JWT;
``/healthz``, ``/readyz``, ``/metrics``, ``/sandbox``, ``/openapi.yaml`` are not CDS endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx2
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.api.auth import Authenticator, AuthFailure, audiences, is_protected
from cds_service.api.clients import check_deployment, load_clients
from cds_service.api.errors import STATUS, error_response
from cds_service.errors import Unauthorized
from cds_service.settings import Settings

JSON_MEDIA_TYPES = frozenset({"application/json", "application/fhir+json"})
CORS_METHODS = ("GET", "POST", "OPTIONS")
CORS_HEADERS = ("Authorization", "Content-Type")
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def install_security(
    app: FastAPI,
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    http: Callable[[], httpx2.AsyncClient | None],
) -> Authenticator:
    """Load the trusted clients (refusing unsafe production config) and add the middleware."""
    clients = load_clients(settings.clients_file)
    check_deployment(settings, clients)
    authenticator = Authenticator(settings, clients, clock=clock, http=http)
    # add_middleware wraps: the last one added runs first.
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        CallerAuthMiddleware, authenticator=authenticator, base_url=settings.base_url
    )
    origins, credentials = cors_policy(settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_HEADERS,
        allow_credentials=credentials,
        max_age=600,
    )
    app.state.authenticator = authenticator
    return authenticator


def cors_policy(settings: Settings) -> tuple[list[str], bool]:
    """(allowed origins, allow credentials): the configured origins if any; otherwise any origin
    in development and none in production. Credentials only ever with explicit origins."""
    if settings.cors_origins:
        origins = list(settings.cors_origins)
        return origins, "*" not in origins
    if settings.development:
        return ["*"], False
    return [], False


def route_path(scope: Scope) -> str:
    """The path the router sees (without the ASGI ``root_path`` a proxy mount adds)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class CallerAuthMiddleware:
    """401 (no details) unless the caller's JWT verifies; pass-through in development mode."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, base_url: str | None) -> None:
        self.app = app
        self.authenticator = authenticator
        self.base_url = base_url.rstrip("/") if base_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"  # CORS preflight carries no JWT (S-12)
            or not self.authenticator.enabled
            or not is_protected(route_path(scope))
        ):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        # Behind a proxy the request URL is the internal one: aud names the public URL (S-6).
        base = self.base_url or str(connection.base_url).rstrip("/")
        try:
            caller = await self.authenticator.authenticate(
                connection.headers.get("authorization"), audiences(base, route_path(scope))
            )
        except AuthFailure:
            status, code = STATUS[Unauthorized]
            await error_response(status, code, "unauthorized")(scope, receive, send)
            return
        scope["state"] = {**scope.get("state", {}), "caller": caller}
        await self.app(scope, receive, send)


class RequestLimitsMiddleware:
    """413 above ``max_body_bytes`` (Content-Length *and* bytes actually received, so a chunked
    body cannot bypass it); 415 for a POST that is not JSON. The body is buffered here, once."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            await error_response(400, "invalid", "invalid Content-Length")(scope, receive, send)
            return
        if length is not None and int(length) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        method = scope["method"]
        if method == "POST" and not is_json(headers.get("content-type")):
            await error_response(415, "not-supported", "Content-Type must be application/json")(
                scope, receive, send
            )
            return
        has_body = length not in (None, "0") or "transfer-encoding" in headers
        if method in _NO_BODY_METHODS and not has_body:
            await self.app(scope, receive, send)
            return
        # Chunks are kept as received and joined once (a body that arrives in one message, as
        # most do, is passed on as that same bytes object: no copy of a multi-megabyte body).
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away mid-body: nothing to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "too-costly", f"request body larger than {self.max_body_bytes} bytes"
        )
        await response(scope, receive, send)


def is_json(content_type: str | None) -> bool:
    """application/json or application/fhir+json, optionally with ``charset=utf-8``."""
    if not content_type:
        return False
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() not in JSON_MEDIA_TYPES:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls: wait for http.disconnect as usual

    return replay
