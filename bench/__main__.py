"""``python -m bench [engine|http|fetch|memory|profile ...]`` — run the benchmark suite.

With no part named, runs engine, http, fetch and memory, then writes ``bench/results.json``,
``bench/RESULTS.md`` and ``bench/engine_vs_floor.png``. Naming parts runs only those and
merges their figures into the existing results. ``--quick`` uses tiny sizes (a smoke run, not
figures to publish). ``profile`` prints cProfile tables for the engine and HTTP paths.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, report

PARTS = ("engine", "http", "fetch", "memory")
OUT = Path(__file__).resolve().parent

QUICK: dict[str, dict[str, Any]] = {
    "engine": {"sizes": (30, 300), "budget_s": 0.2, "min_reps": 5, "warmup": 2},
    "http": {"requests": 100, "warmup": 10, "rounds": 1, "concurrency": 4, "n_resources": 30},
    "fetch": {"calls": 3, "warmup": 1, "delay_ms": 50.0, "n_resources": 30},
    "memory": {"calls": 100, "warmup": 20, "chunk": 50, "n_resources": 30, "replay_sample": 500},
}


def app_wiring() -> list[str]:
    """What the service under test is made of (a bench of an empty engine says so)."""
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        from cds_service.api.app import create_app
        from cds_service.settings import Settings

        app = create_app(Settings(database_url=f"sqlite:///{Path(tmp) / 'probe.sqlite3'}"))
        state = app.state.cds
        advisor = state.advisor
        name = f"{getattr(advisor, '__module__', '?')}.{getattr(advisor, '__qualname__', '?')}"
        notes.append(f"Default advisor of `create_app`: `{name}`.")
        notes.append(
            f"Resolver: `{type(state.resolver).__module__}.{type(state.resolver).__name__}`."
        )
    for module, what in (
        ("cds_service.api.auth", "JWT authentication"),
        ("cds_service.store", "feedback store (records issued cards)"),
        ("cds_service.engine", "clinical engine"),
        ("cds_service.cards", "cards layer"),
    ):
        present = importlib.util.find_spec(module) is not None
        notes.append(f"{what} (`{module}`): {'present' if present else 'MISSING'}.")
    return notes


def _runner(part: str, quick: bool) -> tuple[Callable[..., dict[str, Any]], Callable[..., str]]:
    module = __import__(f"bench.{part}", fromlist=["run", "describe"])
    return module.run, module.describe


def run_parts(
    parts: Sequence[str], out: Path, *, quick: bool = False, pin: bool = True
) -> dict[str, Any]:
    results_path = out / "results.json"
    results: dict[str, Any] = {}
    if results_path.exists() and set(parts) != set(PARTS):
        results = json.loads(results_path.read_text(encoding="utf-8"))
    results["machine"] = machine.describe()
    results["notes"] = app_wiring() + (
        ["QUICK smoke run: tiny sizes, not figures."] if quick else []
    )
    results.setdefault("part_times", {})
    for part in parts:
        run, describe = _runner(part, quick)
        kwargs = dict(QUICK[part]) if quick else {}
        if part in ("http", "memory"):
            kwargs["pin"] = pin
        print(f"== {part}", flush=True)
        result = run(**kwargs)
        print(describe(result), flush=True)
        results[part] = result
        results["part_times"][part] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report.write(results, out)
    print(f"wrote {out / 'RESULTS.md'}, {out / 'results.json'}", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "parts", nargs="*", metavar="PART", help="engine, http, fetch, memory, profile"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the results")
    parser.add_argument("--no-pin", action="store_true", help="do not split CPUs server/generator")
    parser.add_argument("--size", type=int, default=300, help="profile: resources per request")
    args = parser.parse_args(argv)
    unknown = set(args.parts) - {*PARTS, "profile"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    if "profile" in args.parts:
        from bench import profile

        profile.main(args.size)
        return 0
    parts = [p for p in PARTS if p in args.parts] or list(PARTS)
    results = run_parts(parts, args.out, quick=args.quick, pin=not args.no_pin)
    failed = [
        f"{part}.{key}"
        for part in PARTS
        for key, value in (results.get(part) or {}).items()
        if isinstance(value, dict) and value.get("pass") is False
    ]
    if failed:
        print("targets missed: " + ", ".join(failed), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
