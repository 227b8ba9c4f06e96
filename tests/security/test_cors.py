"""CORS for browser-based CDS clients (S-12): preflight needs no JWT and allows Authorization
and Content-Type; any origin in development, the configured origins in production."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.api.middleware import cors_policy
from cds_service.errors import ConfigurationError
from cds_service.settings import Settings
from tests.conftest import patient_view_request
from tests.security.conftest import MakeClient
from tests.security.kit import SERVICE_ID, TESTSERVER, Keys, bearer, token

SANDBOX = "https://sandbox.cds-hooks.org"
EHR_ORIGIN = "https://ehr.example.org"


def _preflight(client: TestClient, origin: str, method: str = "POST") -> httpx.Response:
    response: httpx.Response = client.options(
        f"/cds-services/{SERVICE_ID}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    return response


def _allowed(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(",")}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_development_preflight_allows_any_origin(client: TestClient, method: str) -> None:
    response = _preflight(client, SANDBOX, method)
    assert response.status_code == 200
    headers = response.headers
    assert headers["access-control-allow-origin"] == "*"
    assert {"authorization", "content-type"} <= _allowed(headers["access-control-allow-headers"])
    assert {"get", "post", "options"} <= _allowed(headers["access-control-allow-methods"])
    assert "access-control-allow-credentials" not in headers


def test_development_simple_request_gets_the_wildcard(client: TestClient) -> None:
    response = client.post(
        f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers={"Origin": SANDBOX}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_production_preflight_needs_no_jwt_for_an_allowed_origin(make_client: MakeClient) -> None:
    client = make_client(cors_origins=[EHR_ORIGIN])
    response = _preflight(client, EHR_ORIGIN)
    assert response.status_code == 200
    headers = response.headers
    assert headers["access-control-allow-origin"] == EHR_ORIGIN
    assert headers["access-control-allow-credentials"] == "true"
    assert {"authorization", "content-type"} <= _allowed(headers["access-control-allow-headers"])


def test_production_refuses_other_origins(make_client: MakeClient) -> None:
    client = make_client(cors_origins=[EHR_ORIGIN])
    response = _preflight(client, SANDBOX)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_production_without_origins_allows_no_cross_origin_call(make_client: MakeClient) -> None:
    client = make_client()
    response = _preflight(client, EHR_ORIGIN)
    assert "access-control-allow-origin" not in response.headers


def test_production_responses_carry_cors_headers_even_when_401(
    make_client: MakeClient, keys: Keys
) -> None:
    client = make_client(cors_origins=[EHR_ORIGIN])
    refused = client.get("/cds-services", headers={"Origin": EHR_ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == EHR_ORIGIN
    signed = bearer(token(keys.ec384, f"{TESTSERVER}/cds-services"))
    accepted = client.get("/cds-services", headers={"Origin": EHR_ORIGIN, **signed})
    assert accepted.status_code == 200
    assert accepted.headers["access-control-allow-origin"] == EHR_ORIGIN


def test_wildcard_origin_never_pairs_with_credentials(tmp_path: Path) -> None:
    settings = Settings(cors_origins=["*"], database_url=f"sqlite:///{tmp_path / 'db'}")
    assert cors_policy(settings) == (["*"], False)
    with TestClient(create_app(settings)) as client:
        headers = _preflight(client, SANDBOX).headers
    assert "access-control-allow-credentials" not in headers


def test_production_refuses_a_wildcard_origin(make_client: MakeClient) -> None:
    with pytest.raises(ConfigurationError, match="explicit origins"):
        make_client(cors_origins=["*"])
