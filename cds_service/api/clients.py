"""Trusted CDS clients: who may call this service, and where their signing keys live.

The list comes from the TOML file named by ``CDS_CLIENTS_FILE`` (``Settings.clients_file``)::

    [[client]]
    name = "EHR production"
    iss = "https://ehr.example.org"
    jwks_url = "https://ehr.example.org/.well-known/jwks.json"
    jku_allow = ["https://ehr.example.org/keys/2026.json"]
    tenants = ["org-1"]

A client needs at least one key source: ``jwks_url``, an inline ``jwks`` (a table with
``keys``, or the JSON text of a JWK Set) or ``jku_allow`` (only these ``jku`` header URLs are ever
fetched: CDS Hooks S-7/S-8). An empty list of clients means development mode (no caller
authentication); ``check_deployment`` refuses that, and the public CDS Hooks Sandbox key, in
production.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cds_service.errors import ConfigurationError
from cds_service.settings import Settings

# The CDS Hooks Sandbox signs with ES384; its private key is published in its source code, so
# anyone can mint tokens for this issuer. Acceptable for local testing only.
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_HOST = "sandbox.cds-hooks.org"

_CLIENT_KEYS = frozenset({"name", "iss", "jwks_url", "jwks", "jku_allow", "tenants"})
# JWK members that only a private (or symmetric) key has: a JWK Set must never carry them.
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_TYPES = frozenset({"EC", "RSA"})


@dataclass(frozen=True, slots=True)
class TrustedClient:
    iss: str
    name: str
    jwks_url: str | None = None
    jwks: tuple[dict[str, Any], ...] | None = None
    jku_allow: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()

    @property
    def sandbox(self) -> bool:
        """True when this client trusts the CDS Hooks Sandbox issuer or its key URLs."""
        urls = [self.jwks_url, *self.jku_allow]
        return self.iss.rstrip("/") == SANDBOX_ISSUER or any(
            url is not None and (urlsplit(url).hostname or "") == SANDBOX_HOST for url in urls
        )


class TrustedClients(Mapping[str, TrustedClient]):
    """Clients by issuer. Empty = development mode."""

    def __init__(self, clients: tuple[TrustedClient, ...] = ()) -> None:
        self._by_iss: dict[str, TrustedClient] = {}
        for client in clients:
            if client.iss in self._by_iss:
                raise ConfigurationError(f"clients file: duplicate iss {client.iss!r}")
            self._by_iss[client.iss] = client

    def __getitem__(self, iss: str) -> TrustedClient:
        return self._by_iss[iss]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_iss)

    def __len__(self) -> int:
        return len(self._by_iss)

    @property
    def development(self) -> bool:
        """No trusted client configured: calls are accepted without authentication."""
        return not self._by_iss


def load_clients(path: Path | None) -> TrustedClients:
    """Read and validate the clients file; ``None`` (no file configured) → no clients."""
    if path is None:
        return TrustedClients()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"clients file {path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"clients file {path}: invalid TOML ({exc})") from exc
    unknown = set(data) - {"client"}
    if unknown:
        raise ConfigurationError(f"clients file {path}: unknown top-level keys {sorted(unknown)}")
    entries = data.get("client", [])
    if not isinstance(entries, list):
        raise ConfigurationError(f"clients file {path}: use [[client]] tables")
    return TrustedClients(tuple(_client(entry, i) for i, entry in enumerate(entries)))


def check_deployment(settings: Settings, clients: TrustedClients) -> None:
    """Refuse configurations that would expose PHI to unauthenticated or forgeable callers."""
    if settings.development:
        return
    if clients.development:
        raise ConfigurationError(
            "production needs trusted clients: set CDS_CLIENTS_FILE to a clients file "
            "with at least one [[client]] (see docs/security.md)"
        )
    for client in clients.values():
        if client.sandbox:
            raise ConfigurationError(
                f"client {client.name!r} trusts the CDS Hooks Sandbox, whose private key is "
                "public: never trust it outside development mode"
            )
    if settings.base_url is not None:
        _url(settings.base_url, "CDS_BASE_URL")
    if "*" in settings.cors_origins:
        raise ConfigurationError("production: CDS_CORS_ORIGINS must list explicit origins, not *")


def _client(entry: Any, index: int) -> TrustedClient:
    where = f"clients file: client #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: must be a table")
    unknown = set(entry) - _CLIENT_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}")
    iss = entry.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise ConfigurationError(f"{where}: iss is required (a non-empty string)")
    where = f"clients file: client {iss!r}"
    name = entry.get("name", iss)
    if not isinstance(name, str):
        raise ConfigurationError(f"{where}: name must be a string")
    jwks_url = entry.get("jwks_url")
    if jwks_url is not None:
        jwks_url = _url(jwks_url, f"{where}: jwks_url")
    jwks = _inline_jwks(entry["jwks"], where) if "jwks" in entry else None
    if jwks_url is not None and jwks is not None:
        raise ConfigurationError(f"{where}: give jwks_url or jwks, not both")
    jku_allow = tuple(_url(u, f"{where}: jku_allow") for u in _strings(entry, "jku_allow", where))
    tenants = _strings(entry, "tenants", where)
    if jwks_url is None and jwks is None and not jku_allow:
        raise ConfigurationError(f"{where}: needs a key source (jwks_url, jwks or jku_allow)")
    return TrustedClient(
        iss=iss, name=name, jwks_url=jwks_url, jwks=jwks, jku_allow=jku_allow, tenants=tenants
    )


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(value)


def _url(value: Any, where: str) -> str:
    """An absolute https URL; plain http only to a loopback host (local JWKS servers, tests)."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: must be a URL string")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return value
    raise ConfigurationError(f"{where}: {value!r} must be an https URL (http only on loopback)")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _inline_jwks(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: jwks is not valid JSON") from exc
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigurationError(f"{where}: jwks must be a JWK Set with a non-empty 'keys' list")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in _KEY_TYPES:
            raise ConfigurationError(f"{where}: every jwks key needs kty EC or RSA")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise ConfigurationError(f"{where}: every jwks key needs a kid")
        if PRIVATE_JWK_MEMBERS & set(key):
            raise ConfigurationError(
                f"{where}: jwks key {key['kid']!r} contains private key material; "
                "configure public keys only"
            )
    return tuple(dict(k) for k in keys)
