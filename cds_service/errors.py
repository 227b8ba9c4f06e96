"""Domain errors with stable codes. No HTTP here: ``api/errors.py`` translates them once."""

from __future__ import annotations


class CdsError(Exception):
    """Base: ``code`` is stable and machine-readable, the message is safe to show."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(CdsError):
    """The body breaks the CDS Hooks schema (→ 400)."""

    code = "invalid-request"


class UnknownService(CdsError):
    """No service with that id (→ 404)."""

    code = "unknown-service"


class HookMismatch(CdsError):
    """The service id exists but does not serve the request's hook (→ 400)."""

    code = "hook-mismatch"


class PrefetchUnavailable(CdsError):
    """Required data neither prefetched nor fetchable (→ 412, spec R-7)."""

    code = "prefetch-unavailable"


class ConfigurationError(CdsError):
    """Start-up refuses unsafe or inconsistent configuration."""

    code = "configuration"


class Unauthorized(CdsError):
    """Caller authentication failed (→ 401, no details)."""

    code = "unauthorized"


class UnknownCard(CdsError):
    """Feedback names a card this service never issued (→ 404)."""

    code = "unknown-card"
