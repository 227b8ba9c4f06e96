"""Caller authentication: the CDS client's signed JWT on every discovery, service and feedback call.

Implements CDS Hooks 2.0 §5 (S-3…S-10) with PyJWT for the cryptography:

* ``Authorization: Bearer <JWT>``; tokens longer than ``jwt_max_token_bytes`` are refused before
  any parsing.
* Header: ``alg`` from an explicit asymmetric allow-list (never ``none``, never HMAC) and matching
  the key's type and curve; ``typ`` = ``JWT``; ``kid`` required; ``crit`` refused.
* ``iss`` must be a trusted client *before* any key is looked up; a ``jku`` header is honoured only
  if it is on that client's allow-list (never fetch an arbitrary URL: SSRF, self-signed keys).
* Claims ``iss``, ``aud``, ``exp``, ``iat``, ``jti`` required; ``aud`` (string or array) must name
  the URL being called; ``exp``/``iat``/``nbf`` checked against the injected clock with a small
  leeway; lifetimes above ``jwt_max_lifetime_seconds`` refused; ``tenant`` allow-listed when the
  client names tenants; ``jti`` single use (``ReplayStore``).
* JWK Sets are fetched with httpx2, cached for ``jwks_cache_seconds`` and refetched on an unknown
  ``kid`` at most every ``jwks_refetch_min_interval_seconds`` (key rotation without hammering).
  The verification key for a (kid, alg) is built once per fetched (or inline) set.

Every failure is the same ``AuthFailure``; the HTTP layer answers 401 without details. The reason
is logged with ``iss``/``kid``/``jti`` only. The token itself is never logged or stored.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx2
import jwt

from cds_service.api.clients import PRIVATE_JWK_MEMBERS, TrustedClient, TrustedClients
from cds_service.settings import Settings

log = logging.getLogger("cds_service.auth")

# alg → (kty, crv). Asymmetric only (S-9): ES384 and RS384 are the spec's recommendation (the
# Sandbox signs ES384, Epic RS384); ES256/RS256/PS384 are common too. Nothing else verifies.
ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "PS384": ("RSA", None),
}
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
CDS_SERVICES = "/cds-services"
MAX_JWKS_BYTES = 256 * 1024
MAX_ID_CHARS = 256
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_FEEDBACK_PATH = re.compile(r"/cds-services/([^/]+)/feedback")
_LOGGABLE = re.compile(r"[^\x21-\x7e]")


class AuthFailure(Exception):
    """Any reason to refuse a caller. ``reason`` is for the service's log, never the response."""

    def __init__(self, reason: str, *, level: int = logging.WARNING) -> None:
        super().__init__(reason)
        self.reason = reason
        self.level = level


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated CDS client (kept on ``request.state.caller``)."""

    iss: str
    client: str
    kid: str
    jti: str
    tenant: str | None


def is_protected(route_path: str) -> bool:
    """Discovery, service and feedback endpoints: everything under ``/cds-services``."""
    return route_path == CDS_SERVICES or route_path.startswith(CDS_SERVICES + "/")


def audiences(base_url: str, route_path: str) -> tuple[str, ...]:
    """The ``aud`` values accepted for a call (S-6).

    The URL being called (``{base}/cds-services`` for discovery, ``{base}/cds-services/{id}`` for
    a service). Feedback accepts its own URL and, because the spec leaves it open (F-5), the URL
    of the service the feedback is about.
    """
    base = base_url.rstrip("/")
    called = base + route_path
    feedback = _FEEDBACK_PATH.fullmatch(route_path)
    if feedback:
        return (called, f"{base}{CDS_SERVICES}/{feedback.group(1)}")
    return (called,)


# --- jti replay ---------------------------------------------------------------------------------


class ReplayStore(Protocol):
    """Remembers each ``jti`` until its token expires.

    The in-memory store is per process: with several workers, either route a client to one worker
    or plug in a shared store (e.g. Redis ``SET key 1 NX EXAT expires_at``) with this interface.
    """

    async def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; False if it is already recorded and unexpired."""
        ...


