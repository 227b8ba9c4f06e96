"""A test CDS client identity: an ES384 key, its JWKS, signed tokens, the trusted-clients file.

The server under test runs in production mode, so every call must carry a fresh JWT (unique
``jti``, ``aud`` = the endpoint URL, ``exp`` = ``iat`` + 300 s as the CDS Hooks sandbox does).
Tokens are signed before the timed window so the load generator measures the server, not
its own signing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://bench-ehr.example.org"
KID = "bench-es384-1"
TENANT = "bench-tenant"


@dataclass(frozen=True)
class Issuer:
    iss: str
    kid: str
    private_pem: bytes

    @classmethod
    def generate(cls, iss: str = ISSUER, kid: str = KID) -> Issuer:
        key = ec.generate_private_key(ec.SECP384R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(iss=iss, kid=kid, private_pem=pem)

    def jwks(self) -> dict[str, Any]:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))  # type: ignore[arg-type]
        jwk |= {"kid": self.kid, "alg": "ES384", "use": "sig"}
        return {"keys": [jwk]}

    def signer(self) -> TokenSigner:
        return TokenSigner(self)


class TokenSigner:
    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.key = serialization.load_pem_private_key(issuer.private_pem, password=None)

    def sign(self, aud: str, lifetime: int = 300) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer.iss,
            "aud": aud,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            "tenant": TENANT,
        }
        headers = {"kid": self.issuer.kid, "typ": "JWT"}
        return jwt.encode(claims, self.key, algorithm="ES384", headers=headers)  # type: ignore[arg-type]

    def many(self, aud: str, count: int, lifetime: int = 300) -> list[str]:
        return [self.sign(aud, lifetime) for _ in range(count)]


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


def write_clients_file(path: Path, issuer: Issuer, jwks_url: str | None = None) -> Path:
    """The trusted-clients TOML (``CDS_CLIENTS_FILE``): the bench issuer, its keys inline.

    With ``jwks_url`` the keys are served by a loopback JWKS server instead.
    """
    lines = [
        "[[client]]",
        f"name = {_toml_str('benchmark load generator')}",
        f"iss = {_toml_str(issuer.iss)}",
        f"tenants = [{_toml_str(TENANT)}]",
    ]
    if jwks_url:
        lines.append(f"jwks_url = {_toml_str(jwks_url)}")
    else:
        lines.append(f"jwks = {_toml_str(json.dumps(issuer.jwks()))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def jwks_server(issuer: Issuer) -> Iterator[str]:
    """Serve the issuer's JWKS on loopback; yields its URL."""
    payload = json.dumps(issuer.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{int(server.server_address[1])}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
