"""JWK Set fetching: cached, refetched on an unknown kid at most every refetch interval, key
rotation, and a failing key server (hits counted on the real loopback server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.auth import AuthFailure, InMemoryReplayStore, JwksCache, parse_jwks
from tests.conftest import NOW, patient_view_request
from tests.security.kit import (
    INLINE_ISS,
    SERVICE_ID,
    TESTSERVER,
    Clock,
    JwksServer,
    Keys,
    bearer,
    public_jwk,
    token,
)

SERVICE_URL = f"{TESTSERVER}/cds-services/{SERVICE_ID}"
JWKS_PATH = "/ehr/jwks.json"


def _call(client: TestClient, key: Any, kid: str = "ec-384", clock: Clock | None = None) -> int:
    issued = clock() if clock else NOW
    response = client.post(
        f"/cds-services/{SERVICE_ID}",
        json=patient_view_request(),
        headers=bearer(token(key, SERVICE_URL, kid=kid, now=issued)),
    )
    status: int = response.status_code
    return status


def test_jwks_is_fetched_once_and_cached(secure: TestClient, keys: Keys, jwks: JwksServer) -> None:
    for _ in range(5):
        assert _call(secure, keys.ec384) == 200
    assert jwks.hits[JWKS_PATH] == 1


def test_jwks_is_refetched_after_the_cache_expires(
    secure: TestClient, keys: Keys, jwks: JwksServer, clock: Clock
) -> None:
    assert _call(secure, keys.ec384, clock=clock) == 200
    clock.advance(299)
    assert _call(secure, keys.ec384, clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 1
    clock.advance(2)
    assert _call(secure, keys.ec384, clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 2


def test_unknown_kid_refetch_is_rate_limited(
    secure: TestClient, keys: Keys, jwks: JwksServer, clock: Clock
) -> None:
    assert _call(secure, keys.ec384, clock=clock) == 200
    # An unknown kid right after a fetch does not refetch: a flood of junk kids costs nothing.
    for _ in range(10):
        assert _call(secure, keys.ec384, kid="junk", clock=clock) == 401
    assert jwks.hits[JWKS_PATH] == 1
    clock.advance(30)
    assert _call(secure, keys.ec384, kid="junk", clock=clock) == 401
    assert jwks.hits[JWKS_PATH] == 2
    for _ in range(10):
        assert _call(secure, keys.ec384, kid="junk-2", clock=clock) == 401
    assert jwks.hits[JWKS_PATH] == 2


def test_key_rotation_new_kid_is_fetched_and_accepted(
    secure: TestClient, keys: Keys, jwks: JwksServer, clock: Clock
) -> None:
    assert _call(secure, keys.ec384, clock=clock) == 200
    jwks.documents[JWKS_PATH] = {"keys": [public_jwk(keys.ec384_rotated, "ec-384-2026")]}
    clock.advance(31)
    assert _call(secure, keys.ec384_rotated, kid="ec-384-2026", clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 2
    # The retired key is still cached until expiry but refused once the set is refreshed.
    clock.advance(300)
    assert _call(secure, keys.ec384, clock=clock) == 401
    assert _call(secure, keys.ec384_rotated, kid="ec-384-2026", clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 3


def test_failing_key_server_refuses_then_recovers(
    secure: TestClient, keys: Keys, jwks: JwksServer, clock: Clock
) -> None:
    jwks.status[JWKS_PATH] = 500
    assert _call(secure, keys.ec384, clock=clock) == 401
    assert _call(secure, keys.ec384, clock=clock) == 401
    assert jwks.hits[JWKS_PATH] == 1  # failures are rate-limited too
    del jwks.status[JWKS_PATH]
    clock.advance(30)
    assert _call(secure, keys.ec384, clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 2


def test_stale_keys_survive_a_failed_refresh(
    secure: TestClient, keys: Keys, jwks: JwksServer, clock: Clock
) -> None:
    assert _call(secure, keys.ec384, clock=clock) == 200
    jwks.status[JWKS_PATH] = 503
    clock.advance(301)
    assert _call(secure, keys.ec384, clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 2


def test_jwks_server_that_is_down(make_client: Any, keys: Keys, tmp_path: Any) -> None:
    # Port 9 on loopback: connection refused. A refused fetch is a 401, not a 500.
    clients = tmp_path / "down.toml"
    clients.write_text(
        '[[client]]\niss = "https://ehr.example.org"\njwks_url = "http://127.0.0.1:9/jwks"\n'
    )
    client = make_client(clients_file=clients)
    assert _call(client, keys.ec384) == 401


def test_concurrent_unknown_kids_share_one_fetch() -> None:
    calls: list[str] = []
    now = [1000.0]

    async def fetch(url: str) -> Any:
        calls.append(url)
        await asyncio.sleep(0)
        return {"keys": [{"kty": "EC", "kid": "a", "crv": "P-384", "x": "x", "y": "y"}]}

    cache = JwksCache(fetch=fetch, clock=lambda: now[0], cache_seconds=300, min_interval=30)

    async def scenario() -> list[tuple[dict[str, Any], ...]]:
        return await asyncio.gather(*(cache.keys_for("u", "a") for _ in range(20)))

    results = asyncio.run(scenario())
    assert calls == ["u"]
    assert all(len(found) == 1 for found in results)


def test_parse_jwks_ignores_private_and_kidless_keys() -> None:
    keys = parse_jwks(
        {
            "keys": [
                {"kty": "EC", "kid": "pub", "crv": "P-384", "x": "x", "y": "y"},
                {"kty": "EC", "kid": "priv", "crv": "P-384", "x": "x", "y": "y", "d": "secret"},
                {"kty": "RSA", "n": "n", "e": "AQAB"},
            ]
        }
    )
    assert set(keys) == {"pub"}


async def test_replay_store_forgets_after_expiry_and_fails_closed_when_full() -> None:
    store = InMemoryReplayStore(max_entries=2)
    assert await store.first_use("a", expires_at=100, now=0)
    assert not await store.first_use("a", expires_at=100, now=50)
    assert await store.first_use("b", expires_at=200, now=50)
    with pytest.raises(AuthFailure):
        await store.first_use("c", expires_at=200, now=60)
    assert await store.first_use("a", expires_at=300, now=100)  # "a" expired at 100
    assert len(store) == 2


def test_a_kid_rebound_to_another_key_verifies_only_with_the_new_key_after_refetch(
    secure: TestClient, keys: Keys, jwks: JwksServer, clock: Clock
) -> None:
    # Verification keys are built once per (kid, alg) and kept with the fetched set: a
    # refetched set must not reuse the key built from the previous document for the same kid.
    assert _call(secure, keys.ec384, clock=clock) == 200
    assert _call(secure, keys.ec384, clock=clock) == 200  # the key built on the first call
    jwks.documents[JWKS_PATH] = {"keys": [public_jwk(keys.ec384_rotated, "ec-384")]}
    clock.advance(301)  # cache expired: the next call refetches
    assert _call(secure, keys.ec384, clock=clock) == 401
    assert jwks.hits[JWKS_PATH] == 2
    assert _call(secure, keys.ec384_rotated, clock=clock) == 200
    assert jwks.hits[JWKS_PATH] == 2


async def test_verification_keys_are_built_once_per_fetched_set(keys: Keys) -> None:
    documents = [
        {"keys": [public_jwk(keys.ec384, "a")]},
        {"keys": [public_jwk(keys.ec384_rotated, "a")]},
    ]
    now = [1000.0]

    async def fetch(url: str) -> Any:
        return documents[0] if now[0] < 2000 else documents[1]

    cache = JwksCache(fetch=fetch, clock=lambda: now[0], cache_seconds=300, min_interval=30)
    first = (await cache.key_set("u", "a")).verification_key("a", "ES384")
    assert (await cache.key_set("u", "a")).verification_key("a", "ES384") is first
    now[0] = 2000.0  # expired: refetched, and the rotated key is built from the new document
    refreshed = (await cache.key_set("u", "a")).verification_key("a", "ES384")
    assert refreshed is not first
    assert refreshed.key.public_numbers() == keys.ec384_rotated.public_key().public_numbers()
    assert cache.fetches == 2
    with pytest.raises(AuthFailure, match="exactly one key"):
        (await cache.key_set("u", "a")).verification_key("a", "RS384")  # wrong type: refused
    with pytest.raises(AuthFailure, match="unknown kid"):
        (await cache.key_set("u", "a")).verification_key("b", "ES384")


def test_inline_keys_still_verify_and_refuse_another_key(secure: TestClient, keys: Keys) -> None:
    # The inline client's set is built once at start-up; repeated calls reuse its key.
    for _ in range(2):
        response = secure.post(
            f"/cds-services/{SERVICE_ID}",
            json=patient_view_request(),
            headers=bearer(
                token(keys.rsa_inline, SERVICE_URL, alg="RS384", kid="inline-rsa", iss=INLINE_ISS)
            ),
        )
        assert response.status_code == 200
    forged = token(keys.rsa, SERVICE_URL, alg="RS384", kid="inline-rsa", iss=INLINE_ISS)
    response = secure.post(
        f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=bearer(forged)
    )
    assert response.status_code == 401
