"""Engine micro-benchmark: one request's prefetch → facts → rules → cards, in-process.

The pipeline is called exactly as the app calls it: ``call_service`` with the app's own
registry, resolver and default advisor (taken from ``create_app``'s state, lifespan running),
then the response is turned into wire JSON (``CdsResponse.wire()``). The floor is
``orjson.loads`` of the same request body: no service can do less than read what it is sent.
Floor and engine are timed alternately, call by call, so machine noise hits both alike; each
engine call gets a freshly parsed body (the floor sample produces it).
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bench import charts
from bench.stats import summary_us

ENGINE_TARGET_RATIO = 10.0  # engine at 300 resources ≤ 10× orjson.loads of the same body
LINEARITY_TARGET = 12.0  # engine at 3,000 ≤ 12× engine at 300

Pipeline = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@asynccontextmanager
async def pipeline(now: datetime, workdir: Path) -> AsyncIterator[Pipeline]:
    """The app's own pipeline (registry, resolver, default advisor), lifespan entered."""
    from cds_service.api.app import create_app
    from cds_service.services import call_service
    from cds_service.settings import Settings

    settings = Settings(
        environment="development",
        database_url=f"sqlite:///{workdir / 'engine-bench.sqlite3'}",
    )
    app = create_app(settings, clock=lambda: now)
    async with app.router.lifespan_context(app):
        state = app.state.cds

        async def call(body: dict[str, Any]) -> dict[str, Any]:
            result = await call_service(
                state.registry, state.resolver, state.advisor, charts.SERVICE_ID, body, state.clock
            )
            wire: dict[str, Any] = result.response.wire()
            return wire

        yield call


def _rule_ids(wire: dict[str, Any]) -> list[str]:
    out = []
    for card in wire.get("cards", []):
        topic = (card.get("source") or {}).get("topic") or {}
        out.append(f"{topic.get('code', '?')}:{card.get('indicator')}")
    return out


async def _measure_size(
    call: Pipeline, raw: bytes, budget_s: float, min_reps: int, max_reps: int, warmup: int
) -> dict[str, Any]:
    for _ in range(warmup):
        await call(orjson.loads(raw))
    floor_ns: list[int] = []
    engine_ns: list[int] = []
    total_ns: list[int] = []
    cards: list[str] = []
    gc.collect()
    started = time.perf_counter()
    reps = 0
    while reps < max_reps and (reps < min_reps or time.perf_counter() - started < budget_s):
        t0 = time.perf_counter_ns()
        body = orjson.loads(raw)
        t1 = time.perf_counter_ns()
        wire = await call(body)
        t2 = time.perf_counter_ns()
        orjson.dumps(wire)
        t3 = time.perf_counter_ns()
        floor_ns.append(t1 - t0)
        engine_ns.append(t2 - t1)
        total_ns.append(t3 - t0)
        reps += 1
        if reps == 1:
            cards = _rule_ids(wire)
        # Free this call's objects before the next parse, as the server does between calls:
        # a live previous body would make every garbage collection during the next parse longer.
        del body, wire
    floor = summary_us(floor_ns)
    engine = summary_us(engine_ns)
    return {
        "body_bytes": len(raw),
        "floor": floor,
        "engine": engine,
        "in_process_total": summary_us(total_ns),
        "ratio_median": engine["median_us"] / floor["median_us"],
        "ratio_p90": engine["p90_us"] / floor["p90_us"],
        "cards": cards,
    }


async def _run(
    sizes: tuple[int, ...], budget_s: float, min_reps: int, max_reps: int, warmup: int
) -> dict[str, Any]:
    now = charts.FIXED_NOW
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cds-bench-engine-") as tmp:
        async with pipeline(now, Path(tmp)) as call:
            for size in sizes:
                raw = charts.request_bytes(size, seed=size, now=now)
                results[str(size)] = await _measure_size(
                    call, raw, budget_s, min_reps, max_reps, warmup
                )
    return results


def run(
    sizes: tuple[int, ...] = charts.SIZES,
    *,
    budget_s: float = 4.0,
    min_reps: int = 30,
    max_reps: int = 5000,
    warmup: int = 10,
) -> dict[str, Any]:
    """Time floor and engine at each size; ratios and linearity against the targets."""
    per_size = asyncio.run(_run(sizes, budget_s, min_reps, max_reps, warmup))
    out: dict[str, Any] = {
        "sizes": per_size,
        "method": "time.perf_counter_ns, floor and engine alternated call by call, "
        f"{warmup} warm-up calls, ≥{min_reps} reps and ≥{budget_s:g} s per size; median and p90",
    }
    if "300" in per_size:
        ratio = per_size["300"]["ratio_median"]
        out["ratio_300"] = {
            "value": ratio,
            "target": f"≤ {ENGINE_TARGET_RATIO:g}×",
            "pass": ratio <= ENGINE_TARGET_RATIO,
        }
    if "300" in per_size and "3000" in per_size:
        linear = per_size["3000"]["engine"]["median_us"] / per_size["300"]["engine"]["median_us"]
        out["linearity_3000_vs_300"] = {
            "value": linear,
            "target": f"≤ {LINEARITY_TARGET:g}×",
            "pass": linear <= LINEARITY_TARGET,
        }
    return out


def describe(result: dict[str, Any]) -> str:
    lines = ["engine vs floor (orjson.loads):"]
    for size, r in result["sizes"].items():
        lines.append(
            f"  {size:>5} resources ({r['body_bytes'] / 1024:,.0f} KiB): "
            f"floor {r['floor']['median_us']:,.0f} µs, engine {r['engine']['median_us']:,.0f} µs "
            f"(p90 {r['engine']['p90_us']:,.0f}), ratio {r['ratio_median']:.2f}×, "
            f"n={r['engine']['n']}, cards {r['cards']}"
        )
    for key in ("ratio_300", "linearity_3000_vs_300"):
        if key in result:
            check = result[key]
            verdict = "PASS" if check["pass"] else "FAIL"
            lines.append(f"  {key}: {check['value']:.2f}× (target {check['target']}) {verdict}")
    return "\n".join(lines)