class InMemoryReplayStore:
    """A dict with expiry, bounded so that a flood cannot exhaust memory (fails closed if full)."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._max_entries = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    async def first_use(self, key: str, expires_at: float, now: float) -> bool:
        # No await between check and insert: atomic within the event loop.
        while self._heap and self._heap[0][0] <= now:
            expiry, old = heapq.heappop(self._heap)
            if self._expiry.get(old) == expiry:
                del self._expiry[old]
        if key in self._expiry:
            return False
        if len(self._expiry) >= self._max_entries:
            raise AuthFailure("replay store full", level=logging.ERROR)
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))
        return True


# --- JWK Sets -----------------------------------------------------------------------------------


class JwksFetchError(Exception):
    """The JWK Set could not be fetched or parsed (message safe to log)."""


JwksFetcher = Callable[[str], Awaitable[Any]]


class KeySet:
    """One JWK Set's public keys by ``kid``, and the verification keys already built from them.

    Building a ``PyJWK`` (decoding the coordinates, constructing the public key object) costs
    more than all of a token's other checks except the signature itself; it is done once per
    (kid, alg) and kept here. A refetched set is a new ``KeySet``, so nothing built from the
    previous document outlives it (a kid rebound to another key is never verified with the old
    one).
    """

    __slots__ = ("_parsed", "by_kid")

    def __init__(self, by_kid: dict[str, tuple[dict[str, Any], ...]]) -> None:
        self.by_kid = by_kid
        self._parsed: dict[tuple[str, str], jwt.PyJWK] = {}

    def get(self, kid: str) -> tuple[dict[str, Any], ...]:
        return self.by_kid.get(kid, ())

    def __contains__(self, kid: object) -> bool:
        return kid in self.by_kid

    def verification_key(self, kid: str, alg: str) -> jwt.PyJWK:
        """The one key ``kid`` names that fits ``alg``, or ``AuthFailure``."""
        parsed = self._parsed.get((kid, alg))
        if parsed is not None:
            return parsed
        candidates = self.by_kid.get(kid, ())
        if not candidates:
            raise AuthFailure("unknown kid")
        usable = [k for k in candidates if _fits(k, alg)]
        if len(usable) != 1:
            raise AuthFailure("kid does not name exactly one key for this alg")
        try:
            parsed = jwt.PyJWK(usable[0], algorithm=alg)
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"unusable key ({type(exc).__name__})") from exc
        self._parsed[(kid, alg)] = parsed
        return parsed


_NO_KEYS = KeySet({})


@dataclass(slots=True)
class _CachedSet:
    keys: KeySet
    fetched_at: float
    attempted_at: float


@dataclass(slots=True)
class JwksCache:
    """JWK Sets by URL: cached ``cache_seconds``; refetched (expiry or unknown ``kid``) at most
    every ``min_interval`` seconds per URL, including after a failed fetch."""

    fetch: JwksFetcher
    clock: Callable[[], float]
    cache_seconds: float
    min_interval: float
    fetches: int = 0
    _sets: dict[str, _CachedSet] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def keys_for(self, url: str, kid: str) -> tuple[dict[str, Any], ...]:
        return (await self.key_set(url, kid)).get(kid)

    async def key_set(self, url: str, kid: str) -> KeySet:
        """The set at ``url``, refetched first if stale or missing ``kid`` (rate-limited)."""
        cached = self._sets.get(url)
        now = self.clock()
        if self._wants_fetch(cached, kid, now):
            cached = await self._refresh(url, cached)
        return cached.keys if cached else _NO_KEYS

    def _wants_fetch(self, cached: _CachedSet | None, kid: str, now: float) -> bool:
        if cached is None:
            return True
        stale = now - cached.fetched_at >= self.cache_seconds or kid not in cached.keys
        return stale and now - cached.attempted_at >= self.min_interval

    async def _refresh(self, url: str, seen: _CachedSet | None) -> _CachedSet:
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            current = self._sets.get(url)
            if current is not seen and current is not None:
                return current  # refreshed by a concurrent call while this one waited
            now = self.clock()
            self.fetches += 1
            try:
                keys = KeySet(parse_jwks(await self.fetch(url)))
            except JwksFetchError as exc:
                log.warning("jwks fetch failed", extra={"jwks_url": url, "error": str(exc)})
                # Keep serving the last good keys (if any); retry after min_interval.
                kept = current.keys if current else _NO_KEYS
                fetched_at = current.fetched_at if current else -math.inf
                refreshed = _CachedSet(keys=kept, fetched_at=fetched_at, attempted_at=now)
            else:
                refreshed = _CachedSet(keys=keys, fetched_at=now, attempted_at=now)
            self._sets[url] = refreshed
            return refreshed


def parse_jwks(document: Any) -> dict[str, tuple[dict[str, Any], ...]]:
    """Public EC/RSA keys by ``kid``; keys without a kid, or carrying private parts, are ignored."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise JwksFetchError("not a JWK Set")
    by_kid: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            continue
        if PRIVATE_JWK_MEMBERS & set(key):
            log.warning(
                "jwks key with private material ignored", extra={"kid": _loggable(key["kid"])}
            )
            continue
        by_kid.setdefault(key["kid"], []).append(key)
    return {kid: tuple(found) for kid, found in by_kid.items()}


