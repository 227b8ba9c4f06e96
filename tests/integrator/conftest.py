"""Shared pieces for the integrator tests: the service registry, a fixture builder, apps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from cds_service import fixture_kit as kit
from cds_service.api.app import create_app
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from tests.conftest import NOW


@pytest.fixture(scope="session")
def registry() -> ServiceRegistry:
    return ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)


def build(
    registry: ServiceRegistry,
    hook: str = "patient-view",
    as_of: datetime = NOW,
    **spec: Any,
) -> tuple[dict[str, Any], list[str]]:
    """A request made by the fixture builder."""
    declaration = kit.declaration_for(registry, hook, None)
    return kit.build_request(kit.PatientSpec(**spec), declaration, as_of)


def write_case(
    folder: Path,
    registry: ServiceRegistry,
    name: str,
    *,
    hook: str = "patient-view",
    as_of: datetime = NOW,
    expect: tuple[str, ...] = (),
    **spec: Any,
) -> Path:
    """A fixture folder written by the builder, as `cds-service fixtures new` does."""
    declaration = kit.declaration_for(registry, hook, None)
    request, _ = kit.build_request(kit.PatientSpec(**spec), declaration, as_of)
    cards = [kit.ExpectedCard.parse(e) for e in expect]
    document = kit.expect_document(declaration, as_of, f"{name} (test)", cards)
    kit.write_fixture(folder / name, request, document)
    return folder / name


def seizure_postpartum_spec() -> dict[str, Any]:
    """Seizure on postpartum day 5 with BP 150/95: possible eclampsia, R1 critical."""
    return {
        "patient_id": "pat-seizure",
        "postpartum_days": 5,
        "blood_pressure": (150, 95),
        "symptoms": [kit.SymptomSpec("seizure")],
    }


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[AppFactory]:
    """A development-mode app as `create_app` wires it (clinical engine), pinned clock."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}", **overrides)
        client = TestClient(create_app(settings, clock=lambda: NOW))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def production_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Production mode with one trusted client (inline public JWK), as deployments run."""
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig"})
    clients = tmp_path / "clients.toml"
    clients.write_text(
        "[[client]]\n"
        'iss = "https://ehr.example.org"\n'
        f"jwks = {json.dumps(json.dumps({'keys': [jwk]}))}\n",
        encoding="utf-8",
    )
    return Settings(
        environment="production",
        clients_file=clients,
        database_url=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        **overrides,
    )
