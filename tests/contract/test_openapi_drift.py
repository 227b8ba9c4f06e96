"""``openapi.yaml`` is the published contract: it must be valid OpenAPI 3.1 and match the app.

Fails when the app's routes and the document's operations differ, and when the component
schemas drift from the pydantic wire models (member names, required members, enums and the
constraints that matter to clients).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.definitions import OPENAPI_31

from cds_service import __version__
from cds_service.api.app import create_app
from cds_service.settings import Settings
from cds_service.wire import (
    AcceptedSuggestion,
    Action,
    Card,
    CdsRequest,
    CdsResponse,
    Coding,
    DiscoveryResponse,
    EncounterStartContext,
    FeedbackItem,
    FeedbackRequest,
    FhirAuthorization,
    Link,
    OrderSelectContext,
    OrderSignContext,
    OverrideReason,
    PatientViewContext,
    ServiceDescriptor,
    Source,
    Suggestion,
    context_model_for,
)
from cds_service.wire.request import supported_hooks
from cds_service.wire.response import INDICATOR_RANK
from tests.contract.support import (
    OPENAPI_PATH,
    PENDING_ROUTES,
    app_operations,
    component,
    contract_operations,
    normalize,
    openapi,
    schema_errors,
    walk,
)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


# ---------------------------------------------------------------- the document itself


def test_document_is_openapi_31() -> None:
    document = openapi()
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    errors = [
        e.message for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(document)
    ]
    assert errors == []


def test_document_version_is_the_package_version() -> None:
    assert openapi()["info"]["version"] == __version__


def test_every_component_schema_is_valid_json_schema_2020_12() -> None:
    for name, schema in openapi()["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_ref_resolves() -> None:
    document = openapi()
    for path, value in walk(document):
        if path.endswith(".$ref"):
            assert isinstance(value, str) and value.startswith("#/"), path
            target: Any = document
            for part in value[2:].split("/"):
                assert isinstance(target, dict) and part in target, f"{path}: {value}"
                target = target[part]


def test_no_nullable_keyword_and_no_null_in_cds_hooks_payloads() -> None:
    """3.1 has no ``nullable``. In CDS Hooks payloads ``null`` is allowed only for prefetch
    values (R-8); the integrator sandbox's tooling schemas are not CDS Hooks payloads."""
    for path, value in walk(openapi()):
        assert not path.endswith(".nullable"), path
        if (isinstance(value, list) and "null" in value and path.endswith(".type")) or (
            value == "null" and path.endswith(".type")
        ):
            assert path == "$.components.schemas.Prefetch.additionalProperties.type" or (
                path.startswith("$.components.schemas.Sandbox")
            ), path


def test_schemathesis_loads_and_validates_the_document() -> None:
    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    schema.validate()
    results = list(schema.get_all_operations())
    assert [r for r in results if not isinstance(r, Ok)] == []
    labels = sorted(r.ok().label for r in results if isinstance(r, Ok))
    assert labels == sorted(f"{m} {p}" for m, p in contract_operations())


