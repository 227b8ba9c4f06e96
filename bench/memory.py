"""Memory: one worker, 10,000 calls at 300 resources; RSS after warm-up vs after the run.

The production server (JWT on, every call records its cards in the SQLite store in a temporary
directory) is driven by the load generator in chunks; the worker's RSS is read after the
warm-up and after every chunk, giving a growth curve, and sampled every 100 ms in between.
Targets: RSS under 150 MB (the peak of the whole 10,000 calls, not one reading at the end),
and no growth: at most 10 MB above the post-warm-up RSS overall, and the peak RSS of the
second half of the run less than 2 MB above the first half's peak (a leak lifts the upper
envelope; the allocator's saw-tooth of several MB does not).

Tokens here live 20 s, signed chunk by chunk (250 calls) just before use. The service's jti
replay cache keeps every jti for its token's lifetime plus the leeway (30 s): with the sandbox's
300-s tokens it would hold throughput × 330 s entries and still be filling at the end of a run
of a few minutes, which would look like a leak. With 20-s tokens it is full after 50 s, early
in the run, so what is left is growth that never stops. ``replay_entry_bytes`` measures what
one cached jti costs, to size the cache for real token lifetimes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.http import prepare_body, production_env, run_loadgen
from bench.server import SERVICE_APP, RssSampler, cpu_plan, free_port, uvicorn_server
from bench.trust import Issuer, jwks_server, write_clients_file

RSS_TARGET_MB = 150.0
GROWTH_LIMIT_MB = 10.0
LATE_GROWTH_LIMIT_MB = 2.0
TOKEN_LIFETIME_S = 20
MB = 1024 * 1024


def replay_entry_bytes(entries: int = 10_000) -> float | None:
    """Bytes one remembered jti costs in the service's in-memory replay store."""
    try:
        from cds_service.api.auth import InMemoryReplayStore
    except ImportError:
        return None
    store = InMemoryReplayStore()

    async def fill() -> None:
        for _ in range(entries):
            await store.first_use(f"https://bench-ehr.example.org\n{uuid.uuid4().hex}", 1e12, 0.0)

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    asyncio.run(fill())
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / entries


def run(
    *,
    calls: int = 10_000,
    warmup: int = 500,
    chunk: int = 250,
    concurrency: int = 8,
    n_resources: int = 300,
    pin: bool = True,
    replay_sample: int = 10_000,
) -> dict[str, Any]:
    issuer = Issuer.generate()
    server_cpus, client_cpus = cpu_plan(pin)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cds-bench-mem-")))
        jwks_url = stack.enter_context(jwks_server(issuer))
        body_file = prepare_body(workdir, n_resources, "memory-request")
        port = free_port()
        env = production_env(
            workdir, port, write_clients_file(workdir / "clients.toml", issuer, jwks_url=jwks_url)
        )
        server = stack.enter_context(
            uvicorn_server(
                SERVICE_APP,
                env=env,
                workdir=workdir,
                workers=1,
                port=port,
                cpus=server_cpus,
                name="memory",
            )
        )
        start_rss = server.rss() / MB

        def drive(count: int) -> dict[str, Any]:
            result = run_loadgen(
                port=port,
                body_file=body_file,
                concurrency=concurrency,
                requests=count,
                warmup=0,
                issuer=issuer,
                cpus=client_cpus,
                workdir=workdir,
                token_lifetime=TOKEN_LIFETIME_S,
            )
            if result["ok"] != result["requests"]:
                raise RuntimeError(
                    f"memory run: non-200 answers {result['statuses']}: "
                    f"{result['error_sample']}\n{server.log_tail()}"
                )
            return result

        drive(warmup)
        warm_rss = server.rss() / MB
        curve: list[tuple[int, float]] = [(0, warm_rss)]
        done = 0
        halfway = time.monotonic()
        with RssSampler(server.ps, interval=0.1) as sampler:
            while done < calls:
                step = min(chunk, calls - done)
                drive(step)
                done += step
                curve.append((done, server.rss() / MB))
                if done <= calls // 2:
                    halfway = time.monotonic()
        final_rss = curve[-1][1]
        half = min(curve, key=lambda point: abs(point[0] - calls // 2))
        peak = sampler.peak / MB
        first = max((rss for at, rss in sampler.samples if at <= halfway), default=0) / MB
        second = max((rss for at, rss in sampler.samples if at > halfway), default=0) / MB
    growth = final_rss - warm_rss
    # RSS saw-tooths by several MB as the allocator hands memory back and takes it again, so a
    # leak is judged on the upper envelope: the second half's peak against the first half's.
    late_growth = second - first
    no_growth = growth <= GROWTH_LIMIT_MB and late_growth < LATE_GROWTH_LIMIT_MB
    entry = replay_entry_bytes(replay_sample)
    return {
        "token_lifetime_s": TOKEN_LIFETIME_S,
        "replay_entry_bytes": entry,
        "calls": calls,
        "warmup_calls": warmup,
        "resources": n_resources,
        "concurrency": concurrency,
        "workers": 1,
        "rss_mb": {
            "start": start_rss,
            "after_warmup": warm_rss,
            "final": final_rss,
            "peak": peak,
        },
        "curve": [{"calls": c, "rss_mb": r} for c, r in curve],
        "growth_mb": growth,
        "late_growth_mb": late_growth,
        "envelope_mb": {"first_half_peak": first, "second_half_peak": second},
        "point_to_point_second_half_mb": final_rss - half[1],
        "rss_check": {  # judged on the peak of the whole run, not one reading at the end
            "value": peak,
            "target": f"< {RSS_TARGET_MB:g} MB",
            "pass": peak < RSS_TARGET_MB,
        },
        "growth_check": {
            "value": growth,
            "target": f"≤ {GROWTH_LIMIT_MB:g} MB overall; second-half peak < first-half peak "
            f"+ {LATE_GROWTH_LIMIT_MB:g} MB",
            "pass": no_growth,
        },
    }


def describe(result: dict[str, Any]) -> str:
    rss = result["rss_mb"]
    checks = []
    for key in ("rss_check", "growth_check"):
        check = result[key]
        checks.append(f"{key} {'PASS' if check['pass'] else 'FAIL'}")
    return (
        f"memory: {result['calls']:,} calls, RSS start {rss['start']:.1f} MB, after warm-up "
        f"{rss['after_warmup']:.1f} MB, final {rss['final']:.1f} MB (peak {rss['peak']:.1f}); "
        f"growth {result['growth_mb']:+.1f} MB, second half {result['late_growth_mb']:+.1f} MB; "
        + ", ".join(checks)
    )
