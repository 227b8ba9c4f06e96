"""Errors translate once: domain error → HTTP status + FHIR ``OperationOutcome`` body.

Bodies name the offending field (``expression``) but never echo request data,
tokens or stack traces.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds_service.api.responses import JsonResponse
from cds_service.errors import (
    CdsError,
    ConfigurationError,
    HookMismatch,
    InvalidRequest,
    PrefetchUnavailable,
    Unauthorized,
    UnknownCard,
    UnknownService,
)

log = logging.getLogger("cds_service.api")

# One table: domain error → (HTTP status, OperationOutcome issue code).
STATUS: dict[type[CdsError], tuple[int, str]] = {
    InvalidRequest: (400, "invalid"),
    HookMismatch: (400, "not-supported"),
    UnknownService: (404, "not-found"),
    UnknownCard: (404, "not-found"),
    PrefetchUnavailable: (412, "processing"),
    Unauthorized: (401, "login"),
    ConfigurationError: (500, "exception"),
}


def operation_outcome(
    code: str, diagnostics: str, expression: str | None = None, severity: str = "error"
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_response(
    status: int, code: str, diagnostics: str, expression: str | None = None
) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JsonResponse(
        operation_outcome(code, diagnostics, expression),
        status_code=status,
        headers=headers,
    )


def _for_domain_error(exc: CdsError) -> Response:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            status, code = STATUS[cls]
            break
    else:  # pragma: no cover - every CdsError subclass is in the table
        status, code = 500, "exception"
    if status == 401:
        # S-10: "401 Unauthorized … without any additional information".
        return error_response(401, code, "unauthorized")
    return error_response(status, code, exc.message, exc.field)


def install(app: FastAPI) -> None:
    @app.exception_handler(CdsError)
    async def _domain(request: Request, exc: CdsError) -> Response:
        return _for_domain_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        loc = ".".join(str(p) for p in errors[0]["loc"] if p != "body") if errors else ""
        msg = errors[0]["msg"] if errors else "invalid request"
        return error_response(400, "invalid", f"{loc or 'body'}: {msg}", loc or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 401:
            detail = "unauthorized"
        return error_response(exc.status_code, codes.get(exc.status_code, "processing"), detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unhandled error",
            extra={"path": request.url.path, "error_type": type(exc).__name__},
        )
        return error_response(500, "exception", "internal error")
