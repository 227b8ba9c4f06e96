"""The whole app, prefetch absent, fhirServer = a real loopback server that misbehaves.

Proves issue 2's "prefetch-missing path against a real loopback HTTP server, including a slow
server (deadline honoured) and a 401/500 (degrades, does not crash)" and issue 4 §3's fetch
faults: per-request timeout, overall deadline, retries only on 503/connection errors,
401/403 → 200 with the data we have.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.fhir.data import Evaluation
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from tests.conftest import NOW, patient_view_request
from tests.fhir.fault_server import PATIENT_ID, FaultServer

SERVICE = "/cds-services/prenatal-cramps-convulsions"
TEMPLATES = dict(
    ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)
    .resolve("prenatal-cramps-convulsions", "patient-view")
    .prefetch
)
KEYS = tuple(TEMPLATES)
SEARCH_KEYS = tuple(k for k, t in TEMPLATES.items() if "?" in t)
TYPES = {t.split("?")[0].split("/")[0] for t in TEMPLATES.values()}
TOKEN = "good-token"  # the loopback server's expected token; never a real credential


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer(delay=2.0, pages=3, token=TOKEN) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server: FaultServer) -> None:
    server.reset()


class App:
    """The app under test with a recording advisor (the engine seam)."""

    def __init__(self, tmp_path: Path, **fhir: Any) -> None:
        self.evaluations: list[Evaluation] = []
        # Generous limits unless a test is about them: only the timing tests may time out.
        fhir.setdefault("fhir_deadline_seconds", 10.0)
        fhir.setdefault("fhir_request_timeout_seconds", 5.0)
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}", **fhir)

        def advisor(evaluation: Evaluation) -> list[Any]:
            self.evaluations.append(evaluation)
            return []

        self.client = TestClient(create_app(settings, clock=lambda: NOW, advisor=advisor))

    def call(self, fhir_server: str, *, token: str | None = TOKEN) -> tuple[int, Any, float]:
        body = patient_view_request(fhirServer=fhir_server)
        body["context"]["patientId"] = PATIENT_ID
        del body["prefetch"]  # nothing prefetched: every key must be fetched
        if token is not None:
            body["fhirAuthorization"] = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "user/Patient.read user/Observation.read",
                "subject": "prenatal-cds",
            }
        started = time.perf_counter()
        response = self.client.post(SERVICE, json=body)
        return response.status_code, response.json(), time.perf_counter() - started

    @property
    def last(self) -> Evaluation:
        return self.evaluations[-1]

    def gaps(self) -> dict[str, str]:
        return {g.key: g.reason for g in self.last.data.gaps}

    def ids(self) -> list[str]:
        return [r["id"] for r in self.last.data.resources]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    built = App(tmp_path)
    with built.client:
        yield built


def test_a_healthy_server_serves_every_key_with_token_accept_and_prefix(
    app: App, server: FaultServer
) -> None:
    status, body, _ = app.call(server.base("secure"))
    assert status == 200
    assert body == {"cards": []}
    assert app.gaps() == {}
    assert PATIENT_ID in app.ids()
    assert {r["resourceType"] for r in app.last.data.resources} == TYPES
    assert len(app.ids()) == len(KEYS) + len(SEARCH_KEYS)  # the read + two hits per search
    seen = server.seen
    assert len(seen) == len(KEYS)
    assert {s.method for s in seen} == {"GET"}
    assert {s.authorization for s in seen} == {f"Bearer {TOKEN}"}
    assert {s.accept for s in seen} == {"application/fhir+json"}
    assert all(s.path.startswith("/secure/fhir/") for s in seen)  # fhirServer's prefix kept
    requested = sorted(s.url.removeprefix("/secure/fhir/") for s in seen)
    assert requested == sorted(
        t.replace("{{context.patientId}}", PATIENT_ID) for t in TEMPLATES.values()
    )  # exactly the rendered templates


def test_a_wrong_token_degrades_to_unauthorized_gaps(app: App, server: FaultServer) -> None:
    status, body, _ = app.call(server.base("secure"), token="stale-token")
    assert status == 200
    assert "cards" in body
    assert app.gaps() == dict.fromkeys(KEYS, "unauthorized")
    assert app.ids() == []


def test_no_fhir_authorization_queries_without_a_token(app: App, server: FaultServer) -> None:
    status, _, _ = app.call(server.base("ok"), token=None)
    assert status == 200
    assert app.gaps() == {}
    assert {s.authorization for s in server.seen} == {None}


@pytest.mark.parametrize(("mode", "reason"), [("401", "unauthorized"), ("403", "unauthorized")])
def test_401_and_403_answer_200_with_degraded_data(
    app: App, server: FaultServer, mode: str, reason: str
) -> None:
    status, body, _ = app.call(server.base(mode))
    assert status == 200
    assert isinstance(body["cards"], list)
    assert app.gaps() == dict.fromkeys(KEYS, reason)
    assert len(server.seen) == len(KEYS)  # not retried


def test_500_answers_200_with_fetch_error_gaps_and_no_retry(app: App, server: FaultServer) -> None:
    status, body, _ = app.call(server.base("500"))
    assert status == 200
    assert isinstance(body["cards"], list)
    assert app.gaps() == dict.fromkeys(KEYS, "fetch-error")
    assert len(server.seen) == len(KEYS)


def test_the_default_app_survives_a_failing_fhir_server(
    tmp_path: Path, server: FaultServer
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    body = patient_view_request(fhirServer=server.base("500"))
    del body["prefetch"]
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        response = client.post(SERVICE, json=body)
    assert response.status_code == 200
    assert isinstance(response.json()["cards"], list)


def test_503_then_200_is_retried_once_and_succeeds(app: App, server: FaultServer) -> None:
    status, _, _ = app.call(server.base("flaky503"))
    assert status == 200
    assert app.gaps() == {}
    assert PATIENT_ID in app.ids()
    urls = [s.url for s in server.seen]
    assert len(urls) == 2 * len(KEYS)
    assert all(urls.count(u) == 2 for u in urls)


@pytest.mark.parametrize("mode", ["garbage", "notfhir"])
def test_bodies_that_are_not_fhir_are_fetch_errors(
    app: App, server: FaultServer, mode: str
) -> None:
    status, _, _ = app.call(server.base(mode))
    assert status == 200
    assert app.gaps() == dict.fromkeys(KEYS, "fetch-error")


def test_operation_outcome_answers_are_gaps_and_the_read_is_kept(
    app: App, server: FaultServer
) -> None:
    status, _, _ = app.call(server.base("outcome"))
    assert status == 200
    assert app.ids() == [PATIENT_ID]
    assert app.gaps() == dict.fromkeys(SEARCH_KEYS, "operation-outcome")


def test_a_lost_path_prefix_would_show(app: App, server: FaultServer) -> None:
    base = f"http://127.0.0.1:{server.port}/ok"  # no /fhir: 404 + OperationOutcome
    app.call(base)
    assert app.gaps() == dict.fromkeys(SEARCH_KEYS, "operation-outcome")
    assert app.ids() == []  # a 404 read is "nothing found", as a null prefetch


def test_paging_follows_next_links_across_pages(app: App, server: FaultServer) -> None:
    status, _, _ = app.call(server.base("paged"))
    assert status == 200
    assert app.gaps() == {}
    searches = [s for s in server.seen if not s.path.endswith(PATIENT_ID)]
    assert len(searches) == len(SEARCH_KEYS) * 3  # three pages each
    hits = [i for i in app.ids() if i != PATIENT_ID]
    assert len(hits) == len(set(hits)) == len(SEARCH_KEYS) * 3 * 2


def test_paging_beyond_the_cap_is_truncated(tmp_path: Path, server: FaultServer) -> None:
    capped = App(tmp_path, fhir_max_pages=2)
    with capped.client:
        status, _, _ = capped.call(server.base("paged"))
    assert status == 200
    assert capped.gaps() == dict.fromkeys(SEARCH_KEYS, "truncated")
    assert len([i for i in capped.ids() if i != PATIENT_ID]) == len(SEARCH_KEYS) * 2 * 2


def test_connection_refused_is_a_fetch_error(app: App) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, _, elapsed = app.call(f"http://127.0.0.1:{port}/fhir")
    assert status == 200
    assert app.gaps() == dict.fromkeys(KEYS, "fetch-error")
    assert elapsed < 1.5


# --- timing: deadline, per-request timeout, concurrency (margins wide: no flaky tight timing) ----


def test_a_slow_server_cannot_hold_the_call_past_the_deadline(
    tmp_path: Path, server: FaultServer
) -> None:
    slow = App(tmp_path, fhir_deadline_seconds=0.3, fhir_request_timeout_seconds=1.0)
    with slow.client:
        status, body, elapsed = slow.call(server.base("slow"))  # the server waits 2 s
    assert status == 200
    assert body == {"cards": []}
    assert slow.gaps() == dict.fromkeys(KEYS, "timeout")
    assert 0.3 <= elapsed < 1.5


def test_the_per_request_timeout_cuts_a_slow_answer(tmp_path: Path, server: FaultServer) -> None:
    slow = App(tmp_path, fhir_deadline_seconds=3.0, fhir_request_timeout_seconds=0.2)
    with slow.client:
        status, _, elapsed = slow.call(server.base("slow"))
    assert status == 200
    assert slow.gaps() == dict.fromkeys(KEYS, "timeout")
    assert 0.2 <= elapsed < 1.5  # cut by the request timeout: far before the 3 s deadline


def test_fast_keys_are_kept_when_slow_ones_hit_the_deadline(
    tmp_path: Path, server: FaultServer
) -> None:
    mixed = App(tmp_path, fhir_deadline_seconds=0.3, fhir_request_timeout_seconds=1.0)
    with mixed.client:
        status, _, elapsed = mixed.call(server.base("slowsearch"))
    assert status == 200
    assert mixed.ids() == [PATIENT_ID]
    assert mixed.gaps() == dict.fromkeys(SEARCH_KEYS, "timeout")
    assert elapsed < 1.5


def test_missing_keys_are_fetched_concurrently(tmp_path: Path) -> None:
    with FaultServer(delay=0.3) as delayed:
        parallel = App(tmp_path, fhir_deadline_seconds=5.0, fhir_request_timeout_seconds=3.0)
        with parallel.client:
            status, _, elapsed = parallel.call(delayed.base("slow"))
    assert status == 200
    assert parallel.gaps() == {}
    assert len(delayed.seen) == len(KEYS)
    # One after another the keys would take ≥ len(KEYS) × 0.3 s; together they take ≈ 0.3 s.
    assert len(KEYS) >= 7
    assert 0.3 <= elapsed < 1.2


@pytest.mark.parametrize("mode", ["401", "403", "500", "slowsearch"])
def test_the_default_app_answers_one_data_gap_info_card(
    tmp_path: Path, server: FaultServer, mode: str
) -> None:
    """Issue 4 §3: FHIR faults → 200 with one info card saying data was unavailable, no PHI."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
        fhir_deadline_seconds=0.3 if mode == "slowsearch" else 10.0,
        fhir_request_timeout_seconds=5.0,
    )
    body = patient_view_request(fhirServer=server.base(mode))
    body["context"]["patientId"] = PATIENT_ID
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Observation.read",
        "subject": "prenatal-cds",
    }
    del body["prefetch"]
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        response = client.post(SERVICE, json=body)
    assert response.status_code == 200
    cards = response.json()["cards"]
    data_cards = [c for c in cards if c["source"].get("topic", {}).get("code") == "DATA"]
    assert len(data_cards) == 1
    assert data_cards[0]["indicator"] == "info"
    text = str(data_cards[0])
    assert TOKEN not in text
    assert PATIENT_ID not in text
