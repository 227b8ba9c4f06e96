"""schemathesis against ``openapi.yaml`` and the live app, in-process (issue 4 §3).

The document is loaded from the app's own ``GET /openapi.yaml`` and every operation is driven
through the ASGI transport (lifespan included: database migrations, the shared HTTP client).
The app runs in development mode (no trusted clients) on a temporary SQLite database, with a
stub engine that answers cards using every optional member (so response conformance covers the
whole Card schema) and a resolver that never leaves the process.

Checks on every response: no 5xx, the status code is documented, the content type is the
documented one, and the body conforms to the documented schema. Deterministic: derandomized
Hypothesis, no example database, bounded examples per operation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.api.app import create_app
from cds_service.settings import Settings
from tests.conftest import NOW
from tests.contract.support import (
    PENDING_ROUTES,
    RecordingResolver,
    app_operations,
    contract_operations,
    full_advisor,
    normalize,
    registry,
    valid_request,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and generation mode. Operations without inputs stop as soon as Hypothesis has
# seen their whole (one-element) input space.
POSITIVE_EXAMPLES = 120
NEGATIVE_EXAMPLES = 60


# The service whose cards the feedback operation's generated bodies are pointed at.
FEEDBACK_SERVICE = ("prenatal-cramps-convulsions", "patient-view")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "cds.sqlite3"
    app = create_app(
        Settings(database_url=f"sqlite:///{db}", environment="development", clients_file=None),
        advisor=full_advisor,
        resolver=RecordingResolver(),
        clock=lambda: NOW,
    )
    schema = schemathesis.openapi.from_asgi("/openapi.yaml", app)
    yield schema
    shutdown_lifespans()


@pytest.fixture(scope="module")
def issued(api_schema: Any) -> list[tuple[str, list[str]]]:
    """Cards the service really issued (uuid, suggestion uuids), for feedback to refer to."""
    service_id, hook = FEEDBACK_SERVICE
    with get_client(api_schema.app) as client:
        response = client.post(f"/cds-services/{service_id}", json=valid_request(service_id, hook))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert cards
    return [(c["uuid"], [s["uuid"] for s in c.get("suggestions", [])]) for c in cards]


def _onto_issued_cards(issued: list[tuple[str, list[str]]]) -> Any:
    """Point generated feedback at issued cards and their suggestions, so items get stored."""

    def patch(case: Any) -> Any:
        body = copy.deepcopy(case.body)
        items = body.get("feedback") if isinstance(body, dict) else None
        targets = items if isinstance(items, list) else [body]
        for index, item in enumerate(targets):
            if not isinstance(item, dict) or "card" not in item:
                continue
            card, suggestions = issued[index % len(issued)]
            item["card"] = card
            accepted = item.get("acceptedSuggestions")
            if isinstance(accepted, list) and suggestions:
                for position, suggestion in enumerate(accepted):
                    if isinstance(suggestion, dict):
                        suggestion["id"] = suggestions[position % len(suggestions)]
        case.body = body
        return case

    return patch


def _fixtures() -> dict[str, dict[str, Any]]:
    """Sandbox fixtures (id → request), so generated paths and bodies can name real ones."""
    out: dict[str, dict[str, Any]] = {}
    directory = Settings().fixtures_dir
    for request_file in sorted(directory.glob("*/request.json")) if directory.is_dir() else []:
        request = json.loads(request_file.read_text(encoding="utf-8"))
        if isinstance(request, dict):
            out[request_file.parent.name] = request
    return out


FIXTURES = _fixtures()


def _onto_fixture(case: Any, fixture: str) -> Any:
    """A generated compose body whose ``request`` is a real fixture's (keyValues stay random)."""
    body = copy.deepcopy(case.body)
    if isinstance(body, dict):
        body["request"] = copy.deepcopy(FIXTURES[fixture])
        body.pop("service", None)
        body.pop("hook", None)
        case.body = body
    return case


def _strategy(operation: Any, mode: GenerationMode, issued: list[tuple[str, list[str]]]) -> Any:
    strategies = [operation.as_strategy(generation_mode=mode)]
    if operation.path == "/sandbox/fixtures/{fixtureId}":
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters={"fixtureId": fixture})
            for fixture in sorted(FIXTURES)
        ]
        return st.one_of(strategies)
    if operation.path == "/sandbox/compose" and mode == GenerationMode.POSITIVE and FIXTURES:
        strategies.append(
            st.tuples(
                operation.as_strategy(generation_mode=mode), st.sampled_from(sorted(FIXTURES))
            ).map(lambda pair: _onto_fixture(*pair))
        )
        return st.one_of(strategies)
    if "{id}" not in operation.path:
        return strategies[0]
    if mode == GenerationMode.NEGATIVE:
        # Invalid bodies at a real id reach body validation instead of the 404.
        strategies.append(
            operation.as_strategy(generation_mode=mode, path_parameters={"id": FEEDBACK_SERVICE[0]})
        )
    elif operation.path.endswith("/feedback"):
        strategies.append(
            operation.as_strategy(
                generation_mode=mode, path_parameters={"id": FEEDBACK_SERVICE[0]}
            ).map(_onto_issued_cards(issued))
        )
    else:
        # Each real id with a body for a hook it serves, so generated requests reach the
        # pipeline (prefetch, engine, cards) and not only the 404 or the hook check.
        for service_id in sorted(registry().ids()):
            hooks = {hook for sid, hook in registry().declarations if sid == service_id}
            strategies.append(
                operation.as_strategy(
                    generation_mode=mode, path_parameters={"id": service_id}
                ).filter(lambda case, hooks=hooks: case.body.get("hook") in hooks)
            )
    return st.one_of(strategies)


def _run(
    operation: Any, mode: GenerationMode, max_examples: int, issued: list[tuple[str, list[str]]]
) -> int:
    count = 0

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=_strategy(operation, mode, issued))
    def run(case: Any) -> None:
        nonlocal count
        count += 1
        case.call_and_validate(checks=CHECKS)

    run()
    return count


@pytest.mark.parametrize(
    ("method", "path"), contract_operations(), ids=[f"{m} {p}" for m, p in contract_operations()]
)
def test_operation_conforms(
    api_schema: Any,
    issued: list[tuple[str, list[str]]],
    method: str,
    path: str,
    record_property: Any,
) -> None:
    key = (method, normalize(path))
    if key in PENDING_ROUTES and key not in app_operations(api_schema.app)[0]:
        # test_openapi_drift holds the strict marker that fires once the route lands.
        pytest.xfail(PENDING_ROUTES[key])
    operation = api_schema[path][method]
    count = _run(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, issued)
    if operation.body:
        count += _run(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, issued)
        # Bodies have a large input space: the bound, not exhaustion, must end the run.
        assert count >= POSITIVE_EXAMPLES
    record_property("schemathesis_examples", count)
