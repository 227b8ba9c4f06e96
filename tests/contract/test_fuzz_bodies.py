"""Malformed bodies get a JSON 4xx naming the bad field, never a 5xx (issue 2 "Done when").

Hypothesis drives random JSON, wrong types for each field, truncated bytes, huge numbers,
unicode and nested garbage in prefetch at every declared service; an explicit table then pins
the spec's error semantics (CDS Hooks §6, R-7, R-8, cds-r-1). The app runs the default engine
behind a resolver that never leaves the process (it records what it was asked to fetch).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.api.app import create_app
from cds_service.settings import Settings
from tests.conftest import NOW
from tests.contract.support import (
    CapturingAdvisor,
    RecordingResolver,
    component,
    registry,
    schema_errors,
    services,
    valid_request,
)

SERVICES = services()
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REQUEST_MEMBERS = {
    "hook",
    "hookInstance",
    "fhirServer",
    "fhirAuthorization",
    "context",
    "prefetch",
    "extension",
}


@pytest.fixture(scope="module")
def resolver() -> RecordingResolver:
    return RecordingResolver()


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, resolver: RecordingResolver
) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("fuzz") / "cds.sqlite3"
    app = create_app(Settings(database_url=f"sqlite:///{db}"), resolver=resolver, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def post(client: TestClient, service_id: str, body: Any) -> Any:
    # The standard library, not orjson, so integers beyond 64 bits can be sent.
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/cds-services/{service_id}", content=raw, headers={"content-type": "application/json"}
    )


def expression(response: Any) -> str | None:
    issue = response.json()["issue"][0]
    names = issue.get("expression")
    return names[0] if names else None


def assert_rejected(response: Any, statuses: tuple[int, ...] = (400,)) -> dict[str, Any]:
    """A 4xx in ``statuses`` with a schema-valid OperationOutcome body."""
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    outcome = response.json()
    assert schema_errors("OperationOutcome", outcome) == []
    assert isinstance(outcome, dict)
    return outcome


# ---------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
services_st = st.sampled_from(SERVICES)


def not_string(value: Any) -> bool:
    return not isinstance(value, str)


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


# ---------------------------------------------------------------- random bodies


@FUZZ
@given(service=services_st, body=json_values)
def test_random_json_is_a_400_naming_a_member(
    client: TestClient, service: tuple[str, str], body: Any
) -> None:
    outcome = assert_rejected(post(client, service[0], body))
    names = outcome["issue"][0].get("expression")
    if isinstance(body, dict):
        assert names, outcome
        assert names[0].split(".")[0] in REQUEST_MEMBERS
    else:
        assert "JSON object" in outcome["issue"][0]["diagnostics"]


@FUZZ
@given(service=services_st, data=st.data())
def test_truncated_json_is_a_400(client: TestClient, service: tuple[str, str], data: Any) -> None:
    raw = orjson.dumps(valid_request(*service))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    outcome = assert_rejected(post(client, service[0], raw[:cut]))
    assert "malformed JSON" in outcome["issue"][0]["diagnostics"]
    assert "expression" not in outcome["issue"][0]


@FUZZ
@given(service=services_st, raw=st.binary(max_size=64))
def test_random_bytes_are_a_400(client: TestClient, service: tuple[str, str], raw: bytes) -> None:
    assert_rejected(post(client, service[0], raw))


# ---------------------------------------------------------------- wrong types, member by member

AUTH = {
    "access_token": "opaque-token",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "user/Patient.read user/Observation.read",
    "subject": "cds-service4",
}


def _with_auth(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "fhirServer": "https://ehr.example.org/fhir", "fhirAuthorization": dict(AUTH)}


def _set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


non_strings = json_values.filter(not_string).filter(lambda v: v is not None)
non_objects = json_values.filter(lambda v: not isinstance(v, dict) and v is not None)
bad_ints = st.one_of(
    st.text(alphabet="abcxyz", min_size=1, max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.floats(min_value=0.1, max_value=0.9),
    st.integers(max_value=-1),
)
USER_ID = re.compile(component("UserId")["pattern"])
FHIR_ID = re.compile(component("FhirId")["pattern"])
user_ids = st.one_of(non_strings, st.text(max_size=30)).filter(
    lambda v: not (isinstance(v, str) and USER_ID.fullmatch(v))
)
fhir_ids = st.one_of(non_strings, st.text(min_size=1, max_size=70)).filter(
    lambda v: not (isinstance(v, str) and FHIR_ID.fullmatch(v))
)

# (member path, strategy of wrong values, hooks it applies to, needs fhirAuthorization)
WRONG: list[tuple[tuple[str, ...], Any, frozenset[str] | None, bool]] = [
    (("hook",), non_strings, None, False),
    (
        ("hookInstance",),
        st.one_of(non_strings, st.text(max_size=40)).filter(lambda v: not is_uuid(v)),
        None,
        False,
    ),
    (
        ("fhirServer",),
        st.one_of(
            non_strings,
            st.text(max_size=20).filter(lambda v: not v.startswith(("http://", "https://"))),
        ),
        None,
        False,
    ),
    (("fhirAuthorization",), non_objects, None, True),
    (("fhirAuthorization", "access_token"), st.one_of(non_strings, st.just("")), None, True),
    (
        ("fhirAuthorization", "token_type"),
        st.one_of(non_strings, st.text(max_size=10).filter(lambda v: v.lower() != "bearer")),
        None,
        True,
    ),
    (("fhirAuthorization", "expires_in"), bad_ints, None, True),
    (("fhirAuthorization", "scope"), non_strings, None, True),
    (("fhirAuthorization", "subject"), non_strings, None, True),
    (("context",), json_values.filter(lambda v: not isinstance(v, dict)), None, False),
    (("context", "userId"), user_ids, None, False),
    (("context", "patientId"), fhir_ids, None, False),
    (("context", "encounterId"), fhir_ids, None, False),
    (
        ("context", "draftOrders"),
        json_values.filter(
            lambda v: not (isinstance(v, dict) and v.get("resourceType") == "Bundle")
        ),
        frozenset({"order-select", "order-sign"}),
        False,
    ),
    (
        ("context", "selections"),
        st.one_of(
            non_objects.filter(lambda v: not isinstance(v, list)),
            st.just([]),
            st.lists(non_strings, min_size=1, max_size=3),
        ),
        frozenset({"order-select"}),
        False,
    ),
    (("prefetch",), non_objects.filter(lambda v: not isinstance(v, dict)), None, False),
    (("extension",), non_objects.filter(lambda v: not isinstance(v, dict)), None, False),
]


@pytest.mark.parametrize(
    ("path", "values", "hooks", "auth"), WRONG, ids=[".".join(w[0]) for w in WRONG]
)
@FUZZ
@given(data=st.data())
def test_wrong_value_is_a_400_naming_that_member(
    client: TestClient,
    path: tuple[str, ...],
    values: Any,
    hooks: frozenset[str] | None,
    auth: bool,
    data: Any,
) -> None:
    service_id, hook = data.draw(
        st.sampled_from([s for s in SERVICES if hooks is None or s[1] in hooks])
    )
    body = valid_request(service_id, hook)
    if auth:
        body = _with_auth(body)
    value = data.draw(values)
    response = post(client, service_id, _set(body, path, value))
    assert_rejected(response)
    named = expression(response)
    assert named is not None
    assert named == ".".join(path) or named.startswith(".".join(path) + "."), named


MISSING = [
    (("hook",), None),
    (("hookInstance",), None),
    (("context",), None),
    (("fhirAuthorization", "access_token"), None),
    (("fhirAuthorization", "token_type"), None),
    (("fhirAuthorization", "expires_in"), None),
    (("fhirAuthorization", "scope"), None),
    (("fhirAuthorization", "subject"), None),
    (("context", "userId"), None),
    (("context", "patientId"), None),
    (("context", "encounterId"), "encounter-start"),
    (("context", "draftOrders"), "order-sign"),
    (("context", "draftOrders"), "order-select"),
    (("context", "selections"), "order-select"),
]


def _missing_cases() -> Iterator[Any]:
    for path, only_hook in MISSING:
        for service_id, hook in SERVICES:
            if only_hook is None or hook == only_hook:
                yield pytest.param(service_id, hook, path, id=f"{hook}-{'.'.join(path)}")


@pytest.mark.parametrize(("service_id", "hook", "path"), list(_missing_cases()))
def test_missing_required_member_is_a_400_naming_it(
    client: TestClient, service_id: str, hook: str, path: tuple[str, ...]
) -> None:
    body = _with_auth(valid_request(service_id, hook))
    target = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    response = post(client, service_id, body)
    assert_rejected(response)
    assert expression(response) == ".".join(path)


# ---------------------------------------------------------------- numbers, unicode, garbage

EXPIRES_IN_MAX = component("FhirAuthorization")["properties"]["expires_in"]["maximum"]
huge_numbers = st.one_of(
    st.integers(min_value=2**53, max_value=2**64 - 1),
    st.integers(min_value=2**64, max_value=2**200),
    st.integers(min_value=-(2**200), max_value=-(2**53)),
    st.floats(min_value=1e300, max_value=1e308),
    st.floats(min_value=-1e308, max_value=-1e300),
)


@FUZZ
@given(service=services_st, number=huge_numbers, data=st.data())
def test_huge_numbers_never_crash(
    client: TestClient, service: tuple[str, str], number: Any, data: Any
) -> None:
    body = _with_auth(valid_request(*service))
    where = data.draw(st.sampled_from(["expires_in", "patientId", "prefetch", "extension"]))
    if where == "expires_in":
        body["fhirAuthorization"]["expires_in"] = number
    elif where == "patientId":
        body["context"]["patientId"] = number
    elif where == "prefetch":
        body["prefetch"]["patient"] = {"resourceType": "Patient", "id": "pat-1", "x": number}
    else:
        body["extension"] = {"org.example.n": number}
    response = post(client, service[0], body)
    if where == "patientId":
        assert_rejected(response)
        assert expression(response) == "context.patientId"
    elif where == "expires_in":
        # Integers up to 64 bits are accepted (the documented maximum); numbers beyond that
        # reach the app as floats and are refused, naming the field.
        if isinstance(number, int) and 0 <= number <= EXPIRES_IN_MAX:
            assert response.status_code == 200, response.text
        else:
            assert_rejected(response)
            assert expression(response) == "fhirAuthorization.expires_in"
    else:
        assert response.status_code == 200, response.text


def test_numbers_json_cannot_represent_are_a_400(client: TestClient) -> None:
    service_id, hook = SERVICES[0]
    raw = orjson.dumps(valid_request(service_id, hook)).replace(b'"gender"', b'"n":1e400,"gender"')
    outcome = assert_rejected(post(client, service_id, raw))
    assert "malformed JSON" in outcome["issue"][0]["diagnostics"]


@FUZZ
@given(service=services_st, text=st.text(min_size=1, max_size=40), data=st.data())
def test_unicode_in_members(
    client: TestClient, service: tuple[str, str], text: str, data: Any
) -> None:
    body = valid_request(*service)
    where = data.draw(st.sampled_from(["hook", "patientId", "userId", "prefetch key", "extension"]))
    if where == "hook":
        body["hook"] = text
    elif where == "patientId":
        body["context"]["patientId"] = text
    elif where == "userId":
        body["context"]["userId"] = f"Practitioner/{text}"
    elif where == "prefetch key":
        body["prefetch"][text] = {"resourceType": "Basic", "id": "x", "note": text}
    else:
        body["extension"] = {text: text}
    response = post(client, service[0], body)
    if where in ("prefetch key", "extension"):
        # Unknown prefetch keys and extension members are tolerated (R-8, E-2).
        assert response.status_code == 200, response.text
    elif response.status_code != 200:
        assert_rejected(response)
        assert (
            expression(response)
            == {"hook": "hook", "patientId": "context.patientId", "userId": "context.userId"}[where]
        )


resource_types = st.sampled_from(
    ["Patient", "Observation", "Condition", "MedicationRequest", "Bundle", "OperationOutcome"]
)
resource_like = st.builds(
    lambda rtype, members: {**members, "resourceType": rtype},
    resource_types,
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "code",
                "status",
                "valueQuantity",
                "component",
                "entry",
                "effectiveDateTime",
                "subject",
                "issue",
                "valueCodeableConcept",
            ]
        ),
        json_values,
        max_size=5,
    ),
)
garbage = st.one_of(
    json_values,
    resource_like,
    st.builds(
        lambda entries: {"resourceType": "Bundle", "type": "searchset", "entry": entries},
        st.lists(
            st.one_of(json_values, st.builds(lambda r: {"resource": r}, resource_like)), max_size=4
        ),
    ),
)


@FUZZ
@given(service=services_st, data=st.data())
def test_garbage_in_prefetch_is_answered_200(
    client: TestClient, service: tuple[str, str], data: Any
) -> None:
    """Prefetch data that is not valid FHIR is unavailable data, not a bad request or a crash."""
    body = valid_request(*service)
    for key in body["prefetch"]:
        body["prefetch"][key] = data.draw(garbage)
    response = post(client, service[0], body)
    assert response.status_code == 200, response.text
    assert schema_errors("CdsResponse", response.json()) == []


# ---------------------------------------------------------------- spec error semantics (§6)


@pytest.fixture
def capture(settings: Settings) -> Iterator[tuple[TestClient, CapturingAdvisor, RecordingResolver]]:
    advisor, resolver = CapturingAdvisor(), RecordingResolver()
    app = create_app(settings, advisor=advisor, resolver=resolver, clock=lambda: NOW)
    with TestClient(app) as test_client:
        yield test_client, advisor, resolver


PV = ("prenatal-cramps-convulsions", "patient-view")


def test_unknown_service_is_404(client: TestClient) -> None:
    outcome = assert_rejected(post(client, "no-such-service", valid_request(*PV)), (404,))
    assert outcome["issue"][0]["code"] == "not-found"


def test_unknown_service_is_404_whatever_the_body(client: TestClient) -> None:
    assert_rejected(post(client, "no-such-service", b"{not json"), (404, 400))
    assert_rejected(post(client, "no-such-service", [1, 2]), (404,))


def test_hook_the_id_does_not_serve_is_400_naming_hook(client: TestClient) -> None:
    body = valid_request(*PV)
    body["hook"] = "order-sign"
    response = post(client, PV[0], body)
    assert_rejected(response)
    assert expression(response) == "hook"


def test_unsupported_hook_is_400_naming_hook(client: TestClient) -> None:
    body = valid_request(*PV)
    body["hook"] = "medication-prescribe"
    response = post(client, PV[0], body)
    assert_rejected(response)
    assert expression(response) == "hook"


def test_missing_context_patient_id_is_400_naming_it(client: TestClient) -> None:
    body = valid_request(*PV)
    del body["context"]["patientId"]
    response = post(client, PV[0], body)
    assert_rejected(response)
    assert expression(response) == "context.patientId"


def test_fhir_authorization_without_fhir_server_is_400(client: TestClient) -> None:
    body = {**valid_request(*PV), "fhirAuthorization": dict(AUTH)}
    response = post(client, PV[0], body)
    outcome = assert_rejected(response)
    assert expression(response) == "fhirAuthorization"
    assert "fhirServer" in outcome["issue"][0]["diagnostics"]


def test_token_type_other_than_bearer_is_400_naming_it(client: TestClient) -> None:
    body = _with_auth(valid_request(*PV))
    body["fhirAuthorization"]["token_type"] = "MAC"
    response = post(client, PV[0], body)
    assert_rejected(response)
    assert expression(response) == "fhirAuthorization.token_type"


def test_absent_prefetch_key_without_fhir_server_is_412(client: TestClient) -> None:
    body = valid_request(*PV)
    del body["prefetch"]["labs"]
    response = post(client, PV[0], body)
    outcome = assert_rejected(response, (412,))
    assert outcome["issue"][0]["code"] == "processing"
    assert "labs" in outcome["issue"][0]["diagnostics"]
    assert expression(response) == "prefetch.labs"


def test_no_prefetch_at_all_without_fhir_server_is_412(client: TestClient) -> None:
    body = valid_request(*PV)
    del body["prefetch"]
    assert_rejected(post(client, PV[0], body), (412,))


def test_null_prefetch_is_not_refetched_and_not_412(
    capture: tuple[TestClient, CapturingAdvisor, RecordingResolver],
) -> None:
    client, advisor, resolver = capture
    for with_server in (False, True):
        body = valid_request(*PV)
        body["prefetch"] = dict.fromkeys(body["prefetch"])
        if with_server:
            body = _with_auth(body)
        response = post(client, PV[0], body)
        assert response.status_code == 200, response.text
    assert resolver.fetches == []
    assert all(e.data.gaps == () for e in advisor.evaluations)


def test_absent_key_with_fhir_server_is_fetched_and_only_that_key(
    capture: tuple[TestClient, CapturingAdvisor, RecordingResolver],
) -> None:
    client, _, resolver = capture
    body = _with_auth(valid_request(*PV))
    del body["prefetch"]["labs"]
    response = post(client, PV[0], body)
    assert response.status_code == 200, response.text
    [(queries, server, token)] = resolver.fetches
    assert set(queries) == {"labs"}
    assert queries["labs"].startswith("Observation?patient=pat-1&")
    assert (server, token) == ("https://ehr.example.org/fhir", "opaque-token")


def test_operation_outcome_in_prefetch_is_a_data_gap(
    capture: tuple[TestClient, CapturingAdvisor, RecordingResolver],
) -> None:
    client, advisor, resolver = capture
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "lab system down"}],
    }
    body = valid_request(*PV)
    body["prefetch"]["labs"] = outcome
    body["prefetch"]["vitals"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": outcome}],
    }
    response = post(client, PV[0], body)
    assert response.status_code == 200, response.text
    assert resolver.fetches == []
    gaps = {(g.key, g.reason) for g in advisor.evaluations[-1].data.gaps}
    assert gaps == {("labs", "operation-outcome"), ("vitals", "operation-outcome")}


def test_error_bodies_never_echo_the_request(client: TestClient) -> None:
    secret = "Jane-Doe-MRN-12345"
    body = _with_auth(valid_request(*PV))
    body["context"]["patientId"] = secret + " !"
    body["fhirAuthorization"]["access_token"] = secret
    response = post(client, PV[0], body)
    assert_rejected(response)
    assert secret not in response.text


def test_every_service_accepts_its_valid_request(client: TestClient) -> None:
    """The baseline every mutation above starts from is itself accepted."""
    for service_id, hook in SERVICES:
        response = post(client, service_id, valid_request(service_id, hook))
        assert response.status_code == 200, (service_id, hook, response.text)
    assert {hook for _, hook in SERVICES} == {d.hook for d in registry().declarations.values()}
