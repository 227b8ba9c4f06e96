"""Fixtures: generated keys, a loopback JWKS server, production-mode apps with trusted clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.settings import Settings
from tests.security.kit import Clock, JwksServer, Keys, jwks_server, public_jwk, write_clients

MakeClient = Callable[..., TestClient]


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture
def jwks(keys: Keys) -> Iterator[JwksServer]:
    with jwks_server() as server:
        server.documents["/ehr/jwks.json"] = keys.ehr_jwks()
        server.documents["/ehr/jku.json"] = {"keys": [public_jwk(keys.ec384_rotated, "jku-key")]}
        server.documents["/attacker/jwks.json"] = {
            "keys": [public_jwk(keys.ec384_attacker, "ec-384")]
        }
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def secure_settings(tmp_path: Path, jwks: JwksServer, keys: Keys) -> Settings:
    return Settings(
        environment="production",
        clients_file=write_clients(tmp_path / "clients.toml", jwks, keys),
        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
    )


@pytest.fixture
def make_client(secure_settings: Settings, clock: Clock) -> Iterator[MakeClient]:
    """A production-mode app (trusted clients configured); settings overridable per test."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            settings = secure_settings.model_copy(update=overrides)
            app = create_app(settings, clock=clock)
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def secure(make_client: MakeClient) -> TestClient:
    client: TestClient = make_client()
    return client
