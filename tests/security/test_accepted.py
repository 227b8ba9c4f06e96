"""Valid caller tokens are accepted on discovery, service and feedback URLs (S-3…S-8)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.routing import Match

from tests.conftest import patient_view_request
from tests.security.conftest import MakeClient
from tests.security.kit import (
    EHR_ISS,
    INLINE_ISS,
    OTHER_SERVICE_ID,
    SERVICE_ID,
    TENANT_ISS,
    TESTSERVER,
    JwksServer,
    Keys,
    bearer,
    token,
)

SERVICE_URL = f"{TESTSERVER}/cds-services/{SERVICE_ID}"
FEEDBACK_PATH = f"/cds-services/{SERVICE_ID}/feedback"
SIGNERS = {
    "ES384": ("ec384", "ec-384"),
    "RS384": ("rsa", "rsa-1"),
    "ES256": ("ec256", "ec-256"),
    "RS256": ("rsa", "rsa-1"),
    "PS384": ("rsa", "rsa-1"),
}


def _signed(keys: Keys, alg: str, aud: str | list[str], **claims: Any) -> dict[str, str]:
    attr, kid = SIGNERS[alg]
    return bearer(token(getattr(keys, attr), aud, alg=alg, kid=kid, **claims))


def _has_feedback_route(client: TestClient) -> bool:
    scope = {"type": "http", "method": "POST", "path": FEEDBACK_PATH, "root_path": ""}
    return any(
        route.matches(scope)[0] is Match.FULL
        for route in client.app.routes  # type: ignore[attr-defined]
    )


def _reached_the_route(response: Any) -> bool:
    # Past authentication the feedback route answers for itself (stored, bad item, unknown card).
    return response.status_code in {200, 400, 404}


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_discovery_accepts_a_valid_token(secure: TestClient, keys: Keys, alg: str) -> None:
    response = secure.get("/cds-services", headers=_signed(keys, alg, f"{TESTSERVER}/cds-services"))
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} >= {SERVICE_ID, OTHER_SERVICE_ID}


@pytest.mark.parametrize("alg", sorted(SIGNERS))
def test_service_call_accepts_a_valid_token(secure: TestClient, keys: Keys, alg: str) -> None:
    response = secure.post(
        f"/cds-services/{SERVICE_ID}",
        json=patient_view_request(),
        headers=_signed(keys, alg, SERVICE_URL),
    )
    assert response.status_code == 200
    assert "cards" in response.json()


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
@pytest.mark.parametrize(
    "aud", [f"{SERVICE_URL}/feedback", SERVICE_URL], ids=["feedback", "service"]
)
def test_feedback_accepts_its_own_url_or_the_service_url(
    secure: TestClient, keys: Keys, alg: str, aud: str
) -> None:
    if not _has_feedback_route(secure):
        pytest.skip("feedback route not registered")
    body: dict[str, Any] = {"feedback": []}
    assert secure.post(FEEDBACK_PATH, json=body).status_code == 401
    response = secure.post(FEEDBACK_PATH, json=body, headers=_signed(keys, alg, aud))
    assert _reached_the_route(response), response.text


def test_feedback_refuses_the_url_of_another_service(secure: TestClient, keys: Keys) -> None:
    if not _has_feedback_route(secure):
        pytest.skip("feedback route not registered")
    other = f"{TESTSERVER}/cds-services/{OTHER_SERVICE_ID}"
    response = secure.post(
        FEEDBACK_PATH, json={"feedback": []}, headers=_signed(keys, "ES384", other)
    )
    assert response.status_code == 401


def test_aud_array_form_is_accepted(secure: TestClient, keys: Keys) -> None:
    aud = ["https://elsewhere.example.org/cds-services/x", SERVICE_URL]
    response = secure.post(
        f"/cds-services/{SERVICE_ID}",
        json=patient_view_request(),
        headers=_signed(keys, "ES384", aud),
    )
    assert response.status_code == 200
    single = [f"{TESTSERVER}/cds-services"]
    assert secure.get("/cds-services", headers=_signed(keys, "RS384", single)).status_code == 200


def test_inline_jwks_client_needs_no_fetch(
    secure: TestClient, keys: Keys, jwks: JwksServer
) -> None:
    headers = bearer(
        token(keys.rsa_inline, SERVICE_URL, alg="RS384", kid="inline-rsa", iss=INLINE_ISS)
    )
    response = secure.post(
        f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=headers
    )
    assert response.status_code == 200
    assert sum(jwks.hits.values()) == 0


def test_allow_listed_jku_is_fetched_and_used(
    secure: TestClient, keys: Keys, jwks: JwksServer
) -> None:
    jku = jwks.url("/ehr/jku.json")
    headers = bearer(
        token(keys.ec384_rotated, SERVICE_URL, kid="jku-key", extra_header={"jku": jku})
    )
    response = secure.post(
        f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=headers
    )
    assert response.status_code == 200
    assert jwks.hits == {"/ehr/jku.json": 1}


def test_allowed_tenant_is_accepted(secure: TestClient, keys: Keys) -> None:
    headers = bearer(token(keys.ec384, SERVICE_URL, iss=TENANT_ISS, tenant="org-1"))
    response = secure.post(
        f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=headers
    )
    assert response.status_code == 200


def test_tenant_is_optional_when_the_client_names_none(secure: TestClient, keys: Keys) -> None:
    headers = bearer(token(keys.ec384, SERVICE_URL, iss=EHR_ISS, tenant="any-org"))
    response = secure.post(
        f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=headers
    )
    assert response.status_code == 200


def test_behind_a_proxy_aud_is_the_public_base_url(make_client: MakeClient, keys: Keys) -> None:
    client = make_client(base_url="https://cds.example.org/prenatal/")
    public = "https://cds.example.org/prenatal/cds-services"
    assert client.get("/cds-services", headers=_signed(keys, "ES384", public)).status_code == 200
    response = client.post(
        f"/cds-services/{SERVICE_ID}",
        json=patient_view_request(),
        headers=_signed(keys, "RS384", f"{public}/{SERVICE_ID}"),
    )
    assert response.status_code == 200
    # The internal URL the request arrived on is not the audience any more.
    internal = f"{TESTSERVER}/cds-services"
    assert client.get("/cds-services", headers=_signed(keys, "ES384", internal)).status_code == 401


def test_without_base_url_aud_follows_the_request_url_and_root_path(
    make_client: MakeClient, keys: Keys
) -> None:
    client = make_client()
    mounted = TestClient(client.app, root_path="/mounted")
    aud = f"{TESTSERVER}/mounted/cds-services"
    assert mounted.get("/cds-services", headers=_signed(keys, "ES384", aud)).status_code == 200
    plain = f"{TESTSERVER}/cds-services"
    assert mounted.get("/cds-services", headers=_signed(keys, "ES384", plain)).status_code == 401


def test_open_endpoints_need_no_token(secure: TestClient) -> None:
    assert secure.get("/healthz").status_code == 200
    assert secure.get("/readyz").status_code in (200, 503)
    assert secure.get("/cds-services").status_code == 401


def test_routes_see_the_verified_caller(make_client: MakeClient, keys: Keys) -> None:
    client = make_client()

    @client.app.get("/cds-services/whoami/caller")  # type: ignore[attr-defined, untyped-decorator]
    async def whoami(request: Request) -> dict[str, Any]:
        caller = request.state.caller
        return {"iss": caller.iss, "client": caller.client, "tenant": caller.tenant}

    aud = f"{TESTSERVER}/cds-services/whoami/caller"
    headers = bearer(token(keys.ec384, aud, iss=TENANT_ISS, tenant="org-1"))
    response = client.get("/cds-services/whoami/caller", headers=headers)
    assert response.json() == {"iss": TENANT_ISS, "client": "Tenant", "tenant": "org-1"}
