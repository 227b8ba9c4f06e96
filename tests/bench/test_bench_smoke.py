"""The benchmark harness still runs: every part at tiny sizes (seconds, not figures).

``python -m bench`` is not part of the test suite; this keeps it from rotting as the app
changes (new prefetch keys, auth, store). Real servers on loopback, real JWTs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from bench import charts, engine, fetch, http, memory, report
from bench.__main__ import QUICK, app_wiring
from bench.machine import describe as describe_machine


def test_chart_is_deterministic_valid_fhir_and_covers_every_declared_key() -> None:
    body = charts.patient_view_request(300, seed=7)
    assert charts.resource_count(body) == 300
    assert orjson.dumps(body) == orjson.dumps(charts.patient_view_request(300, seed=7))
    assert orjson.dumps(body) != orjson.dumps(charts.patient_view_request(300, seed=8))
    prefetch = body["prefetch"]
    assert tuple(prefetch) == charts.declared_prefetch_keys()
    Patient.model_validate(prefetch["patient"])
    for key, value in prefetch.items():
        if key != "patient":
            Bundle.model_validate(value)
    codes = {
        coding["code"]
        for entry in prefetch["labs"]["entry"]
        for coding in entry["resource"]["code"]["coding"]
    }
    assert {"718-7", "2823-3", "2951-2", "2601-3", "17861-6", "1751-7", "2345-7"} <= codes
    assert len(codes) > 20  # mostly codes no rule reads


def test_chart_sizes_are_exact() -> None:
    for size in (30, 3000):
        assert charts.resource_count(charts.patient_view_request(size)) == size
    with pytest.raises(ValueError):
        charts.chart(5)


@pytest.fixture(scope="module")
def engine_result() -> dict[str, Any]:
    return engine.run(**QUICK["engine"])


def test_engine_part_runs(engine_result: dict[str, Any]) -> None:
    result = engine_result
    for size in ("30", "300"):
        row = result["sizes"][size]
        assert row["engine"]["n"] >= 5 and row["floor"]["median_us"] > 0
    assert result["ratio_300"]["value"] > 0


def test_http_part_runs_against_the_production_server_with_jwt() -> None:
    result = http.run(**QUICK["http"], pin=False)
    service, baseline = result["service"], result["baseline"]
    assert service["ok"] == service["requests"] == QUICK["http"]["requests"]
    assert baseline["ok"] == baseline["requests"]
    frozen = result["baseline_frozen"]
    assert frozen["ok"] == frozen["requests"] == QUICK["http"]["requests"]
    assert service["probe"]["status"] == 200
    assert service["probe"]["status_without_jwt"] == 401
    assert result["throughput_ratio"]["value"] > 0


def test_fetch_part_fetches_every_key_concurrently() -> None:
    result = fetch.run(**QUICK["fetch"])
    assert result["searches_per_call"] == len(charts.declared_prefetch_keys())
    assert result["max_searches_in_flight"] > 1
    assert result["total_ms"]["median"] >= QUICK["fetch"]["delay_ms"]
    assert result["plain_client_ms"]["median_ms"] >= QUICK["fetch"]["delay_ms"]
    assert result["service_log_ms"]["fetch_phase_median"] >= QUICK["fetch"]["delay_ms"]


def test_memory_part_runs() -> None:
    result = memory.run(**QUICK["memory"], pin=False)
    assert [p["calls"] for p in result["curve"]] == [0, 50, 100]
    assert result["replay_entry_bytes"] is None or result["replay_entry_bytes"] > 0
    assert result["rss_mb"]["final"] > 0


def test_report_writes_markdown_json_and_plot(
    tmp_path: Path, engine_result: dict[str, Any]
) -> None:
    results = {
        "machine": describe_machine(),
        "notes": app_wiring(),
        "engine": engine_result,
        "measured_at": "now",
        "part_times": {"engine": "now"},
    }
    report.write(results, tmp_path)
    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "make bench" in text and "Engine / `orjson.loads` at 300 resources" in text
    assert orjson.loads((tmp_path / "results.json").read_bytes())["engine"]["sizes"]["300"]
    assert (tmp_path / "engine_vs_floor.png").read_bytes().startswith(b"\x89PNG")
