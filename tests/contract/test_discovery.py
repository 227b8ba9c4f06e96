"""Discovery per CDS Hooks §1 and prefetch templates per R-12…R-15 (issue 2 items 1 and 3).

Also the declaration rules behind it: the same id may serve several hooks (a call dispatches
on ``hook``, D-5) and a duplicate (id, hook) refuses to start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.errors import ConfigurationError
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from tests.conftest import NOW
from tests.contract.support import (
    CapturingAdvisor,
    RecordingResolver,
    component,
    schema_errors,
    valid_request,
)

TOKEN = re.compile(r"\{\{(.*?)\}\}")
USER_TOKENS = {
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
}
# [LIB] context fields that are prefetch tokens, and which of them are REQUIRED, per hook.
TOKEN_FIELDS = {"userId", "patientId", "encounterId"}
REQUIRED_TOKEN_FIELDS = {
    "patient-view": {"userId", "patientId"},
    "encounter-start": {"userId", "patientId", "encounterId"},
    "order-select": {"userId", "patientId"},
    "order-sign": {"userId", "patientId"},
}
# R-14's query subset, plus _include (the spec's own user example uses it) and _id.
CONTROL_PARAMETERS = {"_count", "_sort", "_include", "_id"}
DATE_PREFIXES = ("eq", "lt", "gt", "ge", "le")


@pytest.fixture
def advisor() -> CapturingAdvisor:
    return CapturingAdvisor()


@pytest.fixture
def app_client(settings: Settings, advisor: CapturingAdvisor) -> Iterator[TestClient]:
    app = create_app(settings, advisor=advisor, resolver=RecordingResolver(), clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def discovery(app_client: TestClient) -> list[dict[str, Any]]:
    response = app_client.get("/cds-services")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    services = response.json()["services"]
    assert isinstance(services, list)
    return services


def test_discovery_conforms_to_the_contract(app_client: TestClient) -> None:
    assert schema_errors("DiscoveryResponse", app_client.get("/cds-services").json()) == []


def test_every_service_has_hook_description_id_and_title(discovery: list[dict[str, Any]]) -> None:
    for service in discovery:
        for member in ("hook", "description", "id", "title"):
            assert isinstance(service.get(member), str) and service[member].strip(), (
                service,
                member,
            )
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", service["id"])


def test_services_are_sorted_and_unique(discovery: list[dict[str, Any]]) -> None:
    keys = [(s["id"], s["hook"]) for s in discovery]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))


def test_four_hooks_are_served(discovery: list[dict[str, Any]]) -> None:
    hooks = {s["hook"] for s in discovery}
    assert hooks == {"patient-view", "encounter-start", "order-select", "order-sign"}
    assert set(component("HookRequest")["discriminator"]["mapping"]) == hooks


def _templates(discovery: list[dict[str, Any]]) -> Iterator[tuple[str, str, str, str]]:
    for service in discovery:
        for key, template in (service.get("prefetch") or {}).items():
            yield service["id"], service["hook"], key, template


def test_prefetch_tokens_are_cds_hooks_2_0_tokens(discovery: list[dict[str, Any]]) -> None:
    """R-12/R-13: a root-level context field of the hook, or one of the four user tokens."""
    for service_id, hook, key, template in _templates(discovery):
        for token in TOKEN.findall(template):
            where = f"{service_id}/{hook} prefetch.{key}: {{{{{token}}}}}"
            assert token == token.strip(), where
            if token in USER_TOKENS:
                continue
            head, _, field = token.partition(".")
            assert head == "context" and field in TOKEN_FIELDS, where
            # an OPTIONAL field may be absent, and the key then cannot be filled.
            assert field in REQUIRED_TOKEN_FIELDS[hook], where


def test_prefetch_templates_use_no_fhirpath(discovery: list[dict[str, Any]]) -> None:
    """R-16 is a 3.0 ballot feature: no functions, no %variables, no nested paths, no math."""
    for service_id, hook, key, template in _templates(discovery):
        for token in TOKEN.findall(template):
            assert not re.search(r"[()%|+\s]|\.\w+\.", token), f"{service_id}/{hook} {key}"
        assert "${" not in template, f"{service_id}/{hook} {key}: unexpanded code set"


def test_prefetch_templates_have_no_known_misreadings(discovery: list[dict[str, Any]]) -> None:
    """`_sort=-date`, never the spec example's `sort:desc=date`; never `X/{{context.userId}}`."""
    for service_id, hook, key, template in _templates(discovery):
        where = f"{service_id}/{hook} prefetch.{key}: {template}"
        assert "sort:desc" not in template, where
        assert not re.search(r"(?<![_\w])sort[:=]", template), where
        assert not re.search(r"/\{\{\s*context\.userId", template), where


