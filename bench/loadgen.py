"""Closed-loop HTTP/1.1 load generator, run as its own process: ``python -m bench.loadgen CFG``.

``concurrency`` keep-alive connections each send one request, read the whole response, and
send the next, for ``warmup`` + ``requests`` calls. It speaks raw HTTP/1.1 over asyncio
streams (on uvloop) rather than through httpx, so the generator costs a few microseconds
per call and the server, not the client, is what saturates. Every call carries its own
pre-signed JWT (unique ``jti``) and its own ``hookInstance``; both are prepared before the
timed window. Prints one JSON object with throughput, latency percentiles and status counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
    uvloop = None  # type: ignore[assignment]


@dataclass
class Plan:
    host: str
    port: int
    path: str
    body_head: bytes
    body_tail: bytes
    concurrency: int
    warmup: int
    requests: int
    tokens: list[str] | None
    headers: list[bytes]
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[int] = field(default_factory=list)
    error_sample: str | None = None
    next_index: int = 0

    def request_head(self, index: int) -> bytes:
        length = len(self.body_head) + 36 + len(self.body_tail)
        lines = [
            f"POST {self.path} HTTP/1.1".encode(),
            f"Host: {self.host}:{self.port}".encode(),
            b"Content-Type: application/json",
            b"Accept: application/json",
            f"Content-Length: {length}".encode(),
            *self.headers,
        ]
        if self.tokens is not None:
            lines.append(b"Authorization: Bearer " + self.tokens[index].encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length: int | None = None
    chunked = False
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts), close
    body = await reader.readexactly(length or 0)
    return status, body, close


async def _worker(plan: Plan, stop_at: int, measure: bool) -> None:
    reader, writer = await asyncio.open_connection(plan.host, plan.port)
    try:
        while plan.next_index < stop_at:
            index = plan.next_index
            plan.next_index += 1
            hook_instance = str(uuid.uuid4()).encode()
            head = plan.request_head(index)
            started = time.perf_counter_ns()
            writer.writelines((head, plan.body_head, hook_instance, plan.body_tail))
            status, body, close = await _read_response(reader)
            elapsed = time.perf_counter_ns() - started
            if measure:
                plan.latencies.append(elapsed)
                plan.statuses[status] = plan.statuses.get(status, 0) + 1
            if status != 200 and plan.error_sample is None:
                plan.error_sample = f"{status}: {body[:300].decode(errors='replace')}"
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(plan.host, plan.port)
    finally:
        writer.close()


async def _phase(plan: Plan, count: int, measure: bool) -> float:
    stop_at = plan.next_index + count
    started = time.perf_counter()
    workers = min(plan.concurrency, count)
    await asyncio.gather(*(_worker(plan, stop_at, measure) for _ in range(workers)))
    return time.perf_counter() - started


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[index])


async def run(plan: Plan) -> dict[str, Any]:
    if plan.warmup:
        await _phase(plan, plan.warmup, measure=False)
    elapsed = await _phase(plan, plan.requests, measure=True)
    ordered = sorted(plan.latencies)
    ms = 1e-6
    ok = plan.statuses.get(200, 0)
    return {
        "requests": len(ordered),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(plan.statuses.items())},
        "error_sample": plan.error_sample,
        "elapsed_s": elapsed,
        "throughput_rps": len(ordered) / elapsed if elapsed else 0.0,
        "latency_ms": {
            "p50": percentile(ordered, 0.50) * ms,
            "p90": percentile(ordered, 0.90) * ms,
            "p99": percentile(ordered, 0.99) * ms,
            "max": (ordered[-1] if ordered else float("nan")) * ms,
            "mean": (sum(ordered) / len(ordered) if ordered else float("nan")) * ms,
        },
        "concurrency": plan.concurrency,
    }


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    if config.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(config["cpus"]))
    body = Path(config["body_file"]).read_bytes()
    placeholder = config["placeholder"].encode()
    head, sep, tail = body.partition(placeholder)
    if not sep:
        raise SystemExit("the body must contain the hookInstance placeholder")
    total = config["warmup"] + config["requests"]
    tokens: list[str] | None = None
    if config.get("issuer"):
        from bench.trust import Issuer

        issuer = Issuer(
            iss=config["issuer"]["iss"],
            kid=config["issuer"]["kid"],
            private_pem=config["issuer"]["private_pem"].encode(),
        )
        aud = f"{config['audience_base']}{config['path']}"
        tokens = issuer.signer().many(aud, total, lifetime=config.get("token_lifetime", 300))
    plan = Plan(
        host=config["host"],
        port=config["port"],
        path=config["path"],
        body_head=head,
        body_tail=tail,
        concurrency=config["concurrency"],
        warmup=config["warmup"],
        requests=config["requests"],
        tokens=tokens,
        headers=[h.encode() for h in config.get("headers", [])],
    )
    result = uvloop.run(run(plan)) if uvloop is not None else asyncio.run(run(plan))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
