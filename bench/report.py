"""Writes ``results.json``, ``RESULTS.md`` and ``engine_vs_floor.png`` from the parts' results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPRODUCE = (
    "make bench   # = .venv/bin/python -m bench; one part: python -m bench engine|http|fetch|memory"
)


def _verdict(check: dict[str, Any] | None) -> str:
    if not check:
        return "not measured"
    return "**PASS**" if check["pass"] else "**FAIL**"


def _ms(us: float) -> str:
    return f"{us / 1000:,.2f} ms" if us >= 1000 else f"{us:,.0f} µs"


def targets_table(results: dict[str, Any]) -> list[str]:
    engine = results.get("engine") or {}
    http = results.get("http") or {}
    fetch = results.get("fetch") or {}
    memory = results.get("memory") or {}
    rows = ["| Check | Measured | Target | Result |", "|---|---|---|---|"]

    def row(name: str, check: dict[str, Any] | None, fmt: str) -> None:
        value = fmt.format(check["value"]) if check else "—"
        target = check["target"] if check else "—"
        rows.append(f"| {name} | {value} | {target} | {_verdict(check)} |")

    row("Engine / `orjson.loads` at 300 resources (median)", engine.get("ratio_300"), "{:.2f}×")
    row("Engine linearity: 3,000 vs 300 resources", engine.get("linearity_3000_vs_300"), "{:.2f}×")
    at = f" ({http['resources']:,} resources)" if http else ""
    row(f"HTTP throughput vs bare baseline{at}", http.get("throughput_ratio"), "{:.2f}×")
    row("HTTP p99 vs baseline p99", http.get("p99_ratio"), "{:.2f}×")
    row("Fetch path: total / one search's delay (all keys)", fetch.get("ratio"), "{:.2f}×")
    row("Peak RSS of one worker over 10,000 calls", memory.get("rss_check"), "{:.1f} MB")
    row("RSS growth after warm-up (no growth)", memory.get("growth_check"), "{:+.1f} MB")
    return rows


def machine_table(machine: dict[str, Any]) -> list[str]:
    versions = machine["versions"]
    return [
        "| | |",
        "|---|---|",
        f"| CPU | {machine['cpu_model']} |",
        f"| Cores | {machine['logical_cpus']} logical ({machine['physical_cores']} physical), "
        f"{machine['usable_cpus']} usable |",
        f"| RAM | {machine['ram_gb']} GB |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        "| Libraries | " + ", ".join(f"{k} {v}" for k, v in versions.items()) + " |",
    ]


def engine_section(engine: dict[str, Any]) -> list[str]:
    lines = [
        "## Engine micro-benchmark (in-process)",
        "",
        "`call_service` with the app's own registry, resolver and default advisor, then "
        "`CdsResponse.wire()`; floor = `orjson.loads` of the same body. " + engine["method"] + ".",
        "",
        "| Resources | Body | Floor median (p90) | Engine median (p90) | Engine / floor | "
        "Parse + engine + dumps | Reps | Cards (rule:indicator) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, r in engine["sizes"].items():
        lines.append(
            f"| {int(size):,} | {r['body_bytes'] / 1024:,.0f} KiB | "
            f"{_ms(r['floor']['median_us'])} ({_ms(r['floor']['p90_us'])}) | "
            f"{_ms(r['engine']['median_us'])} ({_ms(r['engine']['p90_us'])}) | "
            f"{r['ratio_median']:.2f}× | {_ms(r['in_process_total']['median_us'])} | "
            f"{r['engine']['n']} | {', '.join(r['cards']) or 'none'} |"
        )
    return [*lines, "", "![engine vs floor](engine_vs_floor.png)", ""]


def http_section(http: dict[str, Any]) -> list[str]:
    lines = [
        "## HTTP benchmark (real server vs bare baseline, same stack)",
        "",
        f"{http['resources']} resources per request ({http['body_bytes'] / 1024:,.0f} KiB), "
        f"{http['concurrency']} concurrent keep-alive connections, {http['workers']} uvicorn "
        f"worker(s) (uvloop, httptools, no access log), {http['rounds']} alternating round(s) of "
        f"{http['warmup_per_round']} warm-up + {http['requests_per_round']:,} timed calls per "
        "server (the round with the median throughput is shown). "
        f"Server CPUs {http['server_cpus']}, load-generator CPUs {http['loadgen_cpus']}. "
        f"Service: production settings, {http['auth']}; database: {http['database']}; "
        "sandbox off.",
        "",
        "| | Throughput | p50 | p90 | p99 | Peak RSS | Idle RSS | Rounds (req/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    labels = {
        "baseline": "bare baseline",
        "baseline_frozen": "baseline + the service's GC tuning",
        "service": "service",
    }
    for kind in ("baseline", "baseline_frozen", "service"):
        if kind not in http:
            continue
        r = http[kind]
        lat = r["latency_ms"]
        rounds = ", ".join(f"{t:,.0f}" for t in r["rounds_throughput_rps"])
        lines.append(
            f"| {labels[kind]} | {r['throughput_rps']:,.0f} req/s | {lat['p50']:.1f} ms | "
            f"{lat['p90']:.1f} ms | {lat['p99']:.1f} ms | {r['peak_rss_mb']:.0f} MB | "
            f"{r['idle_rss_mb']:.0f} MB | {rounds} |"
        )
    lines += [
        f"| **service / baseline** | **{http['throughput_ratio']['value']:.2f}×** | "
        f"{http['p50_ratio']:.2f}× | | **{http['p99_ratio']['value']:.2f}×** | "
        f"{http['peak_rss_ratio']:.2f}× | | |",
        "",
    ]
    frozen = http.get("vs_frozen_baseline")
    if frozen:
        lines += [
            "The targets are judged against the bare baseline. The service tunes its garbage "
            "collector in its lifespan (`gc.freeze()` of the start-up heap, young-generation "
            "threshold 50,000 instead of 700: `_GC_NOTE` in `cds_service/api/app.py`); the same "
            "lines in the baseline show what that is worth to the stack alone: "
            f"against it the service's throughput ratio is {frozen['throughput_ratio']:.2f}× "
            f"and its p99 ratio {frozen['p99_ratio']:.2f}×.",
            "",
        ]
    lines += [
        f"Probe call before the timed window: service {http['service']['probe']}, "
        f"baseline {http['baseline']['probe']}.",
        "",
    ]
    return lines


def fetch_section(fetch: dict[str, Any]) -> list[str]:
    total = fetch["total_ms"]
    changed = ", ".join(f"`{k}={v}`" for k, v in fetch["settings_changed"].items())
    lines = [
        "## Fetch path (no prefetch, slow loopback FHIR server)",
        "",
        f"Every FHIR request answered after {fetch['delay_ms']:.0f} ms; {fetch['calls']} timed "
        f"calls. Production settings with {changed} (deadline raised so a sequential fetch "
        "would show as a long call instead of being cut by the default 0.4 s deadline).",
        "",
        "| Searches per call | Max in flight | Total median | p90 | min–max | / one search | "
        "Data-gap card |",
        "|---:|---:|---:|---:|---:|---:|---|",
        f"| {fetch['searches_per_call']} | {fetch['max_searches_in_flight']} | "
        f"{total['median']:.1f} ms | {total['p90']:.1f} ms | {total['min']:.1f}–{total['max']:.1f}"
        f" ms | **{fetch['ratio']['value']:.2f}×** | {'yes' if fetch['data_gap_card'] else 'no'} |",
        "",
    ]
    phases = fetch.get("service_log_ms") or {}
    if phases.get("fetch_phase_median") is not None:
        lines += [
            "From the service's own log lines (medians): the fetch phase (all keys, "
            f'"fhir fetch") took {phases["fetch_phase_median"]:.1f} ms = '
            f"{phases['fetch_phase_median'] / fetch['delay_ms']:.2f}× one search; the whole "
            f'pipeline ("hook call") {phases["pipeline_median"]:.1f} ms, i.e. '
            f"{phases['after_fetch_median']:.1f} ms of facts, rules and cards on the fetched data.",
            "",
        ]
    floor = fetch.get("plain_client_ms")
    if floor:
        lines += [
            "The harness's own floor: a bare httpx2 client, as the service uses (own process, "
            f"uvloop, orjson), fetching the same {fetch['searches_per_call']} searches "
            "concurrently from the same server "
            f"takes {floor['median_ms']:.1f} ms (median; min {floor['min_ms']:.1f}) = "
            f"{floor['median_ms'] / fetch['delay_ms']:.2f}× one search: connection, transfer and "
            "parsing of the answers, before the service does anything.",
            "",
        ]
    return lines


def memory_section(memory: dict[str, Any]) -> list[str]:
    rss = memory["rss_mb"]
    curve = ", ".join(
        f"{p['calls']:,}: {p['rss_mb']:.1f}" for p in memory["curve"] if p["calls"] % 1000 == 0
    )
    entry = memory.get("replay_entry_bytes")
    replay = (
        f" One cached jti costs ~{entry:.0f} bytes in the in-memory replay store, so with "
        "300-s tokens a worker at R req/s holds R × 330 × that (e.g. 100 req/s → "
        f"{100 * 330 * entry / 1024**2:.1f} MB) before it plateaus."
        if entry
        else ""
    )
    return [
        "## Memory (one worker)",
        "",
        f"{memory['warmup_calls']:,} warm-up calls then {memory['calls']:,} calls at "
        f"{memory['resources']} resources, concurrency {memory['concurrency']}, production "
        f"settings, JWT on with {memory['token_lifetime_s']}-s tokens (so the jti replay cache, "
        "which keeps each jti for the token's lifetime + 30 s leeway, is full early in the run "
        f"instead of growing through it).{replay}",
        "",
        "| Start | After warm-up | After all calls | Peak | Growth | Peak, 1st half → 2nd half |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {rss['start']:.1f} MB | {rss['after_warmup']:.1f} MB | {rss['final']:.1f} MB | "
        f"{rss['peak']:.1f} MB | {memory['growth_mb']:+.1f} MB | "
        + (
            f"{memory['envelope_mb']['first_half_peak']:.1f} → "
            f"{memory['envelope_mb']['second_half_peak']:.1f} MB "
            f"({memory['late_growth_mb']:+.1f}) |"
            if "envelope_mb" in memory
            else f"{memory['late_growth_mb']:+.1f} MB |"
        ),
        "",
        "RSS saw-tooths by several MB while the allocator returns memory and takes it back, so "
        '"no growth" is judged on the upper envelope (second-half peak vs first-half peak), '
        "not on two single readings"
        + (
            f" (the two readings at 5,000 and 10,000 calls differ by "
            f"{memory['point_to_point_second_half_mb']:+.1f} MB)."
            if "point_to_point_second_half_mb" in memory
            else "."
        ),
        "",
        f"RSS (MB) by calls after warm-up: {curve}.",
        "",
    ]


def cost_breakdown(results: dict[str, Any]) -> list[str]:
    """Per-call cost at the HTTP size: where the service's time goes (derived, one worker)."""
    http, engine = results.get("http"), results.get("engine")
    if not http or not engine or str(http["resources"]) not in engine["sizes"]:
        return []
    size = engine["sizes"][str(http["resources"])]
    base_ms = 1000 / http["baseline"]["throughput_rps"]
    service_ms = 1000 / http["service"]["throughput_rps"]
    engine_ms = size["engine"]["median_us"] / 1000
    floor_ms = size["floor"]["median_us"] / 1000
    rest = service_ms - base_ms - engine_ms
    return [
        "## Where a call's time goes (one worker, derived from the figures above)",
        "",
        f"| Per call at {http['resources']} resources | ms |",
        "|---|---:|",
        f'| Baseline: HTTP + read + `orjson.loads` + `{{"cards": []}}` (1 / throughput) | '
        f"{base_ms:.2f} |",
        f"| of which `orjson.loads` (engine benchmark floor) | {floor_ms:.2f} |",
        *(
            [
                "| Baseline with the service's GC tuning (1 / throughput) | "
                f"{1000 / http['baseline_frozen']['throughput_rps']:.2f} |"
            ]
            if "baseline_frozen" in http
            else []
        ),
        f"| Service (1 / throughput) | {service_ms:.2f} |",
        f"| of which the engine (`call_service` + `wire()`, in-process median) | {engine_ms:.2f} |",
        f"| of which everything else the service adds (JWT, limits, store write, logging, "
        f"metrics) | {rest:.2f} |",
        "",
        f"At one worker the throughput ratio is the inverse of the per-call cost ratio: "
        f"≥ {0.6:g}× the baseline needs the service's call ≤ {base_ms / 0.6:.2f} ms, i.e. at most "
        f"{base_ms / 0.6 - base_ms:.2f} ms on top of the baseline for engine, JWT and store "
        "together.",
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# prenatal-cds — benchmark results",
        "",
        f"Measured {results['measured_at']} (parts: "
        + ", ".join(f"{k} {v}" for k, v in results.get("part_times", {}).items())
        + "). Ratios are measured within one run of each part; absolute times on a shared "
        "machine are noise.",
        "",
        "Reproduce:",
        "",
        "```",
        REPRODUCE,
        "```",
        "",
        "## Targets",
        "",
        *targets_table(results),
        "",
        "## Machine",
        "",
        *machine_table(results["machine"]),
        "",
    ]
    if results.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in results["notes"]], ""]
    if results.get("engine"):
        lines += engine_section(results["engine"])
    if results.get("http"):
        lines += http_section(results["http"])
        lines += cost_breakdown(results)
    if results.get("fetch"):
        lines += fetch_section(results["fetch"])
    if results.get("memory"):
        lines += memory_section(results["memory"])
    return "\n".join(lines).rstrip() + "\n"


def plot(engine: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(s) for s in engine["sizes"]]
    series = {
        "engine (call_service + wire)": [engine["sizes"][str(s)]["engine"] for s in sizes],
        "floor (orjson.loads)": [engine["sizes"][str(s)]["floor"] for s in sizes],
    }
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for (label, stats), marker in zip(series.items(), ("o", "s"), strict=True):
        medians = [st["median_us"] / 1000 for st in stats]
        p90 = [st["p90_us"] / 1000 for st in stats]
        ax.plot(sizes, medians, marker=marker, label=f"{label}, median")
        ax.fill_between(sizes, medians, p90, alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("resources in the request")
    ax.set_ylabel("time per call (ms), median; band to p90")
    ax.set_title("prenatal-cds engine vs orjson.loads floor")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "RESULTS.md").write_text(markdown(results), encoding="utf-8")
    if results.get("engine"):
        plot(results["engine"], out / "engine_vs_floor.png")
