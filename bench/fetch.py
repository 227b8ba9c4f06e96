"""Fetch path: no prefetch at all, every key fetched from a slow loopback FHIR server.

Each FHIR search is answered after a fixed delay (100 ms by default). If the service fetches
its prefetch keys concurrently, a whole call takes about one delay; sequentially it would take
one delay per key (7 for patient-view). Target: total ≤ 1.3× one search's delay.

The server is the production configuration (JWT on, SQLite store in a temporary directory)
with two settings changed for this measurement: the FHIR deadline and per-request timeout are
raised (``CDS_FHIR_DEADLINE_SECONDS``, ``CDS_FHIR_REQUEST_TIMEOUT_SECONDS``) so a sequential
implementation would show up as a long call instead of being cut short by the default 0.4 s
deadline, and ``CDS_ALLOW_HTTP_FHIR_SERVER=true`` because the loopback FHIR server is plain http.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import charts
from bench.fhir_server import delayed_fhir_server
from bench.http import production_env
from bench.server import ROOT, SERVICE_APP, free_port, uvicorn_server
from bench.stats import quantile
from bench.trust import Issuer, jwks_server, write_clients_file

FETCH_TARGET = 1.3
DEADLINE_S = 5.0
REQUEST_TIMEOUT_S = 3.0


def _request(fhir_base: str, index: int) -> bytes:
    body = charts.patient_view_request(0, with_prefetch=False)
    body["hookInstance"] = f"22222222-2222-4222-8222-{index:012d}"
    body["fhirServer"] = fhir_base
    body["fhirAuthorization"] = {
        "access_token": "bench-opaque-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read user/Observation.read user/Condition.read "
        "user/MedicationRequest.read",
        "subject": "prenatal-cds",
    }
    return orjson.dumps(body)


def run(
    *, delay_ms: float = 100.0, calls: int = 20, warmup: int = 2, n_resources: int = 300
) -> dict[str, Any]:
    issuer = Issuer.generate()
    signer = issuer.signer()
    path = f"/cds-services/{charts.SERVICE_ID}"
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cds-bench-fetch-")))
        jwks_url = stack.enter_context(jwks_server(issuer))
        fhir_base, stats = stack.enter_context(delayed_fhir_server(n_resources, delay_ms / 1000))
        port = free_port()
        env = production_env(
            workdir, port, write_clients_file(workdir / "clients.toml", issuer, jwks_url=jwks_url)
        )
        env |= {
            "CDS_FHIR_DEADLINE_SECONDS": str(DEADLINE_S),
            "CDS_FHIR_REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_S),
            "CDS_ALLOW_HTTP_FHIR_SERVER": "true",
        }
        server = stack.enter_context(
            uvicorn_server(SERVICE_APP, env=env, workdir=workdir, port=port, name="fetch")
        )
        url = server.base_url + path
        client = stack.enter_context(httpx.Client(timeout=30))
        totals_ms: list[float] = []
        searches: list[int] = []
        in_flight: list[int] = []
        cards: list[str] = []
        for index in range(warmup + calls):
            token = signer.sign(url)
            raw = _request(fhir_base, index)
            stats.reset()
            started = time.perf_counter()
            response = client.post(
                url,
                content=raw,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(
                    f"fetch call failed {response.status_code}: "
                    f"{response.text[:300]}\n{server.log_tail()}"
                )
            if index < warmup:
                continue
            totals_ms.append(elapsed)
            searches.append(stats.requests)
            in_flight.append(stats.max_in_flight)
            cards = [
                f"{((c.get('source') or {}).get('topic') or {}).get('code', '?')}:{c['indicator']}"
                for c in response.json().get("cards", [])
            ]
        fhir_paths = list(stats.paths)
        phases = _service_phases(server.log_path, calls)
        floor = _plain_client_floor(fhir_base, fhir_paths)
    median = statistics.median(totals_ms)
    ratio = median / delay_ms
    return {
        "delay_ms": delay_ms,
        "calls": calls,
        "resources_on_fhir_server": n_resources,
        "settings_changed": {
            "CDS_FHIR_DEADLINE_SECONDS": DEADLINE_S,
            "CDS_FHIR_REQUEST_TIMEOUT_SECONDS": REQUEST_TIMEOUT_S,
            "CDS_ALLOW_HTTP_FHIR_SERVER": True,
        },
        "total_ms": {
            "median": median,
            "p90": quantile(totals_ms, 0.9),
            "min": min(totals_ms),
            "max": max(totals_ms),
        },
        "searches_per_call": max(searches),
        "max_searches_in_flight": max(in_flight),
        "fhir_requests_last_call": fhir_paths,
        "data_gap_card": any(c.startswith("DATA:") for c in cards),
        "cards": cards,
        "ratio": {"value": ratio, "target": f"≤ {FETCH_TARGET:g}×", "pass": ratio <= FETCH_TARGET},
        "service_log_ms": phases,
        "plain_client_ms": floor,
    }


def _plain_client_floor(fhir_base: str, paths: list[str]) -> dict[str, float] | None:
    """The same searches fetched concurrently by a bare httpx2 client in its own process."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.fetch_floor", fhir_base, *(p.lstrip("/") for p in paths)],
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        return None
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _service_phases(log_path: Path, calls: int) -> dict[str, float | None]:
    """Median fetch phase and whole pipeline of the last ``calls`` calls, from the service's
    own JSON log lines ("fhir fetch" and "hook call" carry ``elapsed_ms``)."""
    fetch_ms: list[float] = []
    pipeline_ms: list[float] = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("elapsed_ms"), int | float):
            continue
        if entry.get("msg") == "fhir fetch":
            fetch_ms.append(float(entry["elapsed_ms"]))
        elif entry.get("msg") == "hook call":
            pipeline_ms.append(float(entry["elapsed_ms"]))
    fetch_ms, pipeline_ms = fetch_ms[-calls:], pipeline_ms[-calls:]
    fetch = statistics.median(fetch_ms) if fetch_ms else None
    pipeline = statistics.median(pipeline_ms) if pipeline_ms else None
    return {
        "fetch_phase_median": fetch,
        "pipeline_median": pipeline,
        "after_fetch_median": pipeline - fetch if pipeline is not None and fetch else None,
    }


def describe(result: dict[str, Any]) -> str:
    check = result["ratio"]
    verdict = "PASS" if check["pass"] else "FAIL"
    return (
        f"fetch path: {result['searches_per_call']} searches per call, up to "
        f"{result['max_searches_in_flight']} in flight; total median "
        f"{result['total_ms']['median']:.1f} ms (p90 {result['total_ms']['p90']:.1f}) vs one "
        f"search {result['delay_ms']:.0f} ms → {check['value']:.2f}× (target {check['target']}) "
        f"{verdict}; data-gap card: {result['data_gap_card']}; cards {result['cards']}; "
        f"service log (median ms): {result['service_log_ms']}; "
        f"plain client on the same server: {result['plain_client_ms']}"
    )
