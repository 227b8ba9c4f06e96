"""A small loopback FHIR R4 server that answers every request after a fixed delay.

It serves one patient's chart (``bench.charts``) for the searches our prefetch templates
make: ``Patient/{id}``, ``Observation?patient=…&code=…`` (filtered on ``system|code`` tokens,
as a FHIR server does), ``Condition?patient=…&code=…`` and ``MedicationRequest?patient=…``.
It records how many requests were in flight at once, which proves (or disproves) that the
service fetches its prefetch keys concurrently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from bench import charts


@dataclass
class FhirServerStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.max_in_flight = 0
            self.paths.clear()


def _codings(resource: dict[str, Any]) -> list[tuple[str, str]]:
    concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    return [(c.get("system", ""), c.get("code", "")) for c in concept.get("coding") or []]


def _matches(resource: dict[str, Any], tokens: list[str]) -> bool:
    if not tokens:
        return True
    wanted = set()
    for token in tokens:
        system, sep, code = token.partition("|")
        wanted.add((system, code) if sep else ("", system))
    for system, code in _codings(resource):
        if (system, code) in wanted or ("", code) in wanted:
            return True
    return False


def search(resources: list[dict[str, Any]], path: str, base: str) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(path)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) == 2:
        kind, ident = segments
        for resource in resources:
            if resource["resourceType"] == kind and resource["id"] == ident:
                return 200, resource
        return 404, {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-found"}],
        }
    kind = segments[-1] if segments else ""
    query = parse_qs(parts.query)
    codes = [t for value in query.get("code", []) for t in value.split(",") if t]
    statuses = {t for value in query.get("status", []) for t in value.split(",") if t}
    found = [
        r
        for r in resources
        if r["resourceType"] == kind
        and _matches(r, codes)
        and (not statuses or r.get("status") in statuses)
    ]
    return 200, {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": base + path}],
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in found
        ],
    }


@contextmanager
def delayed_fhir_server(
    n_resources: int, delay_s: float, stats: FhirServerStats | None = None
) -> Iterator[tuple[str, FhirServerStats]]:
    """Yields (base URL, stats). Every answer is sent ``delay_s`` after the request arrives."""
    counters = stats if stats is not None else FhirServerStats()
    grouped = charts.chart(n_resources, seed=n_resources)
    resources = [r for group in grouped.values() for r in group]
    answers: dict[str, bytes] = {}  # the chart does not change: each search is built once

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without TCP_NODELAY, Nagle's algorithm plus the client's delayed ACK can hold a
        # response's last segment for ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            arrived = time.monotonic()
            with counters.lock:
                counters.requests += 1
                counters.in_flight += 1
                counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
                counters.paths.append(self.path)
            try:
                answer = answers.get(self.path)
                if answer is None:
                    base = f"http://127.0.0.1:{port}"
                    status, payload = search(resources, self.path, base)
                    body = orjson.dumps(payload)
                    head = (
                        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                        "Content-Type: application/fhir+json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    answer = answers.setdefault(self.path, head + body)
                remaining = delay_s - (time.monotonic() - arrived)
                if remaining > 0:
                    time.sleep(remaining)
                self.wfile.write(answer)  # status line, headers and body in one write
            finally:
                with counters.lock:
                    counters.in_flight -= 1

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", counters
    finally:
        server.shutdown()
        server.server_close()
