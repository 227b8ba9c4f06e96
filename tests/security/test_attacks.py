"""The attack matrix: every forged, stale, misdirected or malformed caller token gets the same
bare 401, and the service's own log says why (so a rejection is diagnosable, S-10)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from tests.conftest import NOW, patient_view_request
from tests.security.conftest import MakeClient
from tests.security.kit import (
    OTHER_SERVICE_ID,
    SERVICE_ID,
    TENANT_ISS,
    TESTSERVER,
    Clock,
    JwksServer,
    Keys,
    b64url,
    bearer,
    claims_for,
    sign,
    token,
)

SERVICE_AUD = f"{TESTSERVER}/cds-services/{SERVICE_ID}"
DISCOVERY_AUD = f"{TESTSERVER}/cds-services"
UNAUTHORIZED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "unauthorized"}],
}
STAMP = int(NOW.timestamp())


@dataclass
class Ctx:
    keys: Keys
    jwks: JwksServer
    client: TestClient
    clock: Clock

    def call(self, target: str, headers: dict[str, str]) -> Any:
        if target == "discovery":
            return self.client.get("/cds-services", headers=headers)
        return self.client.post(
            f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=headers
        )


@dataclass(frozen=True)
class Attack:
    name: str
    reason: str  # what the service logs (never what it answers)
    headers: Callable[[Ctx], dict[str, str]]
    target: str = "service"
    replay: bool = False  # send once successfully first, then the identical request again
    setup: Callable[[Ctx], None] | None = None
    check: Callable[[Ctx], None] | None = None


def _svc(ctx: Ctx, **kw: Any) -> dict[str, str]:
    return bearer(token(ctx.keys.ec384, SERVICE_AUD, **kw))


def _custom(
    ctx: Ctx,
    header: dict[str, Any],
    claims: dict[str, Any],
    key: Any = None,
    signing_alg: str = "ES384",
) -> dict[str, str]:
    return bearer(
        sign(key or ctx.keys.ec384, header=header, claims=claims, signing_alg=signing_alg)
    )


def _without(claim: str) -> Callable[[Ctx], dict[str, str]]:
    def build(ctx: Ctx) -> dict[str, str]:
        claims = claims_for(SERVICE_AUD)
        del claims[claim]
        return _custom(ctx, {"alg": "ES384", "typ": "JWT", "kid": "ec-384"}, claims)

    return build


def _alg_none(ctx: Ctx) -> dict[str, str]:
    head = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-384"}).encode())
    body = b64url(json.dumps(claims_for(SERVICE_AUD)).encode())
    return bearer(f"{head}.{body}.")


def _alg_none_signed(ctx: Ctx) -> dict[str, str]:
    head = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-384"}).encode())
    body = b64url(json.dumps(claims_for(SERVICE_AUD)).encode())
    return bearer(f"{head}.{body}.{b64url(b'x' * 32)}")


def _hs256_with_public_key(ctx: Ctx) -> dict[str, str]:
    # The classic alg confusion: HMAC keyed with the verifier's own public key (PEM).
    pem = ctx.keys.ec384.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-384"}).encode())
    body = b64url(json.dumps(claims_for(SERVICE_AUD)).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return bearer(f"{head}.{body}.{b64url(mac)}")


def _tampered(ctx: Ctx) -> dict[str, str]:
    head, _, sig = token(ctx.keys.ec384, SERVICE_AUD).split(".")
    forged = claims_for(SERVICE_AUD, role="admin")
    return bearer(f"{head}.{b64url(json.dumps(forged).encode())}.{sig}")


def _valid_call(ctx: Ctx) -> None:
    assert ctx.call("service", _svc(ctx)).status_code == 200
    ctx.clock.advance(31)  # past the refetch interval


def _refetched(ctx: Ctx) -> None:
    assert ctx.jwks.hits["/ehr/jwks.json"] == 2


def _attacker_not_fetched(ctx: Ctx) -> None:
    assert ctx.jwks.hits["/attacker/jwks.json"] == 0


ATTACKS = [
    Attack("no Authorization header (production mode)", "no Authorization header", lambda c: {}),
    Attack(
        "Basic scheme",
        "not a Bearer token",
        lambda c: {"Authorization": "Basic dXNlcjpwYXNz"},
    ),
    Attack("malformed token", "malformed token", lambda c: bearer("not-a-jwt")),
    Attack("garbage segments", "malformed token", lambda c: bearer("abc.def.ghi")),
    Attack(
        "oversized token",
        "oversized token",
        lambda c: _svc(c, pad="x" * 9000),
    ),
    Attack("alg none, empty signature", "malformed token", _alg_none),
    Attack("alg none with a signature", "alg not allowed", _alg_none_signed),
    Attack("HS256 signed with the public key", "alg not allowed", _hs256_with_public_key),
    Attack(
        "ES512: valid key, alg not on the allow-list",
        "alg not allowed",
        lambda c: bearer(token(c.keys.ec521, SERVICE_AUD, alg="ES512", kid="ec-521")),
    ),
    Attack(
        "wrong key (attacker's P-384 key, our kid)",
        "bad signature",
        lambda c: bearer(token(c.keys.ec384_attacker, SERVICE_AUD)),
    ),
    Attack(
        "RS384 header naming an EC key",
        "exactly one key for this alg",
        lambda c: bearer(token(c.keys.rsa, SERVICE_AUD, alg="RS384", kid="ec-384")),
    ),
    Attack(
        "ES256 header naming the P-384 key (curve mismatch)",
        "exactly one key for this alg",
        lambda c: _custom(
            c, {"alg": "ES256", "typ": "JWT", "kid": "ec-384"}, claims_for(SERVICE_AUD)
        ),
    ),
    Attack(
        "RSA key shorter than 2048 bits",
        "unusable key",
        lambda c: bearer(token(c.keys.rsa_weak, SERVICE_AUD, alg="RS384", kid="rsa-weak")),
    ),
    Attack("tampered payload", "bad signature", _tampered),
    Attack(
        "expired",
        "expired",
        lambda c: _svc(c, iat=STAMP - 600, exp=STAMP - 60),
    ),
    Attack(
        "not yet valid: iat in the future",
        "iat in the future",
        lambda c: _svc(c, iat=STAMP + 120, exp=STAMP + 400),
    ),
    Attack(
        "not yet valid: nbf in the future",
        "not yet valid (nbf)",
        lambda c: _svc(c, nbf=STAMP + 120),
    ),
    Attack(
        "lifetime above the maximum",
        "lifetime out of bounds",
        lambda c: _svc(c, exp=STAMP + 7200),
    ),
    Attack("exp not numeric", "not numeric", lambda c: _svc(c, exp="tomorrow")),
    Attack(
        "wrong aud (another host)",
        "aud does not name this endpoint",
        lambda c: bearer(
            token(c.keys.ec384, f"https://evil.example.org/cds-services/{SERVICE_ID}")
        ),
    ),
    Attack(
        "aud of another service",
        "aud does not name this endpoint",
        lambda c: bearer(token(c.keys.ec384, f"{TESTSERVER}/cds-services/{OTHER_SERVICE_ID}")),
    ),
    Attack(
        "discovery aud on a service call",
        "aud does not name this endpoint",
        lambda c: bearer(token(c.keys.ec384, DISCOVERY_AUD)),
    ),
    Attack(
        "service aud on discovery",
        "aud does not name this endpoint",
        lambda c: bearer(token(c.keys.ec384, SERVICE_AUD)),
        target="discovery",
    ),
    Attack(
        "unknown iss",
        "untrusted iss",
        lambda c: _svc(c, iss="https://evil.example.org"),
    ),
    Attack("missing iss", "missing claim iss", _without("iss")),
    Attack(
        "jku not on the allow-list (attacker-hosted key set)",
        "jku not on the client's allow-list",
        lambda c: bearer(
            token(
                c.keys.ec384_attacker,
                SERVICE_AUD,
                extra_header={"jku": c.jwks.url("/attacker/jwks.json")},
            )
        ),
        check=_attacker_not_fetched,
    ),
    Attack(
        "jku allow-listed for another client only",
        "jku not on the client's allow-list",
        lambda c: bearer(
            token(
                c.keys.ec384_rotated,
                SERVICE_AUD,
                iss=TENANT_ISS,
                kid="jku-key",
                tenant="org-1",
                extra_header={"jku": c.jwks.url("/ehr/jku.json")},
            )
        ),
    ),
    Attack("replayed jti", "replayed jti", lambda c: _svc(c), replay=True),
    Attack(
        "missing kid",
        "missing or invalid kid",
        lambda c: _custom(c, {"alg": "ES384", "typ": "JWT"}, claims_for(SERVICE_AUD)),
    ),
    Attack(
        "unknown kid after refetch",
        "unknown kid",
        lambda c: _svc(c, kid="ghost"),
        setup=_valid_call,
        check=_refetched,
    ),
    Attack(
        "key of another trusted client",
        "unknown kid",
        lambda c: bearer(token(c.keys.rsa_inline, SERVICE_AUD, alg="RS384", kid="inline-rsa")),
    ),
    Attack("missing jti", "missing claim jti", _without("jti")),
    Attack("missing exp", "missing claim exp", _without("exp")),
    Attack("missing iat", "missing claim iat", _without("iat")),
    Attack("missing aud", "missing claim aud", _without("aud")),
    Attack("jti not a string", "invalid token", lambda c: _svc(c, jti=12345)),
    Attack(
        "typ not JWT",
        "typ is not JWT",
        lambda c: bearer(token(c.keys.ec384, SERVICE_AUD, extra_header={"typ": "at+jwt"})),
    ),
    Attack(
        "typ missing",
        "typ is not JWT",
        lambda c: _custom(c, {"alg": "ES384", "kid": "ec-384"}, claims_for(SERVICE_AUD)),
    ),
    Attack(
        "crit header",
        "malformed token",  # PyJWT itself refuses unknown critical extensions
        lambda c: bearer(token(c.keys.ec384, SERVICE_AUD, extra_header={"crit": ["exp"]})),
    ),
    Attack(
        "tenant not allowed",
        "tenant not allowed",
        lambda c: bearer(token(c.keys.ec384, SERVICE_AUD, iss=TENANT_ISS, tenant="org-2")),
    ),
    Attack(
        "tenant missing where the client names tenants",
        "tenant not allowed",
        lambda c: bearer(token(c.keys.ec384, SERVICE_AUD, iss=TENANT_ISS)),
    ),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused_with_a_bare_401(
    attack: Attack,
    make_client: MakeClient,
    keys: Keys,
    jwks: JwksServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = Ctx(keys=keys, jwks=jwks, client=make_client(), clock=clock)
    if attack.setup:
        attack.setup(ctx)
    headers = attack.headers(ctx)
    if attack.replay:
        assert ctx.call(attack.target, headers).status_code == 200
    caplog.clear()
    caplog.set_level(logging.INFO, logger="cds_service.auth")

    response = ctx.call(attack.target, headers)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"
    reasons = [r.getMessage() for r in caplog.records if r.name == "cds_service.auth"]
    assert any(attack.reason in reason for reason in reasons), reasons
    if attack.check:
        attack.check(ctx)


def test_the_matrix_is_large_enough() -> None:
    assert len(ATTACKS) >= 12
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)


def test_leeway_accepts_small_clock_skew(secure: TestClient, keys: Keys, clock: Clock) -> None:
    # iat 20 s ahead of our clock and exp 20 s behind it are inside the 30 s leeway.
    ahead = bearer(token(keys.ec384, SERVICE_AUD, iat=STAMP + 20, exp=STAMP + 300))
    assert (
        secure.post(
            f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=ahead
        ).status_code
        == 200
    )
    clock.advance(320)
    behind = bearer(token(keys.ec384, SERVICE_AUD, iat=STAMP + 20, exp=STAMP + 300))
    assert (
        secure.post(
            f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=behind
        ).status_code
        == 200
    )
    clock.advance(20)
    late = bearer(token(keys.ec384, SERVICE_AUD, iat=STAMP + 20, exp=STAMP + 300))
    assert (
        secure.post(
            f"/cds-services/{SERVICE_ID}", json=patient_view_request(), headers=late
        ).status_code
        == 401
    )
