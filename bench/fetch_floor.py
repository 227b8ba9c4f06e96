"""The fetch path's floor: a plain client fetching the same searches concurrently.

Run as its own process (``python -m bench.fetch_floor BASE QUERY...``) against the slow
loopback FHIR server, with httpx2 on uvloop and orjson (what the service uses), so the bench
can tell the harness's own cost (connection, transfer, parsing of the answers) apart from the
service's. Prints ``{"median_ms": …, "min_ms": …}``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import httpx2
import orjson
import uvloop


async def measure(base: str, queries: list[str], rounds: int = 20, warmup: int = 2) -> list[float]:
    times: list[float] = []
    async with httpx2.AsyncClient(timeout=30) as client:
        for index in range(warmup + rounds):
            started = time.perf_counter()
            answers = await asyncio.gather(*(client.get(f"{base}/{q}") for q in queries))
            for answer in answers:
                orjson.loads(answer.content)
            if index >= warmup:
                times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str]) -> int:
    times = uvloop.run(measure(argv[0], argv[1:]))
    sys.stdout.write(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
