"""A small FHIR R4 read client for prefetch keys the CDS client did not send (spec R-5…R-8).

One :class:`FhirClient` serves one hook call. It only ever issues idempotent ``GET``s:

- ``Authorization: Bearer <fhirAuthorization.access_token>`` when a token was given (a
  ``fhirServer`` without ``fhirAuthorization`` is queried without one: open/sandbox servers);
  the token is sent per request, never stored on the shared ``httpx2.AsyncClient``, never logged;
- ``Accept: application/fhir+json``;
- a per-request timeout, and one deadline for *all* fetches of the call
  (:meth:`FhirClient.fetch_all`): every key is fetched concurrently, and what has not
  arrived when the deadline passes becomes a ``timeout`` gap while the rest is kept;
- ``Bundle.link[next]`` is followed up to ``max_pages`` pages (more → ``truncated``), and only
  while it stays on ``fhirServer`` (the token never leaves it);
- bounded retries, only on connection errors and 503.

Failures never raise: each turns into a :class:`DataGap` for its key (401/403 →
``unauthorized``, timeouts → ``timeout``, 5xx / not FHIR JSON → ``fetch-error``, an
``OperationOutcome`` answer or entry → ``operation-outcome``), and the call answers with the
data it has. Logs carry key names, statuses, counts and timings: never URLs (they hold the
patient id) and never the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2
import orjson

from cds_service.fhir.data import DataGap, GapReason
from cds_service.fhir.prefetch import flatten, next_link

log = logging.getLogger("cds_service.fhir.client")

FHIR_JSON = "application/fhir+json"
# One page larger than this (after content decoding) is refused: a misbehaving server must not
# be able to exhaust the service's memory within the deadline.
MAX_PAGE_BYTES = 16 * 1024 * 1024

# Idempotent GETs may be retried after these: the request may never have reached the server
# (connection refused/reset) or a kept-alive connection was closed under us.
_RETRYABLE_ERRORS: tuple[type[Exception], ...] = (httpx2.NetworkError, httpx2.RemoteProtocolError)
_RETRYABLE_STATUS = frozenset({503})


class FetchFailed(Exception):
    """One page could not be used; ``reason`` becomes the key's gap."""

    def __init__(self, reason: GapReason, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class KeyResult:
    """What one prefetch key's fetch produced so far (kept when the deadline cuts it short)."""

    key: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[DataGap] = field(default_factory=list)
    pages: int = 0
    attempts: int = 0
    status: int | None = None
    elapsed_ms: float = 0.0

    def gap(self, reason: GapReason) -> None:
        gap = DataGap(self.key, reason)
        if gap not in self.gaps:
            self.gaps.append(gap)


@dataclass(frozen=True)
class FetchOutcome:
    """All keys of one call: resources in template-key order, gaps, per-key detail."""

    results: tuple[KeyResult, ...]
    elapsed_ms: float

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [r for result in self.results for r in result.resources]

    @property
    def gaps(self) -> list[DataGap]:
        return [g for result in self.results for g in result.gaps]


def base_url(fhir_server: str) -> str:
    """``fhirServer`` with exactly one trailing slash, so relative URLs keep its path prefix."""
    return fhir_server.rstrip("/") + "/"


def resolve_url(fhir_server: str, query: str) -> str:
    """A template's rendered URL against ``fhirServer``.

    Relative URLs (``Observation?patient=…``, ``/Patient/1``) are appended to the server's
    base, keeping its path prefix (``https://ehr/fhir/R4`` + ``Patient/1`` →
    ``https://ehr/fhir/R4/Patient/1``). Absolute URLs are used as they are.
    """
    if urlsplit(query).scheme:
        return query
    return base_url(fhir_server) + query.lstrip("/")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(scheme)


def same_server(fhir_server: str, url: str) -> bool:
    """``url`` is on ``fhirServer``: same scheme, host and port, at or under its base path.

    Default ports compare equal (``https://ehr`` is ``https://ehr:443``), and the base path
    itself counts (HAPI pages as ``<base>?_getpages=…``).
    """
    base_path = urlsplit(base_url(fhir_server)).path
    target_path = urlsplit(url).path.rstrip("/") + "/"
    return _origin(fhir_server) == _origin(url) and target_path.startswith(base_path)


def expected_type(fhir_server: str, url: str) -> str | None:
    """What a GET of ``url`` answers with when it succeeds.

    ``Bundle`` for a type-level search (``Observation?…``, ``Observation/_search``), the
    resource type for an instance read (``Patient/1``), ``None`` for anything else
    (operations, history), which is then accepted as any FHIR resource.
    """
    path = urlsplit(url).path[len(urlsplit(base_url(fhir_server)).path) :]
    segments = [s for s in path.split("/") if s]
    if not segments or not segments[0][:1].isupper() or not segments[0].isalpha():
        return None
    if len(segments) == 1 or (len(segments) == 2 and segments[1] == "_search"):
        return "Bundle"
    if len(segments) == 2 and not segments[1].startswith(("$", "_")):
        return segments[0]
    return None


class FhirClient:
    """Fetches prefetch-template URLs from one ``fhirServer`` for one hook call."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        fhir_server: str,
        *,
        access_token: str | None = None,
        request_timeout: float = 0.25,
        max_pages: int = 5,
        retries: int = 1,
        retry_backoff: float = 0.01,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self._http = http
        self.fhir_server = fhir_server
        self._token = access_token
        self.request_timeout = request_timeout
        self.max_pages = max_pages
        self.retries = max(0, retries)
        self.retry_backoff = retry_backoff
        self.max_page_bytes = max_page_bytes

    def __repr__(self) -> str:  # never leak the token through reprs or tracebacks
        return f"FhirClient(pages<={self.max_pages}, retries={self.retries})"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def fetch_all(self, queries: Mapping[str, str], deadline: float) -> FetchOutcome:
        """Fetch every key concurrently; whatever is unfinished at ``deadline`` s is cut off."""
        started = time.perf_counter()
        results = {key: KeyResult(key) for key in queries}
        tasks = {
            key: asyncio.create_task(self.fetch(url, results[key]), name=f"fhir-fetch:{key}")
            for key, url in queries.items()
        }
        if tasks:
            try:
                _done, pending = await asyncio.wait(tasks.values(), timeout=max(0.0, deadline))
            finally:  # also when the call itself is cancelled: leave no fetch running
                for task in tasks.values():
                    if not task.done():
                        task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for key, task in tasks.items():
                if task in pending:
                    results[key].gap("timeout")
                    results[key].elapsed_ms = (time.perf_counter() - started) * 1000
                elif not task.cancelled() and task.exception() is not None:
                    # fetch() turns every expected failure into a gap; this is a bug guard.
                    log.error(
                        "fhir fetch failed unexpectedly",
                        extra={"key": key, "error_type": type(task.exception()).__name__},
                    )
                    results[key].gap("fetch-error")
        return FetchOutcome(tuple(results.values()), (time.perf_counter() - started) * 1000)

    async def fetch(self, query: str, result: KeyResult) -> KeyResult:
        """All pages of one key into ``result`` (appended as they arrive)."""
        started = time.perf_counter()
        url: str | None = resolve_url(self.fhir_server, query)
        seen: set[str] = set()
        try:
            while url is not None:
                if result.pages >= self.max_pages:
                    result.gap("truncated")
                    break
                if not same_server(self.fhir_server, url):
                    # A next link off fhirServer: do not send the token there.
                    log.warning(
                        "fhir next link outside fhirServer ignored", extra={"key": result.key}
                    )
                    result.gap("fetch-error")
                    break
                seen.add(url)
                body = await self._get_json(url, result)
                result.pages += 1
                found, gaps = flatten(result.key, self._check_type(url, body))
                result.resources.extend(found)
                for gap in gaps:
                    result.gap(gap.reason)
                url = self._next(body, url)
                if url in seen:
                    break
        except FetchFailed as failed:
            result.gap(failed.reason)
        finally:
            result.elapsed_ms = (time.perf_counter() - started) * 1000
            log.debug(
                "fhir fetch",
                extra={
                    "key": result.key,
                    "status": result.status,
                    "pages": result.pages,
                    "attempts": result.attempts,
                    "resources": len(result.resources),
                    "gaps": [g.reason for g in result.gaps],
                    "elapsed_ms": round(result.elapsed_ms, 2),
                },
            )
        return result

    def _next(self, body: Any, url: str) -> str | None:
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            return None
        link = next_link(body)
        return urljoin(url, link) if link else None

    def _check_type(self, url: str, body: Any) -> Any:
        """The page if it is what the URL asked for (or an OperationOutcome); else fetch-error."""
        if body is None:
            return None
        rtype = body.get("resourceType")
        wanted = expected_type(self.fhir_server, url)
        if rtype == "OperationOutcome" or wanted is None or rtype == wanted:
            return body
        raise FetchFailed("fetch-error")

    async def _get_json(self, url: str, result: KeyResult) -> dict[str, Any] | None:
        """One page as a FHIR JSON object; ``None`` for a read that found nothing (404/410)."""
        status, content = await self._get(url, result)
        result.status = status
        if status in (401, 403):
            raise FetchFailed("unauthorized", status)
        if status in (404, 410) and expected_type(self.fhir_server, url) not in (None, "Bundle"):
            return None  # an instance read that found nothing: same as a null prefetch
        if status >= 500 or 300 <= status < 400:
            raise FetchFailed("fetch-error", status)
        body = _fhir_json(content)
        if status >= 400:
            is_outcome = body is not None and body.get("resourceType") == "OperationOutcome"
            raise FetchFailed("operation-outcome" if is_outcome else "fetch-error", status)
        if body is None:
            raise FetchFailed("fetch-error", status)
        return body

    async def _get(self, url: str, result: KeyResult) -> tuple[int, bytes]:
        """GET with the per-request timeout; retried on connection errors and 503 only."""
        for attempt in range(self.retries + 1):
            result.attempts += 1
            last = attempt == self.retries
            try:
                async with asyncio.timeout(self.request_timeout):
                    status, content = await self._send(url)
            except (TimeoutError, httpx2.TimeoutException) as exc:
                raise FetchFailed("timeout") from exc
            except _RETRYABLE_ERRORS as exc:
                if last:
                    raise FetchFailed("fetch-error") from exc
            except httpx2.HTTPError as exc:
                raise FetchFailed("fetch-error") from exc
            else:
                if status not in _RETRYABLE_STATUS or last:
                    return status, content
                result.status = status
            await asyncio.sleep(self.retry_backoff * (2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send(self, url: str) -> tuple[int, bytes]:
        """One GET; the body is read up to ``max_page_bytes`` (decoded), more is a fetch-error."""
        request = self._http.build_request(
            "GET", url, headers=self._headers(), timeout=self.request_timeout
        )
        response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_page_bytes:
                raise FetchFailed("fetch-error", response.status_code)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_page_bytes:
                    raise FetchFailed("fetch-error", response.status_code)
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
        finally:
            await response.aclose()


def _fhir_json(content: bytes) -> dict[str, Any] | None:
    """The body as a FHIR resource (a JSON object with a string ``resourceType``), else None."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("resourceType"), str):
        return body
    return None