def test_prefetch_templates_are_relative_fhir_reads_or_searches(
    discovery: list[dict[str, Any]],
) -> None:
    """R-14: instance reads and type searches with equality tokens (``:in`` at most),
    references, prefixed dates, ``_count`` and ``_sort``."""
    for service_id, hook, key, template in _templates(discovery):
        where = f"{service_id}/{hook} prefetch.{key}: {template}"
        if template == "{{context.userId}}":
            continue
        read = re.fullmatch(r"[A-Z][A-Za-z]+/\{\{[A-Za-z.]+\}\}", template)
        search = re.fullmatch(r"([A-Z][A-Za-z]+)\?(.+)", template)
        assert read or search, where
        if not search:
            continue
        for name, value in parse_qsl(search.group(2), keep_blank_values=True, strict_parsing=True):
            assert value, where
            parameter, _, modifier = name.partition(":")
            if parameter.startswith("_"):
                assert parameter in CONTROL_PARAMETERS and not modifier, where
                if parameter == "_count":
                    assert value.isdigit(), where
                if parameter == "_sort":
                    assert re.fullmatch(r"-?[a-z][a-z-]*(,-?[a-z][a-z-]*)*", value), where
                continue
            assert modifier in ("", "in"), where
            if (
                parameter in ("date", "authored", "onset-date", "recorded-date")
                and value[:2].isalpha()
            ):
                assert value.startswith(DATE_PREFIXES), where


def test_prefetch_keys_are_stable_names(discovery: list[dict[str, Any]]) -> None:
    for service_id, hook, key, _ in _templates(discovery):
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key), f"{service_id}/{hook}: {key!r}"


def test_same_id_serving_two_hooks_dispatches_on_hook(
    discovery: list[dict[str, Any]], app_client: TestClient, advisor: CapturingAdvisor
) -> None:
    by_id: dict[str, set[str]] = {}
    for service in discovery:
        by_id.setdefault(service["id"], set()).add(service["hook"])
    shared = {sid: hooks for sid, hooks in by_id.items() if len(hooks) > 1}
    assert shared, "no service id serves two hooks"
    for service_id, hooks in shared.items():
        for hook in sorted(hooks):
            response = app_client.post(
                f"/cds-services/{service_id}", json=valid_request(service_id, hook)
            )
            assert response.status_code == 200, response.text
            assert (advisor.evaluations[-1].service_id, advisor.evaluations[-1].hook) == (
                service_id,
                hook,
            )
        other = next(
            h for h in ("patient-view", "encounter-start", "order-select") if h not in hooks
        )
        body = valid_request(service_id, sorted(hooks)[0])
        body["hook"] = other
        response = app_client.post(f"/cds-services/{service_id}", json=body)
        assert response.status_code == 400
        assert response.json()["issue"][0]["expression"] == ["hook"]


SERVICE_TOML = """
[service]
id = "{id}"
hook = "{hook}"
title = "Test service"
description = "A service declared by a test."

[service.prefetch]
patient = "{template}"
"""


def _declare(
    directory: Path,
    name: str,
    service_id: str,
    hook: str,
    template: str = "Patient/{{context.patientId}}",
) -> None:
    directory.mkdir(exist_ok=True)
    text = SERVICE_TOML.format(id=service_id, hook=hook, template=template)
    (directory / f"{name}.toml").write_text(text, encoding="utf-8")


def test_duplicate_id_and_hook_refuses_to_start(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    _declare(hooks, "a", "twin", "patient-view")
    _declare(hooks, "b", "twin", "patient-view")
    with pytest.raises(ConfigurationError, match="duplicate service 'twin'"):
        ServiceRegistry.from_directory(hooks)
    settings = Settings(hooks_dir=hooks, database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with pytest.raises(ConfigurationError):
        create_app(settings)


def test_same_id_for_two_hooks_starts_and_lists_both(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    _declare(hooks, "a", "twin", "order-select")
    _declare(hooks, "b", "twin", "order-sign")
    settings = Settings(hooks_dir=hooks, database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with TestClient(create_app(settings)) as client:
        services = client.get("/cds-services").json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("twin", "order-select"),
        ("twin", "order-sign"),
    ]


@pytest.mark.parametrize(
    "template",
    [
        "Observation?patient={{context.draftOrders.entry.resource.id}}",
        "Observation?date=gt{{today() - 90 days}}&patient={{context.patientId}}",
        "Practitioner?_id={{%practitionerRoles.entry.resource.id}}",
        "Observation?patient={{Patient.id}}",
    ],
)
def test_a_template_with_a_non_2_0_token_refuses_to_start(tmp_path: Path, template: str) -> None:
    hooks = tmp_path / "hooks"
    _declare(hooks, "a", "svc", "order-sign", template)
    with pytest.raises(ConfigurationError, match=r"not a CDS Hooks 2\.0 token"):
        ServiceRegistry.from_directory(hooks)
