"""FhirClient against respx-mocked FHIR servers: headers, URLs, paging, retries, faults, logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import httpx2
import pytest
import respx

from cds_service.fhir.client import (
    FetchOutcome,
    FhirClient,
    expected_type,
    resolve_url,
    same_server,
)
from cds_service.fhir.data import DataGap
from tests.fhir._fhir import bundle, observation, outcome, patient
from tests.fhir.respx_httpx2 import serve_httpx2

BASE = "https://ehr.example/fhir/R4"
TOKEN = "tok-SECRET-3f9a1c"  # a synthetic token the tests look for in logs

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


async def run(
    handler: Handler,
    queries: Mapping[str, str],
    *,
    deadline: float = 5.0,
    base: str = BASE,
    **options: Any,
) -> tuple[FetchOutcome, respx.Route]:
    """Fetch ``queries`` from ``base`` while respx answers every request with ``handler``."""
    options.setdefault("access_token", TOKEN)
    options.setdefault("retry_backoff", 0.0)
    with respx.mock(assert_all_called=False) as mock, serve_httpx2(mock):
        route = mock.route()
        route.side_effect = handler
        async with httpx2.AsyncClient() as http:
            fetched = await FhirClient(http, base, **options).fetch_all(queries, deadline)
    return fetched, route


def answer(body: Any, status: int = 200) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return handler


def sequence(*responses: httpx.Response | Exception) -> Handler:
    """Answer successive requests with ``responses`` (an exception is raised instead)."""
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = remaining.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def urls(route: respx.Route) -> list[str]:
    return [str(call.request.url) for call in route.calls]


# --- URL resolution


@pytest.mark.parametrize(
    ("server", "query", "expected"),
    [
        ("https://ehr.example/fhir/R4", "Patient/p1", "https://ehr.example/fhir/R4/Patient/p1"),
        ("https://ehr.example/fhir/R4/", "Patient/p1", "https://ehr.example/fhir/R4/Patient/p1"),
        ("https://ehr.example/fhir/R4", "/Patient/p1", "https://ehr.example/fhir/R4/Patient/p1"),
        ("https://ehr.example", "Observation?code=a|b", "https://ehr.example/Observation?code=a|b"),
        (
            "http://127.0.0.1:8080/r4",
            "Condition?patient=x",
            "http://127.0.0.1:8080/r4/Condition?patient=x",
        ),
        (
            "https://ehr.example/fhir",
            "https://ehr.example/fhir/Patient/1",
            "https://ehr.example/fhir/Patient/1",
        ),
    ],
)
def test_relative_urls_keep_the_fhir_server_path_prefix(
    server: str, query: str, expected: str
) -> None:
    assert resolve_url(server, query) == expected


@pytest.mark.parametrize(
    ("url", "on_server"),
    [
        ("https://ehr.example/fhir/R4/Observation?page=2", True),
        ("https://ehr.example:443/fhir/R4/Observation", True),  # the default port, explicit
        ("https://EHR.example/fhir/R4/Observation", True),
        ("https://ehr.example/fhir/R4?_getpages=abc&_getpagesoffset=20", True),  # HAPI paging
        ("https://ehr.example:8443/fhir/R4/Observation", False),
        ("https://ehr.example/fhir/R40/Observation", False),
        ("http://ehr.example/fhir/R4/Observation", False),
        ("https://evil.example/fhir/R4/Observation", False),
        ("https://ehr.example/other/Observation", False),
        ("https://ehr.example.evil.example/fhir/R4/Observation", False),
    ],
)
def test_same_server_requires_scheme_host_port_and_prefix(url: str, on_server: bool) -> None:
    assert same_server(BASE, url) is on_server


@pytest.mark.parametrize(
    ("url", "wanted"),
    [
        (f"{BASE}/Observation?patient=1", "Bundle"),
        (f"{BASE}/Observation", "Bundle"),
        (f"{BASE}/Observation/_search?patient=1", "Bundle"),
        (f"{BASE}/Patient/p1", "Patient"),
        (f"{BASE}/Patient/$everything", None),
        (f"{BASE}/Patient/p1/_history/2", None),
        (f"{BASE}/metadata", None),
    ],
)
def test_expected_type_of_search_read_and_others(url: str, wanted: str | None) -> None:
    assert expected_type(BASE, url) == wanted


# --- headers


async def test_read_and_search_send_bearer_token_and_fhir_accept() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Patient/pat-1"):
            return httpx.Response(200, json=patient())
        return httpx.Response(200, json=bundle(observation("o1"), observation("o2")))

    fetched, route = await run(
        handler,
        {
            "patient": "Patient/pat-1",
            "vitals": "Observation?patient=pat-1&code=http://loinc.org|8480-6&_sort=-date",
        },
    )
    assert fetched.gaps == []
    assert [r["id"] for r in fetched.resources] == ["pat-1", "o1", "o2"]
    assert route.call_count == 2
    for call in route.calls:
        assert call.request.method == "GET"
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept"] == "application/fhir+json"
    searched = next(c.request.url for c in route.calls if "Observation" in c.request.url.path)
    assert searched.path == "/fhir/R4/Observation"
    assert searched.params["code"] == "http://loinc.org|8480-6"
    assert searched.params["_sort"] == "-date"


async def test_without_a_token_no_authorization_header_is_sent() -> None:
    fetched, route = await run(answer(patient()), {"patient": "Patient/pat-1"}, access_token=None)
    assert fetched.resources == [patient()]
    assert "Authorization" not in route.calls.last.request.headers


def test_client_repr_does_not_show_the_token() -> None:
    client = FhirClient(httpx2.AsyncClient(), BASE, access_token=TOKEN)
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)


# --- paging


def paged(pages: int, *, relative: bool = False, host: str = BASE) -> Handler:
    """``pages`` pages of two observations each, linked by ``next`` (absolute or relative)."""

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        items = [observation(f"o{page}-{i}") for i in (1, 2)]
        nxt = None
        if page < pages:
            nxt = f"Observation?patient=pat-1&page={page + 1}"
            nxt = nxt if relative else f"{host}/{nxt}"
        return httpx.Response(200, json=bundle(*items, next_url=nxt))

    return handler


async def test_next_links_are_followed_until_the_last_page() -> None:
    fetched, route = await run(paged(3), {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == []
    assert [r["id"] for r in fetched.resources] == ["o1-1", "o1-2", "o2-1", "o2-2", "o3-1", "o3-2"]
    assert fetched.results[0].pages == 3
    assert route.call_count == 3
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in route.calls)


async def test_relative_next_links_resolve_against_the_page_url() -> None:
    fetched, route = await run(paged(2, relative=True), {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == []
    assert urls(route)[1] == f"{BASE}/Observation?patient=pat-1&page=2"


async def test_paging_stops_at_the_cap_and_reports_truncated() -> None:
    fetched, route = await run(paged(10), {"labs": "Observation?patient=pat-1"}, max_pages=2)
    assert fetched.gaps == [DataGap("labs", "truncated")]
    assert len(fetched.resources) == 4  # the pages we did read are kept
    assert route.call_count == 2  # the third page is never requested


async def test_a_next_link_off_the_fhir_server_is_not_followed() -> None:
    handler = paged(3, host="https://elsewhere.example/fhir/R4")
    fetched, route = await run(handler, {"labs": "Observation?patient=pat-1"})
    assert [c.request.url.host for c in route.calls] == ["ehr.example"]  # token stays home
    assert fetched.gaps == [DataGap("labs", "fetch-error")]
    assert len(fetched.resources) == 2


async def test_a_next_link_pointing_at_itself_does_not_loop() -> None:
    url = f"{BASE}/Observation?patient=pat-1"
    fetched, route = await run(answer(bundle(observation("o1"), next_url=url)), {"labs": url})
    assert route.call_count == 1
    assert fetched.gaps == []
    assert [r["id"] for r in fetched.resources] == ["o1"]


async def test_hapi_style_paging_links_on_the_base_url_are_followed() -> None:
    hapi_next = f"{BASE}?_getpages=7f3a&_getpagesoffset=2&_count=2&_bundletype=searchset"
    handler = sequence(
        httpx.Response(200, json=bundle(observation("o1"), next_url=hapi_next)),
        httpx.Response(200, json=bundle(observation("o2"))),
    )
    fetched, route = await run(handler, {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == []
    assert [r["id"] for r in fetched.resources] == ["o1", "o2"]
    assert urls(route)[1] == hapi_next


# --- retries


async def test_503_is_retried_then_succeeds() -> None:
    handler = sequence(httpx.Response(503), httpx.Response(200, json=patient()))
    fetched, route = await run(handler, {"patient": "Patient/pat-1"}, retries=1)
    assert fetched.gaps == []
    assert fetched.resources == [patient()]
    assert route.call_count == 2
    assert fetched.results[0].attempts == 2


async def test_connection_error_is_retried_then_succeeds() -> None:
    handler = sequence(httpx.ConnectError("refused"), httpx.Response(200, json=patient()))
    fetched, route = await run(handler, {"patient": "Patient/pat-1"}, retries=1)
    assert fetched.gaps == []
    assert route.call_count == 2


async def test_a_dropped_keep_alive_connection_is_retried() -> None:
    handler = sequence(
        httpx.RemoteProtocolError("Server disconnected"), httpx.Response(200, json=patient())
    )
    fetched, route = await run(handler, {"patient": "Patient/pat-1"}, retries=1)
    assert fetched.gaps == []
    assert route.call_count == 2


async def test_retries_are_bounded() -> None:
    handler = sequence(*[httpx.Response(503) for _ in range(5)])
    fetched, route = await run(handler, {"patient": "Patient/pat-1"}, retries=2)
    assert fetched.gaps == [DataGap("patient", "fetch-error")]
    assert route.call_count == 3
    assert fetched.results[0].status == 503


async def test_no_retries_when_configured_off() -> None:
    handler = sequence(httpx.ConnectError("refused"), httpx.Response(200, json=patient()))
    fetched, route = await run(handler, {"patient": "Patient/pat-1"}, retries=0)
    assert fetched.gaps == [DataGap("patient", "fetch-error")]
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "query", "reason"),
    [
        (500, "Patient/pat-1", "fetch-error"),
        (502, "Observation?patient=pat-1", "fetch-error"),
        (504, "Observation?patient=pat-1", "fetch-error"),
        (404, "Observation?patient=pat-1", "fetch-error"),  # the search endpoint is missing
        (400, "Observation?patient=pat-1", "fetch-error"),
        (429, "Observation?patient=pat-1", "fetch-error"),
        (401, "Observation?patient=pat-1", "unauthorized"),
        (403, "Patient/pat-1", "unauthorized"),
        (302, "Patient/pat-1", "fetch-error"),
    ],
)
async def test_other_failures_are_not_retried(status: int, query: str, reason: str) -> None:
    headers = {"Location": "https://elsewhere.example/"} if status == 302 else None
    handler = sequence(httpx.Response(status, headers=headers, text="no"), httpx.Response(200))
    fetched, route = await run(handler, {"key": query}, retries=3)
    assert route.call_count == 1
    assert fetched.gaps == [DataGap("key", reason)]  # type: ignore[arg-type]
    assert fetched.resources == []


async def test_timeouts_are_not_retried() -> None:
    handler = sequence(httpx.ReadTimeout("slow"), httpx.Response(200, json=patient()))
    fetched, route = await run(handler, {"patient": "Patient/pat-1"}, retries=3)
    assert fetched.gaps == [DataGap("patient", "timeout")]
    assert route.call_count == 1


async def test_only_get_requests_are_ever_sent() -> None:
    handler = sequence(
        httpx.Response(503),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=bundle(observation("o1"), next_url=f"{BASE}/Observation?p=2")),
        httpx.Response(200, json=bundle(observation("o2"))),
    )
    fetched, route = await run(handler, {"labs": "Observation?patient=pat-1"}, retries=2)
    assert [r["id"] for r in fetched.resources] == ["o1", "o2"]
    assert {c.request.method for c in route.calls} == {"GET"}
    assert all(not c.request.content for c in route.calls)


# --- 404 on a read is "nothing found", as a null prefetch


@pytest.mark.parametrize("status", [404, 410])
async def test_a_read_that_finds_nothing_is_not_a_gap(status: int) -> None:
    fetched, route = await run(answer(outcome(code="not-found"), status), {"patient": "Patient/x"})
    assert fetched.gaps == []
    assert fetched.resources == []
    assert route.call_count == 1


# --- OperationOutcome and garbage


async def test_an_operation_outcome_instead_of_data_is_a_gap() -> None:
    fetched, _ = await run(answer(outcome()), {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == [DataGap("labs", "operation-outcome")]
    assert fetched.resources == []


async def test_a_4xx_operation_outcome_is_an_operation_outcome_gap() -> None:
    fetched, _ = await run(
        answer(outcome(code="not-supported"), 400), {"labs": "Observation?patient=pat-1"}
    )
    assert fetched.gaps == [DataGap("labs", "operation-outcome")]


async def test_an_error_operation_outcome_inside_a_bundle_is_a_gap_and_the_rest_is_kept() -> None:
    body = bundle(observation("o1"), outcome("error"), observation("o2"))
    fetched, _ = await run(answer(body), {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == [DataGap("labs", "operation-outcome")]
    assert [r["id"] for r in fetched.resources] == ["o1", "o2"]


async def test_a_warning_operation_outcome_inside_a_bundle_is_not_a_gap() -> None:
    body = bundle(observation("o1"), outcome("warning"))
    fetched, _ = await run(answer(body), {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == []
    assert [r["id"] for r in fetched.resources] == ["o1"]


async def test_operation_outcomes_on_several_pages_make_one_gap() -> None:
    handler = sequence(
        httpx.Response(200, json=bundle(outcome(), next_url=f"{BASE}/Observation?p=2")),
        httpx.Response(200, json=bundle(outcome(), observation("o2"))),
    )
    fetched, _ = await run(handler, {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == [DataGap("labs", "operation-outcome")]
    assert [r["id"] for r in fetched.resources] == ["o2"]


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff\xfegarbage",
        b"<html><body>Service Unavailable</body></html>",
        b'{"truncated": ',
        b"[]",
        b'{"hello": "world"}',
        b'{"resourceType": 42}',
        b"null",
        b"",
    ],
)
async def test_bodies_that_are_not_fhir_json_are_fetch_errors(content: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})

    fetched, _ = await run(handler, {"labs": "Observation?patient=pat-1"})
    assert fetched.gaps == [DataGap("labs", "fetch-error")]
    assert fetched.resources == []


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("Patient/pat-1", bundle(patient())),  # a read answered with a Bundle
        ("Observation?patient=pat-1", observation("o1")),  # a search answered with a resource
        ("Patient/pat-1", observation("o1")),  # a read answered with another type
    ],
)
async def test_answers_of_the_wrong_shape_are_fetch_errors(query: str, body: Any) -> None:
    fetched, _ = await run(answer(body), {"key": query})
    assert fetched.gaps == [DataGap("key", "fetch-error")]
    assert fetched.resources == []


# --- oversized answers


async def test_a_page_declared_larger_than_the_cap_is_refused_unread() -> None:
    big = bundle(*[observation(f"o{i}") for i in range(50)])
    fetched, _ = await run(answer(big), {"labs": "Observation?patient=pat-1"}, max_page_bytes=1000)
    assert fetched.gaps == [DataGap("labs", "fetch-error")]
    assert fetched.resources == []


async def test_a_streamed_page_growing_past_the_cap_is_cut_off() -> None:
    sent = 0

    def chunked(request: httpx.Request) -> httpx.Response:
        async def body() -> Any:  # no Content-Length: the cap must apply while reading
            nonlocal sent
            for _ in range(100):
                sent += 1
                yield b" " * 1000

        return httpx.Response(200, content=body())

    fetched, _ = await run(chunked, {"labs": "Observation?patient=pat-1"}, max_page_bytes=20_000)
    assert fetched.gaps == [DataGap("labs", "fetch-error")]
    assert sent < 100  # reading stopped at the cap


async def test_a_page_within_the_cap_is_read() -> None:
    fetched, _ = await run(
        answer(bundle(observation("o1"))), {"labs": "Observation?p=1"}, max_page_bytes=5000
    )
    assert fetched.gaps == []


# --- timeouts and the deadline


def hanging(fast_paths: Mapping[str, Any]) -> Handler:
    """Paths in ``fast_paths`` answer at once; every other request never answers."""

    async def handler(request: httpx.Request) -> httpx.Response:
        body = fast_paths.get(request.url.path)
        if body is None:
            await asyncio.Event().wait()  # cancelled by the client's timeout or deadline
        return httpx.Response(200, json=body)

    return handler


async def test_the_per_request_timeout_makes_a_timeout_gap() -> None:
    started = time.perf_counter()
    fetched, _ = await run(
        hanging({}), {"patient": "Patient/pat-1"}, request_timeout=0.05, deadline=5.0
    )
    elapsed = time.perf_counter() - started
    assert fetched.gaps == [DataGap("patient", "timeout")]
    assert elapsed < 1.0


async def test_the_deadline_cuts_slow_keys_and_keeps_the_fast_ones() -> None:
    fast = {"/fhir/R4/Patient/pat-1": patient()}
    started = time.perf_counter()
    fetched, _ = await run(
        hanging(fast),
        {"patient": "Patient/pat-1", "labs": "Observation?patient=pat-1"},
        request_timeout=5.0,
        deadline=0.05,
    )
    elapsed = time.perf_counter() - started
    assert fetched.resources == [patient()]
    assert fetched.gaps == [DataGap("labs", "timeout")]
    assert elapsed < 1.0


async def test_pages_read_before_the_deadline_are_kept() -> None:
    first = bundle(observation("o1"), next_url=f"{BASE}/Observation?patient=pat-1&page=2")
    fetched, _ = await run(
        _first_page_then_hang(first),
        {"labs": "Observation?patient=pat-1"},
        request_timeout=5.0,
        deadline=0.05,
    )
    assert [r["id"] for r in fetched.resources] == ["o1"]
    assert fetched.gaps == [DataGap("labs", "timeout")]
    assert fetched.results[0].pages == 1


def _first_page_then_hang(first: dict[str, Any]) -> Handler:
    async def handler(request: httpx.Request) -> httpx.Response:
        if "page" in request.url.params:
            await asyncio.Event().wait()
        return httpx.Response(200, json=first)

    return handler


async def test_all_keys_are_fetched_concurrently() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json=bundle())

    queries = {f"k{i}": f"Observation?patient=pat-1&n={i}" for i in range(7)}
    fetched, route = await run(handler, queries)
    assert fetched.gaps == []
    assert route.call_count == 7
    assert peak == 7


async def test_no_queries_fetch_nothing() -> None:
    fetched, route = await run(answer(patient()), {})
    assert fetched.results == ()
    assert route.call_count == 0


# --- logs


async def test_the_token_and_patient_id_never_reach_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = sequence(
        httpx.Response(503),
        httpx.Response(401, json=outcome()),
        httpx.ConnectError(f"refused Bearer {TOKEN}"),
        httpx.Response(200, content=b"garbage"),
    )
    fetched, _ = await run(
        handler,
        {"a": "Patient/pat-SECRET-ID", "b": "Observation?patient=pat-SECRET-ID"},
        retries=1,
    )
    assert {g.reason for g in fetched.gaps} <= {"unauthorized", "fetch-error"}
    assert caplog.records, "the fetch path is expected to log something"
    for record in caplog.records:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        assert TOKEN not in text
        if record.name.startswith("cds_service"):
            assert "pat-SECRET-ID" not in text


async def test_cancelling_the_call_cancels_every_fetch() -> None:
    started: list[str] = []
    cancelled: list[str] = []
    both_started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        started.append(request.url.path)
        if len(started) == 2:
            both_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(request.url.path)
            raise
        raise AssertionError("unreachable")

    queries = {"a": "Patient/pat-1", "b": "Observation?patient=pat-1"}
    with respx.mock(assert_all_called=False) as mock, serve_httpx2(mock):
        mock.route().side_effect = handler
        async with httpx2.AsyncClient() as http:
            client = FhirClient(http, BASE, request_timeout=5.0)
            call = asyncio.create_task(client.fetch_all(queries, deadline=5.0))
            await asyncio.wait_for(both_started.wait(), timeout=5)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            for _ in range(10):
                await asyncio.sleep(0)
    assert sorted(cancelled) == sorted(started)