async def fetch_jwks(http: httpx2.AsyncClient, url: str, seconds: float) -> Any:
    """GET a JWK Set: no redirects, bounded time and size."""
    body = bytearray()
    try:
        async with http.stream(
            "GET",
            url,
            headers={"Accept": "application/json, application/jwk-set+json"},
            timeout=seconds,
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise JwksFetchError("JWK Set too large")
    except httpx2.HTTPError as exc:
        raise JwksFetchError(type(exc).__name__) from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise JwksFetchError("JWK Set is not JSON") from exc


# --- the verifier -------------------------------------------------------------------------------


class Authenticator:
    """Verifies callers against the trusted clients; disabled (development mode) without any."""

    def __init__(
        self,
        settings: Settings,
        clients: TrustedClients,
        *,
        clock: Callable[[], datetime],
        http: Callable[[], httpx2.AsyncClient | None] = lambda: None,
        replay: ReplayStore | None = None,
    ) -> None:
        self.clients = clients
        self.replay: ReplayStore = replay or InMemoryReplayStore()
        self._clock = clock
        self._http = http
        self._leeway = settings.jwt_leeway_seconds
        self._max_lifetime = settings.jwt_max_lifetime_seconds
        self._max_token = settings.jwt_max_token_bytes
        self._fetch_timeout = settings.jwks_fetch_timeout_seconds
        # Inline JWK Sets are configuration: one KeySet per client for the process's lifetime.
        self._inline = {
            client.iss: KeySet(_by_kid(client.jwks))
            for client in clients.values()
            if client.jwks is not None
        }
        self.jwks = JwksCache(
            fetch=self._fetch,
            clock=lambda: self._clock().timestamp(),
            cache_seconds=settings.jwks_cache_seconds,
            min_interval=settings.jwks_refetch_min_interval_seconds,
        )

    @property
    def enabled(self) -> bool:
        return not self.clients.development

    async def authenticate(self, authorization: str | None, accepted_aud: Sequence[str]) -> Caller:
        """The verified caller, or ``AuthFailure`` (logged here with iss/kid/jti only)."""
        seen: dict[str, str] = {}
        try:
            caller = await self._verify(authorization, accepted_aud, seen)
        except AuthFailure as failure:
            log.log(failure.level, "caller rejected: %s", failure.reason, extra=seen)
            raise
        log.debug("caller authenticated", extra=seen)
        return caller

    async def _verify(
        self, authorization: str | None, accepted_aud: Sequence[str], seen: dict[str, str]
    ) -> Caller:
        token = self._bearer(authorization)
        header, unverified = _unverified(token)
        self._check_header(header)
        alg, kid = header["alg"], header["kid"]
        seen["kid"] = _loggable(kid)
        # Read, not trusted: only to pick the client whose keys then verify the whole token.
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthFailure("missing claim iss")
        seen["iss"] = _loggable(iss)
        client = self.clients.get(iss)
        if client is None:
            raise AuthFailure("untrusted iss")
        key = await self._key(client, header, alg, kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=list(accepted_aud),
                issuer=client.iss,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    # Time claims are checked below against the injected clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_sub": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise AuthFailure("bad signature") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthFailure("aud does not name this endpoint") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthFailure(f"missing claim {exc.claim}") from exc
        except jwt.InvalidKeyError as exc:  # e.g. an RSA key below 2048 bits
            raise AuthFailure("unusable key (too weak)") from exc
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"invalid token ({type(exc).__name__})") from exc
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_ID_CHARS:
            raise AuthFailure("invalid jti")
        seen["jti"] = _loggable(jti)
        expires_at = self._check_times(claims)
        tenant = self._check_tenant(client, claims.get("tenant"))
        now = self._clock().timestamp()
        if not await self.replay.first_use(f"{client.iss}\n{jti}", expires_at + self._leeway, now):
            raise AuthFailure("replayed jti")
        return Caller(iss=client.iss, client=client.name, kid=kid, jti=jti, tenant=tenant)

    def _bearer(self, authorization: str | None) -> str:
        if not authorization:
            raise AuthFailure("no Authorization header", level=logging.INFO)
        if len(authorization) > self._max_token + 16:
            raise AuthFailure("oversized token")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthFailure("not a Bearer token", level=logging.INFO)
        if len(token.encode()) > self._max_token:
            raise AuthFailure("oversized token")
        if not _COMPACT_JWS.fullmatch(token):
            raise AuthFailure("malformed token")
        return token

    @staticmethod
    def _check_header(header: dict[str, Any]) -> None:
        if header.get("alg") not in ALGORITHMS:
            raise AuthFailure("alg not allowed")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise AuthFailure("typ is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_ID_CHARS:
            raise AuthFailure("missing or invalid kid")
        if "crit" in header:
            raise AuthFailure("unsupported crit header")
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthFailure("invalid jku")

    async def _key(
        self, client: TrustedClient, header: dict[str, Any], alg: str, kid: str
    ) -> jwt.PyJWK:
        jku = header.get("jku")
        keys: KeySet
        if jku is not None:
            if jku not in client.jku_allow:
                raise AuthFailure("jku not on the client's allow-list")
            keys = await self.jwks.key_set(jku, kid)
        elif client.jwks is not None:
            keys = self._inline[client.iss]
        elif client.jwks_url is not None:
            keys = await self.jwks.key_set(client.jwks_url, kid)
        else:
            raise AuthFailure("no jku and no configured JWK Set for this client")
        return keys.verification_key(kid, alg)

    def _check_times(self, claims: dict[str, Any]) -> float:
        now = self._clock().timestamp()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        if not _number(exp) or not _number(iat) or (nbf is not None and not _number(nbf)):
            raise AuthFailure("exp/iat/nbf not numeric")
        if now > exp + self._leeway:
            raise AuthFailure("expired", level=logging.INFO)
        if iat > now + self._leeway:
            raise AuthFailure("iat in the future")
        if nbf is not None and nbf > now + self._leeway:
            raise AuthFailure("not yet valid (nbf)")
        if exp <= iat or exp - iat > self._max_lifetime:
            raise AuthFailure("lifetime out of bounds")
        return float(exp)

    @staticmethod
    def _check_tenant(client: TrustedClient, tenant: Any) -> str | None:
        if tenant is not None and (not isinstance(tenant, str) or len(tenant) > MAX_ID_CHARS):
            raise AuthFailure("invalid tenant")
        if client.tenants and tenant not in client.tenants:
            raise AuthFailure("tenant not allowed")
        return tenant

    async def _fetch(self, url: str) -> Any:
        shared = self._http()
        if shared is not None:
            return await fetch_jwks(shared, url, self._fetch_timeout)
        async with httpx2.AsyncClient() as own:
            return await fetch_jwks(own, url, self._fetch_timeout)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, parsed but NOT verified (one parse for both), only to pick the key;
    ``jwt.decode`` then parses and verifies the whole token."""
    try:
        parts = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthFailure("malformed token") from exc
    header, payload = parts["header"], parts["payload"]
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise AuthFailure("malformed token")
    return header, payload


def _by_kid(keys: Sequence[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], ...]]:
    by_kid: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        kid = key.get("kid")
        if isinstance(kid, str):
            by_kid.setdefault(kid, []).append(key)
    return {kid: tuple(found) for kid, found in by_kid.items()}


def _fits(key: dict[str, Any], alg: str) -> bool:
    """The key's type (and curve) suit ``alg``, and the key does not restrict itself otherwise."""
    kty, crv = ALGORITHMS[alg]
    if key.get("kty") != kty or (crv is not None and key.get("crv") != crv):
        return False
    if key.get("alg") not in (None, alg) or key.get("use") not in (None, "sig"):
        return False
    ops = key.get("key_ops")
    return ops is None or (isinstance(ops, list) and "verify" in ops)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _loggable(value: Any) -> str:
    """Attacker-supplied header/claim values: printable ASCII only, truncated."""
    return _LOGGABLE.sub("?", str(value))[:80]
