"""/metrics (Prometheus) and the structured JSON logs: what an operator sees, and no PHI."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cds_service.api.app import create_app
from cds_service.api.observability import (
    HTTP_CLIENT_LOGGERS,
    JsonFormatter,
    Metrics,
    logging_config,
    record_feedback,
    worker_metrics_dir,
)
from cds_service.fhir.data import Evaluation
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from cds_service.wire import Card, Coding, Source
from tests.conftest import NOW, patient_view_request

SERVICE = "prenatal-cramps-convulsions"


def rule_card(rule: str, indicator: str) -> Card:
    topic = Coding(system="urn:prenatal-cds:rule", code=rule, display=f"rule {rule}")
    return Card(summary=f"{rule} summary", indicator=indicator,  # type: ignore[arg-type]
                source=Source(label="NICE", topic=topic))  # fmt: skip


def fixed_advisor(evaluation: Evaluation) -> Sequence[Card]:
    return [rule_card("R1", "critical"), rule_card("R9", "warning"), rule_card("R19", "info")]


@pytest.fixture
def client(settings: Settings) -> TestClient:
    with TestClient(create_app(settings, advisor=fixed_advisor, clock=lambda: NOW)) as c:
        yield c  # type: ignore[misc]


def samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_calls_are_counted_by_service_hook_and_status(client: TestClient) -> None:
    client.post(f"/cds-services/{SERVICE}", json=patient_view_request())
    client.post(f"/cds-services/{SERVICE}", json=patient_view_request())
    client.post(f"/cds-services/{SERVICE}", json=patient_view_request(hookInstance="x"))
    client.post("/cds-services/no-such-service", json=patient_view_request())
    client.post(f"/cds-services/{SERVICE}", content=b"{", headers={"content-type": "text/plain"})
    calls = samples(client, "cds_calls_total")
    assert calls == {
        (("hook", "patient-view"), ("service", SERVICE), ("status", "200")): 2.0,
        (("hook", "patient-view"), ("service", SERVICE), ("status", "400")): 1.0,
        # An unknown id is never a label value (bounded cardinality).
        (("hook", "patient-view"), ("service", "unknown"), ("status", "404")): 1.0,
        (("hook", "unknown"), ("service", SERVICE), ("status", "415")): 1.0,
    }
    latency = samples(client, "cds_call_duration_seconds_count")
    assert latency[(("hook", "patient-view"), ("service", SERVICE))] == 3.0


def test_cards_are_counted_by_indicator_and_rule(client: TestClient) -> None:
    client.post(f"/cds-services/{SERVICE}", json=patient_view_request())
    cards = samples(client, "cds_cards_total")
    base = (("hook", "patient-view"),)
    assert cards == {
        (*base, ("indicator", "critical"), ("rule", "R1"), ("service", SERVICE)): 1.0,
        (*base, ("indicator", "warning"), ("rule", "R9"), ("service", SERVICE)): 1.0,
        (*base, ("indicator", "info"), ("rule", "R19"), ("service", SERVICE)): 1.0,
    }


def test_fhir_data_gaps_are_counted_by_key_and_reason(client: TestClient) -> None:
    body = patient_view_request()
    body["prefetch"]["labs"] = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout"}]}  # fmt: skip
    assert client.post(f"/cds-services/{SERVICE}", json=body).status_code == 200
    gaps = samples(client, "cds_fhir_data_gaps_total")
    assert gaps == {(("key", "labs"), ("reason", "operation-outcome"), ("service", SERVICE)): 1.0}


def test_feedback_outcomes_are_counted(client: TestClient) -> None:
    record_feedback(client.app, SERVICE, "accepted")  # type: ignore[arg-type]
    record_feedback(client.app, SERVICE, "overridden", 2)  # type: ignore[arg-type]
    record_feedback(client.app, "someone-else", "bogus")  # type: ignore[arg-type]
    feedback = samples(client, "cds_feedback_total")
    assert feedback == {
        (("outcome", "accepted"), ("service", SERVICE)): 1.0,
        (("outcome", "overridden"), ("service", SERVICE)): 2.0,
        (("outcome", "unknown"), ("service", "unknown")): 1.0,
    }


def test_each_app_has_its_own_registry(settings: Settings) -> None:
    with TestClient(create_app(settings, advisor=fixed_advisor, clock=lambda: NOW)) as one:
        one.post(f"/cds-services/{SERVICE}", json=patient_view_request())
        with TestClient(create_app(settings, clock=lambda: NOW)) as two:
            assert samples(two, "cds_calls_total") == {}
        assert sum(samples(one, "cds_calls_total").values()) == 1.0


def test_worker_processes_are_aggregated(tmp_path: Path, registry: ServiceRegistry) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, each worker writes its values there; /metrics sums them."""
    directory = tmp_path / "metrics"
    settings = Settings(_env_file=None).model_copy(update={"prometheus_multiproc_dir": directory})
    assert worker_metrics_dir(settings) == directory
    worker = (
        "from cds_service.api.observability import Metrics\n"
        "from cds_service.knowledge.prefetch_sets import expand_code_set\n"
        "from cds_service.services import ServiceRegistry\n"
        "from cds_service.settings import Settings\n"
        "m = Metrics(ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set))\n"
        f"m.calls.labels({SERVICE!r}, 'patient-view', '200').inc(3)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)
    text = Metrics(registry, directory).exposition().decode()
    assert f'cds_calls_total{{hook="patient-view",service="{SERVICE}",status="200"}} 6.0' in text


# ----------------------------------------------------------------------------------- logs


def test_one_json_line_per_call_with_counts_and_no_patient_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = patient_view_request(context={"userId": "Practitioner/dr-who", "patientId": "pat-9x"})
    body["prefetch"]["patient"] = {"resourceType": "Patient", "id": "pat-9x",
                                   "name": [{"family": "Smithson"}]}  # fmt: skip
    with caplog.at_level(logging.INFO, logger="cds_service"):
        client.post(f"/cds-services/{SERVICE}", json=body)
    calls = [r for r in caplog.records if r.getMessage() == "hook call"]
    assert len(calls) == 1
    line = json.loads(JsonFormatter().format(calls[0]))
    assert line["msg"] == "hook call" and line["level"] == "info"
    assert line["hook"] == "patient-view" and line["service"] == SERVICE
    assert line["hook_instance"] == body["hookInstance"]
    assert (line["cards"], line["resources"], line["gaps"]) == (3, 1, 0)
    assert isinstance(line["elapsed_ms"], float)
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert (
        "pat-9x" not in everything and "Smithson" not in everything and "dr-who" not in everything
    )


def test_a_failed_call_logs_its_status_once_without_the_body(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = patient_view_request(context={"userId": "Practitioner/x", "patientId": "pat-secret"})
    del body["prefetch"]["labs"]
    with caplog.at_level(logging.INFO, logger="cds_service"):
        assert client.post(f"/cds-services/{SERVICE}", json=body).status_code == 412
    failed = [r for r in caplog.records if r.getMessage() == "hook call failed"]
    assert len(failed) == 1
    line = json.loads(JsonFormatter().format(failed[0]))
    assert (line["status"], line["service"], line["hook"]) == (412, SERVICE, "patient-view")
    assert line["hook_instance"] == body["hookInstance"]
    assert "pat-secret" not in JsonFormatter().format(failed[0])


def test_logging_config_formats_service_and_uvicorn_loggers_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(log_level="INFO", log_json=True)
    previous = {n: logging.getLogger(n).handlers[:] for n in ("cds_service", "uvicorn")}
    levels = {n: logging.getLogger(n).level for n in HTTP_CLIENT_LOGGERS}
    try:
        logging.config.dictConfig(logging_config(settings))
        logging.getLogger("cds_service.test").info("ready", extra={"workers": 2})
        logging.getLogger("uvicorn.error").info("Started server process")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        # FHIR search URLs carry the patient id: the HTTP client's INFO request lines stay off.
        assert not logging.getLogger("httpx2").isEnabledFor(logging.INFO)
        assert not logging.getLogger("httpcore2.http11").isEnabledFor(logging.INFO)
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    finally:
        for name, handlers in previous.items():
            logging.getLogger(name).handlers = handlers
            logging.getLogger(name).propagate = True
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert lines[0]["msg"] == "ready" and lines[0]["workers"] == 2
    assert lines[1]["logger"] == "uvicorn.error"


def test_configure_logging_leaves_an_existing_setup_alone() -> None:
    from cds_service.api.observability import configure_logging

    root = logging.getLogger()
    assert root.handlers  # pytest's capture handlers: a host's logging set-up
    before = logging.getLogger("cds_service").handlers[:]
    assert configure_logging(Settings()) is False
    assert logging.getLogger("cds_service").handlers == before
