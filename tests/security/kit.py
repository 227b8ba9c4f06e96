"""Test kit for caller authentication: keys made in the test, a real loopback JWKS server,
compact-JWS signing with full control over header and claims, a settable clock, servers."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key
from fastapi import FastAPI

from tests.conftest import NOW

EHR_ISS = "https://ehr.example.org"
INLINE_ISS = "https://inline.example.org"
TENANT_ISS = "https://tenant.example.org"
SERVICE_ID = "prenatal-cramps-convulsions"
OTHER_SERVICE_ID = "prenatal-visit"
TESTSERVER = "http://testserver"

Key = ec.EllipticCurvePrivateKey | RSAPrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Key, kid: str, **extra: Any) -> dict[str, Any]:
    algo = jwt.get_algorithm_by_name(
        "ES384" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS384"
    )
    jwk: dict[str, Any] = algo.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", **extra)
    return jwk


@dataclass(frozen=True)
class Keys:
    ec384: ec.EllipticCurvePrivateKey
    ec384_attacker: ec.EllipticCurvePrivateKey
    ec384_rotated: ec.EllipticCurvePrivateKey
    ec256: ec.EllipticCurvePrivateKey
    ec521: ec.EllipticCurvePrivateKey
    rsa: RSAPrivateKey
    rsa_inline: RSAPrivateKey
    rsa_weak: RSAPrivateKey  # 1024 bits: published, but below the minimum

    @classmethod
    def generate(cls) -> Keys:
        def rsa_key() -> RSAPrivateKey:
            return generate_private_key(public_exponent=65537, key_size=2048)

        return cls(
            ec384=ec.generate_private_key(ec.SECP384R1()),
            ec384_attacker=ec.generate_private_key(ec.SECP384R1()),
            ec384_rotated=ec.generate_private_key(ec.SECP384R1()),
            ec256=ec.generate_private_key(ec.SECP256R1()),
            ec521=ec.generate_private_key(ec.SECP521R1()),
            rsa=rsa_key(),
            rsa_inline=rsa_key(),
            rsa_weak=generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        )

    def ehr_jwks(self) -> dict[str, Any]:
        """The trusted EHR's published JWK Set (kid → algorithm it is used with)."""
        return {
            "keys": [
                public_jwk(self.ec384, "ec-384"),
                public_jwk(self.rsa, "rsa-1"),
                public_jwk(self.ec256, "ec-256"),
                public_jwk(self.ec521, "ec-521"),
                public_jwk(self.rsa_weak, "rsa-weak"),
            ]
        }


def sign(
    key: Key | bytes,
    *,
    alg: str = "ES384",
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    signing_alg: str | None = None,
) -> str:
    """Compact JWS over exactly the header and claims given (no defaults added by a library)."""
    head = b64url(json.dumps(header if header is not None else {"alg": alg}).encode())
    body = b64url(json.dumps(claims or {}).encode())
    signing_input = f"{head}.{body}".encode()
    algo = jwt.get_algorithm_by_name(signing_alg or alg)
    prepared = key if isinstance(key, bytes) else algo.prepare_key(key)
    return f"{head}.{body}.{b64url(algo.sign(signing_input, prepared))}"


def claims_for(
    aud: str | list[str], *, iss: str = EHR_ISS, now: datetime = NOW, **extra: Any
) -> dict[str, Any]:
    stamp = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "exp": stamp + 300,
        "iat": stamp,
        "jti": str(uuid.uuid4()),
    }
    claims.update(extra)
    return claims


def token(
    key: Key,
    aud: str | list[str],
    *,
    alg: str = "ES384",
    kid: str = "ec-384",
    iss: str = EHR_ISS,
    extra_header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid, **(extra_header or {})}
    return sign(key, alg=alg, header=header, claims=claims_for(aud, iss=iss, **claims))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class Clock:
    """The injected clock: starts at the tests' pinned NOW, moved explicitly."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class JwksServer:
    """A real HTTP server on loopback serving JSON documents by path (JWK Sets, FHIR
    resources), counting hits and recording the Authorization header it was sent."""

    documents: dict[str, Any] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    authorizations: list[str | None] = field(default_factory=list)
    base: str = ""

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]  # FHIR searches: one document per resource type
            state.hits[path] += 1
            state.authorizations.append(self.headers.get("Authorization"))
            status = state.status.get(path, 200 if path in state.documents else 404)
            body = json.dumps(state.documents.get(path, {})).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_clients(path: Path, server: JwksServer, keys: Keys) -> Path:
    """Three trusted clients: JWKS URL + jku allow-list, inline JWKS, tenant-restricted."""
    inline = json.dumps({"keys": [public_jwk(keys.rsa_inline, "inline-rsa")]})
    path.write_text(
        f"""
[[client]]
name = "EHR"
iss = "{EHR_ISS}"
jwks_url = "{server.url("/ehr/jwks.json")}"
jku_allow = ["{server.url("/ehr/jku.json")}"]

[[client]]
name = "Inline"
iss = "{INLINE_ISS}"
jwks = '{inline}'

[[client]]
name = "Tenant"
iss = "{TENANT_ISS}"
jwks_url = "{server.url("/ehr/jwks.json")}"
tenants = ["org-1"]
""",
        encoding="utf-8",
    )
    return path


@contextmanager
def live_server(app: FastAPI, **config: Any) -> Iterator[str]:
    """Run the app under a real uvicorn server on a loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
