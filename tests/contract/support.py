"""Shared pieces of the contract tests.

The published document (``openapi.yaml``), validators against its component schemas, the
app's routes in contract form, a resolver that never touches the network, and cards that use
every optional member of the CDS Hooks response.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, Route

from cds_service.fhir.data import DataGap, Evaluation
from cds_service.fhir.resolve import DataResolver
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from cds_service.wire import Action, Card, Coding, Link, Source, Suggestion

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = ROOT / "openapi.yaml"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Static-asset mounts that are not API operations and so are not in the contract.
ASSET_MOUNTS = frozenset({"/sandbox/static"})

# Operations in openapi.yaml whose routes are still being built, (METHOD, normalized path) →
# reason. test_openapi_drift marks them xfail(strict=True): an expected failure while the route
# is absent, a failure (strict XPASS) once it lands, which is the signal to delete the line.
# test_schemathesis skips them while absent. Empty: every documented route is served.
PENDING_ROUTES: dict[tuple[str, str], str] = {}


@cache
def openapi() -> dict[str, Any]:
    document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def component(name: str) -> dict[str, Any]:
    schema = openapi()["components"]["schemas"][name]
    assert isinstance(schema, dict)
    return schema


@cache
def validator(name: str) -> jsonschema_rs.Validator:
    """A JSON Schema 2020-12 validator for ``#/components/schemas/<name>``, formats checked."""
    root = {"$ref": f"#/components/schemas/{name}", "components": openapi()["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def schema_errors(name: str, instance: Any) -> list[str]:
    return [f"{e.instance_path}: {e.message}" for e in validator(name).iter_errors(instance)]


def normalize(path: str) -> str:
    """``/cds-services/{id}`` and ``/cds-services/{service_id}`` are the same operation."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def contract_operations() -> list[tuple[str, str]]:
    """(METHOD, path) for every operation in the document, path as written there."""
    out = []
    for path, item in openapi()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                out.append((method.upper(), path))
    return sorted(out)


def app_operations(app: FastAPI) -> tuple[set[tuple[str, str]], list[str]]:
    """(METHOD, normalized path) the app serves, and the mounts that are not allow-listed."""
    served: set[tuple[str, str]] = set()
    unknown_mounts: list[str] = []
    # FastAPI keeps included routers as branches; iter_route_contexts flattens them (prefixes
    # applied), as FastAPI's own OpenAPI generator does.
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, Mount):
            if path not in ASSET_MOUNTS:
                unknown_mounts.append(str(path))
            continue
        if isinstance(route, Route) and path is not None:
            for method in context.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    served.add((method, normalize(path)))
            continue
        unknown_mounts.append(str(path or route))
    return served, unknown_mounts


def walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every (JSON path, value) in a JSON document, the root included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def empties(document: Any, allowed: Sequence[str] = ()) -> list[str]:
    """JSON paths holding ``null``, ``""``, ``[]`` or ``{}`` (D-8), except ``allowed`` paths."""
    return [
        path
        for path, value in walk(document)
        if (value is None or value == "" or value == [] or value == {}) and path not in allowed
    ]


@cache
def registry() -> ServiceRegistry:
    """The services declared in ``hooks/``, as the app loads them."""
    return ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)


def services() -> list[tuple[str, str]]:
    """(service id, hook) for every declared service, in discovery order."""
    return sorted(registry().declarations)


def draft_orders() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "draft-1",
                    "status": "draft",
                    "intent": "order",
                    "subject": {"reference": "Patient/pat-1"},
                    "medicationCodeableConcept": {"text": "Ferrous sulfate 200 mg tablet"},
                }
            }
        ],
    }


def context_for(hook: str) -> dict[str, Any]:
    """A valid context for ``hook`` (REQUIRED fields only, plus encounterId where required)."""
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": "pat-1"}
    if hook == "encounter-start":
        context["encounterId"] = "enc-1"
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = draft_orders()
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-1"]
    return context


def valid_request(service_id: str, hook: str) -> dict[str, Any]:
    """A request the service accepts: every prefetch key present, ``null`` but the patient."""
    prefetch: dict[str, Any] = dict.fromkeys(registry().declarations[(service_id, hook)].prefetch)
    if "patient" in prefetch:
        prefetch["patient"] = {"resourceType": "Patient", "id": "pat-1", "gender": "female"}
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context_for(hook),
        "prefetch": prefetch,
    }


class RecordingResolver(DataResolver):
    """Never touches the network: records what it was asked to fetch and reports it as a gap."""

    def __init__(self) -> None:
        self.fetches: list[tuple[dict[str, str], str, str | None]] = []

    async def fetch(
        self, queries: Mapping[str, str], fhir_server: str, access_token: str | None
    ) -> tuple[list[dict[str, Any]], list[DataGap]]:
        self.fetches.append((dict(queries), fhir_server, access_token))
        return [], [DataGap(key, "fetch-error") for key in queries]


class CapturingAdvisor:
    """An advisor that remembers each evaluation and answers the given cards."""

    def __init__(self, cards: Sequence[Card] = ()) -> None:
        self.cards = list(cards)
        self.evaluations: list[Evaluation] = []

    def __call__(self, evaluation: Evaluation) -> Sequence[Card]:
        self.evaluations.append(evaluation)
        return self.cards


RULE_SYSTEM = "urn:prenatal-cds:rule"


def full_cards() -> list[Card]:
    """Cards that use every optional member of Card, Source, Suggestion, Action and Link."""
    critical = Card(
        uuid=str(uuid.uuid4()),
        summary="Possible eclampsia: seizure in pregnancy - urgent obstetric review.",
        detail="**Seizure** at 32 weeks.\n\n- Give magnesium sulfate per protocol.",
        indicator="critical",
        source=Source(
            label="NICE NG133",
            url="https://www.nice.org.uk/guidance/ng133",
            icon="https://example.org/icons/nice.png",
            topic=Coding(system=RULE_SYSTEM, code="R1", display="Seizure in pregnancy"),
        ),
        suggestions=[
            Suggestion(
                label="Order magnesium level",
                uuid=str(uuid.uuid4()),
                is_recommended=True,
                actions=[
                    Action(
                        type="create",
                        description="Order serum magnesium",
                        resource={
                            "resourceType": "ServiceRequest",
                            "status": "draft",
                            "intent": "proposal",
                            "subject": {"reference": "Patient/pat-1"},
                            "code": {
                                "coding": [
                                    {
                                        "system": "http://loinc.org",
                                        "code": "2601-3",
                                        "display": "Magnesium [Moles/volume] in Serum or Plasma",
                                    }
                                ]
                            },
                        },
                    )
                ],
            ),
            Suggestion(
                label="Remove the quinine draft",
                uuid=str(uuid.uuid4()),
                actions=[
                    Action(
                        type="delete",
                        description="Remove the draft quinine order",
                        resource_id="MedicationRequest/quinine-1",
                    )
                ],
            ),
        ],
        selection_behavior="at-most-one",
        override_reasons=[
            Coding(system="urn:prenatal-cds:override", code="reviewed", display="Already reviewed")
        ],
        links=[
            Link(label="RCOG guideline", url="https://www.rcog.org.uk/", type="absolute"),
            Link(
                label="Open the pregnancy app",
                url="https://apps.example.org/launch",
                type="smart",
                app_context='{"view":"bp"}',
                autolaunchable=False,
            ),
        ],
    )
    minimal = Card(
        uuid=str(uuid.uuid4()),
        summary="Some data were unavailable; advice uses only the data received.",
        indicator="info",
        source=Source(label="prenatal-cds"),
    )
    return [critical, minimal]


def sparse_cards() -> list[Card]:
    """Cards whose optional members are unset or empty: the wire must omit all of them."""
    return [
        Card(summary="Info only.", indicator="info", source=Source(label="prenatal-cds")),
        Card(
            uuid=str(uuid.uuid4()),
            summary="Warning with empty optionals.",
            detail="",
            indicator="warning",
            source=Source(label="prenatal-cds", url="", icon=None, topic=None),
            suggestions=[],
            override_reasons=[],
            links=[],
        ),
        Card(
            summary="A suggestion without actions.",
            indicator="warning",
            source=Source(label="prenatal-cds"),
            suggestions=[Suggestion(label="Review", uuid=str(uuid.uuid4()), actions=[])],
            selection_behavior="any",
        ),
    ]


def full_advisor(evaluation: Evaluation) -> Sequence[Card]:
    """A stub engine answering :func:`full_cards` (fresh uuids per call)."""
    return full_cards()
