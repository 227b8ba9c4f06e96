"""A tiny misbehaving FHIR server on loopback, for the faults a real engine cannot produce.

``http://127.0.0.1:<port>/<mode>/fhir`` is a FHIR base whose behaviour is chosen by
``<mode>``:

``ok``          reads and searches answer FHIR JSON at once
``secure``      as ``ok`` but 401 unless ``Authorization: Bearer <token>`` matches
``slow``        every answer waits ``delay`` seconds first
``slowsearch``  reads answer at once, searches wait ``delay`` seconds
``401`` ``403`` ``500`` ``404``   that status, with an OperationOutcome body
``flaky503``    the first request for each URL gets 503, the retry 200
``garbage``     200 with bytes that are not JSON
``notfhir``     200 with JSON that is not a FHIR resource
``outcome``     searches answer an OperationOutcome (reads are fine)
``paged``       searches answer ``pages`` pages of two resources linked by absolute ``next``

Every request is recorded (method, path, query, Authorization, Accept) for assertions.
A slow answer waits on an event that :meth:`FaultServer.close` sets, so the tests never wait
for the server's delay.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fhir._fhir import bundle, observation, outcome, patient

PATIENT_ID = "pat-1"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    authorization: str | None
    accept: str | None

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default backlog (5) drops concurrent connects: 1 s SYN retry
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (the deadline cancels them) are expected, not errors."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed ACK)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        seen = Seen(
            "GET",
            parts.path,
            parts.query,
            self.headers.get("Authorization"),
            self.headers.get("Accept"),
        )
        owner.record(seen)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 3 or segments[1] != "fhir":
            self._send(404, outcome(code="not-found"))  # the base path prefix was lost
            return
        mode, resource_path = segments[0], segments[2:]
        is_search = len(resource_path) == 1
        try:
            self._answer(owner, mode, resource_path, is_search, seen)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (deadline): nothing to do

    def _answer(
        self, owner: FaultServer, mode: str, resource_path: list[str], is_search: bool, seen: Seen
    ) -> None:
        slow = mode == "slow" or (mode == "slowsearch" and is_search)
        if slow and owner.stopping.wait(owner.delay):
            return  # the server is closing
        if mode in ("401", "403", "500", "404"):
            codes = {"401": "login", "403": "forbidden", "404": "not-found", "500": "exception"}
            self._send(int(mode), outcome(code=codes[mode]))
            return
        if mode == "secure" and seen.authorization != f"Bearer {owner.token}":
            self._send(401, outcome(code="login"))
            return
        if mode == "flaky503" and owner.count(seen.url) == 1:
            self._send(503, outcome(code="transient"))
            return
        if mode == "garbage":
            self._send_bytes(200, b"\x00\x9f\x92\x96 <html>not json", "application/fhir+json")
            return
        if mode == "notfhir":
            self._send(200, {"status": "ok", "data": [1, 2, 3]})
            return
        if mode == "outcome" and is_search:
            self._send(200, outcome())
            return
        if mode == "paged" and is_search:
            self._send(200, self._page(owner, resource_path[0]))
            return
        self._send(200, _resource_for(resource_path, urlsplit(self.path).query))

    def _page(self, owner: FaultServer, rtype: str) -> dict[str, Any]:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        page = int(query.get("page", ["1"])[0])
        key = _search_key(parts.query)
        items = [_search_hit(rtype, f"{key}-p{page}-{i}") for i in (1, 2)]
        nxt = None
        if page < owner.pages:
            base = f"http://127.0.0.1:{owner.port}{parts.path}"
            rest = "&".join(p for p in parts.query.split("&") if not p.startswith("page="))
            nxt = f"{base}?{rest}&page={page + 1}"
        return bundle(*items, next_url=nxt)

    def _send(self, status: int, body: Any) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/fhir+json")

    def _send_bytes(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def _search_key(query: str) -> str:
    """A short id fragment telling the searches of one call apart (page number excluded)."""
    rest = "&".join(p for p in query.split("&") if not p.startswith("page="))
    return hashlib.sha256(rest.encode()).hexdigest()[:10]


def _search_hit(rtype: str, rid: str) -> dict[str, Any]:
    return observation(rid) if rtype == "Observation" else {"resourceType": rtype, "id": rid}


def _resource_for(resource_path: list[str], query: str) -> dict[str, Any]:
    rtype = resource_path[0]
    if len(resource_path) == 2:
        if rtype == "Patient" and resource_path[1] == PATIENT_ID:
            return patient(PATIENT_ID)
        return {"resourceType": rtype, "id": resource_path[1]}
    key = _search_key(query)
    return bundle(_search_hit(rtype, f"{key}-a"), _search_hit(rtype, f"{key}-b"))


class FaultServer:
    """Start with ``with FaultServer() as server:``; ``server.base(mode)`` is a fhirServer URL."""

    def __init__(self, *, delay: float = 2.0, pages: int = 3, token: str = "good-token") -> None:  # noqa: S107
        self.delay = delay
        self.pages = pages
        self.token = token
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._counts: dict[str, int] = {}
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def base(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/fhir"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def count(self, url: str) -> int:
        with self._lock:
            self._counts[url] = self._counts.get(url, 0) + 1
            return self._counts[url]

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self._counts.clear()