def test_security_scheme_is_bearer_jwt_on_the_cds_endpoints_only() -> None:
    document = openapi()
    scheme = document["components"]["securitySchemes"]["cdsClientJwt"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for method, path in contract_operations():
        security = document["paths"][path][method.lower()].get("security")
        if path.startswith("/cds-services"):
            assert security == [{"cdsClientJwt": []}], (method, path)
            assert "401" in document["paths"][path][method.lower()]["responses"]
        else:
            assert security == [], (method, path)


def test_error_responses_are_operation_outcomes() -> None:
    for name, response in openapi()["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OperationOutcome"}, name


def test_the_validator_is_not_vacuous() -> None:
    """The schemas used by every other contract test really reject bad documents."""
    card = {"summary": "x" * 140, "indicator": "hard-stop", "source": {"label": "s"}}
    assert schema_errors("Card", card)
    assert schema_errors("Card", {**card, "summary": "ok", "indicator": "info", "links": []})
    assert schema_errors("CdsResponse", {"cards": [], "systemActions": None})
    assert schema_errors(
        "Card",
        {
            "summary": "s",
            "indicator": "info",
            "source": {"label": "s"},
            "suggestions": [{"label": "a"}],
        },
    )  # no selectionBehavior
    assert schema_errors(
        "Action",
        {"type": "delete", "description": "d", "resource": {"resourceType": "MedicationRequest"}},
    )
    assert schema_errors(
        "Link", {"label": "l", "url": "https://x.org", "type": "absolute", "appContext": "c"}
    )
    assert schema_errors(
        "Card",
        {"summary": "s", "indicator": "info", "source": {"label": "s"}, "uuid": "not-a-uuid"},
    )
    two_recommended = [{"label": "a", "isRecommended": True}, {"label": "b", "isRecommended": True}]
    assert schema_errors(
        "Card",
        {
            "summary": "s",
            "indicator": "info",
            "source": {"label": "s"},
            "suggestions": two_recommended,
            "selectionBehavior": "at-most-one",
        },
    )
    assert not schema_errors(
        "Card",
        {
            "summary": "s",
            "indicator": "info",
            "source": {"label": "s"},
            "suggestions": two_recommended,
            "selectionBehavior": "any",
        },
    )


# ---------------------------------------------------------------- routes


def test_every_app_route_is_in_the_contract(app: FastAPI) -> None:
    served, unknown_mounts = app_operations(app)
    documented = {(m, normalize(p)) for m, p in contract_operations()}
    assert sorted(served - documented) == []
    assert unknown_mounts == []


def _route_params() -> Iterator[Any]:
    for method, path in contract_operations():
        key = (method, normalize(path))
        marks = []
        if key in PENDING_ROUTES:
            marks.append(pytest.mark.xfail(strict=True, reason=PENDING_ROUTES[key]))
        yield pytest.param(method, path, id=f"{method} {path}", marks=marks)


@pytest.mark.parametrize(("method", "path"), list(_route_params()))
def test_every_contract_operation_is_served(app: FastAPI, method: str, path: str) -> None:
    served, _ = app_operations(app)
    assert (method, normalize(path)) in served


def test_served_document_is_the_file(client: TestClient) -> None:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/yaml"
    assert response.content == OPENAPI_PATH.read_bytes()


# ---------------------------------------------------------------- models


# (component schema, pydantic model, members always on the wire though defaulted in the model)
MODELS: list[tuple[str, type[BaseModel], frozenset[str]]] = [
    ("Card", Card, frozenset()),
    ("Suggestion", Suggestion, frozenset()),
    ("Action", Action, frozenset()),
    ("Source", Source, frozenset()),
    ("Coding", Coding, frozenset()),
    ("FeedbackCoding", Coding, frozenset()),
    ("Link", Link, frozenset()),
    # C-1 and D-2/D-3: "cards" and "services" are always sent, [] included.
    ("CdsResponse", CdsResponse, frozenset({"cards"})),
    ("DiscoveryResponse", DiscoveryResponse, frozenset({"services"})),
    ("ServiceDescriptor", ServiceDescriptor, frozenset()),
    ("CdsRequest", CdsRequest, frozenset()),
    ("FhirAuthorization", FhirAuthorization, frozenset()),
    ("PatientViewContext", PatientViewContext, frozenset()),
    ("EncounterStartContext", EncounterStartContext, frozenset()),
    ("OrderSelectContext", OrderSelectContext, frozenset()),
    ("OrderSignContext", OrderSignContext, frozenset()),
    ("FeedbackItem", FeedbackItem, frozenset()),
    ("FeedbackRequest", FeedbackRequest, frozenset()),
    ("AcceptedSuggestion", AcceptedSuggestion, frozenset()),
    ("OverrideReason", OverrideReason, frozenset()),
]


def _wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _wire_required(model: type[BaseModel]) -> set[str]:
    return {
        field.alias or name for name, field in model.model_fields.items() if field.is_required()
    }


@pytest.mark.parametrize(("schema_name", "model", "always"), MODELS, ids=[m[0] for m in MODELS])
def test_component_members_match_the_model(
    schema_name: str, model: type[BaseModel], always: frozenset[str]
) -> None:
    schema = component(schema_name)
    assert set(schema.get("properties", {})) == _wire_names(model)
    assert set(schema.get("required", [])) == _wire_required(model) | always


def test_hook_request_covers_every_supported_hook_with_its_context_model() -> None:
    hook_request = component("HookRequest")
    mapping = hook_request["discriminator"]["mapping"]
    assert hook_request["discriminator"]["propertyName"] == "hook"
    assert set(mapping) == set(supported_hooks())
    assert sorted(ref["$ref"] for ref in hook_request["oneOf"]) == sorted(mapping.values())
    for hook, ref in mapping.items():
        request = component(ref.rsplit("/", 1)[1])
        assert request["allOf"][0] == {"$ref": "#/components/schemas/CdsRequest"}
        specific = request["allOf"][1]
        assert specific["properties"]["hook"] == {"const": hook}
        context_ref = specific["properties"]["context"]["$ref"]
        model = context_model_for(hook)
        assert model is not None
        assert context_ref == f"#/components/schemas/{model.__name__}"


def _literal_values(annotation: Any) -> set[str]:
    values: set[str] = set()
    for arg in typing.get_args(annotation):
        if isinstance(arg, str):
            values.add(arg)
        else:
            values |= _literal_values(arg)
    return values


ENUMS = [
    ("Card", "indicator", Card, "indicator"),
    ("Card", "selectionBehavior", Card, "selection_behavior"),
    ("Action", "type", Action, "type"),
    ("Link", "type", Link, "type"),
    ("FeedbackItem", "outcome", FeedbackItem, "outcome"),
]


@pytest.mark.parametrize(
    ("schema_name", "member", "model", "field"), ENUMS, ids=[f"{s}.{m}" for s, m, _, _ in ENUMS]
)
def test_enum_matches_the_model(
    schema_name: str, member: str, model: type[BaseModel], field: str
) -> None:
    documented = component(schema_name)["properties"][member]["enum"]
    assert set(documented) == _literal_values(model.model_fields[field].annotation)
    assert len(documented) == len(set(documented))


def test_indicators_are_listed_in_increasing_urgency() -> None:
    documented = component("Card")["properties"]["indicator"]["enum"]
    assert documented == sorted(INDICATOR_RANK, key=INDICATOR_RANK.__getitem__)


def _model_property(model: type[BaseModel], member: str) -> dict[str, Any]:
    prop = model.model_json_schema(by_alias=True)["properties"][member]
    assert isinstance(prop, dict)
    # An optional member is anyOf [constraints, null] in pydantic's schema; null is never sent.
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return {**prop, **branches[0]}
    return prop


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return component(ref.rsplit("/", 1)[1]) if isinstance(ref, str) else schema


CONSTRAINTS = [
    # (schema, member, model, keyword)
    ("Card", "summary", Card, "maxLength"),
    ("Card", "summary", Card, "minLength"),
    ("CdsRequest", "fhirServer", CdsRequest, "pattern"),
    ("CdsRequest", "hook", CdsRequest, "minLength"),
    ("FhirAuthorization", "access_token", FhirAuthorization, "minLength"),
    ("FhirAuthorization", "expires_in", FhirAuthorization, "minimum"),
    ("PatientViewContext", "userId", PatientViewContext, "pattern"),
    ("PatientViewContext", "patientId", PatientViewContext, "pattern"),
    ("EncounterStartContext", "encounterId", EncounterStartContext, "pattern"),
    ("OrderSelectContext", "selections", OrderSelectContext, "minItems"),
    ("FeedbackRequest", "feedback", FeedbackRequest, "minItems"),
    ("FeedbackItem", "card", FeedbackItem, "minLength"),
    ("AcceptedSuggestion", "id", AcceptedSuggestion, "minLength"),
    ("ServiceDescriptor", "id", ServiceDescriptor, "minLength"),
    ("ServiceDescriptor", "description", ServiceDescriptor, "minLength"),
    ("Source", "label", Source, "minLength"),
    ("Link", "url", Link, "minLength"),
]


@pytest.mark.parametrize(
    ("schema_name", "member", "model", "keyword"),
    CONSTRAINTS,
    ids=[f"{s}.{m}.{k}" for s, m, _, k in CONSTRAINTS],
)
def test_constraint_matches_the_model(
    schema_name: str, member: str, model: type[BaseModel], keyword: str
) -> None:
    documented = _resolved(component(schema_name)["properties"][member])
    expected = _model_property(model, member)
    if keyword == "minLength" and member == "url":
        # A URL is "format: uri" on the wire, which implies a non-empty string.
        assert documented.get("format") == "uri"
        return
    assert documented[keyword] == expected[keyword]


def test_hook_instance_is_a_uuid_and_timestamps_are_date_times() -> None:
    assert component("CdsRequest")["properties"]["hookInstance"]["format"] == "uuid"
    assert component("FeedbackItem")["properties"]["outcomeTimestamp"]["format"] == "date-time"
    assert component("Card")["properties"]["uuid"]["format"] == "uuid"
    assert component("Suggestion")["properties"]["uuid"]["format"] == "uuid"


def test_context_requirements_follow_the_hook_library() -> None:
    """[LIB]: encounterId is REQUIRED for encounter-start only; order hooks need draftOrders."""
    assert "encounterId" not in component("PatientViewContext")["required"]
    assert "encounterId" in component("EncounterStartContext")["required"]
    assert {"selections", "draftOrders"} <= set(component("OrderSelectContext")["required"])
    assert "draftOrders" in component("OrderSignContext")["required"]
    assert component("CdsRequest")["dependentRequired"] == {"fhirAuthorization": ["fhirServer"]}
