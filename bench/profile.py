"""``python -m bench profile [--size N]``: where the time goes, with cProfile.

Two profiles at N resources (default 300): the engine path (the app's ``call_service`` +
``wire()``, as ``bench.engine`` times it) and the whole HTTP path in-process (the ASGI app
with production settings and JWT on, driven through ``httpx.ASGITransport``: middleware,
auth, parse, pipeline, store write, serialisation). Prints the top functions by own time
and by cumulative time.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from bench import charts
from bench.engine import pipeline
from bench.trust import Issuer, write_clients_file


def _print(profile: cProfile.Profile, title: str, calls: int, top: int = 30) -> None:
    for sort in ("tottime", "cumulative"):
        stream = io.StringIO()
        stats = pstats.Stats(profile, stream=stream)
        stats.sort_stats(sort).print_stats(top)
        print(f"\n===== {title}: {calls} calls, sorted by {sort} =====")
        print(stream.getvalue())


async def _engine(size: int, calls: int, workdir: Path) -> None:
    raw = charts.request_bytes(size, seed=size)
    async with pipeline(charts.FIXED_NOW, workdir) as call:
        for _ in range(5):
            await call(orjson.loads(raw))
        profile = cProfile.Profile()
        for _ in range(calls):
            body = orjson.loads(raw)
            profile.enable()
            await call(body)
            profile.disable()
    _print(profile, f"engine path at {size} resources", calls)


async def _http(size: int, calls: int, workdir: Path) -> None:
    issuer = Issuer.generate()
    base = "http://127.0.0.1:8080"
    clients = write_clients_file(workdir / "clients.toml", issuer)  # inline JWKS
    env = {
        "CDS_ENVIRONMENT": "production",
        "CDS_BASE_URL": base,
        "CDS_CLIENTS_FILE": str(clients),
        "CDS_DATABASE_URL": f"sqlite:///{workdir / 'profile.sqlite3'}",
        "CDS_SANDBOX_ENABLED": "false",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from cds_service.api.app import create_app

        app = create_app()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    path = f"/cds-services/{charts.SERVICE_ID}"
    body = charts.patient_view_request(size, seed=size, now=datetime.now(UTC))
    head, tail = charts.split_on_hook_instance(body)
    signer = issuer.signer()
    tokens = signer.many(base + path, calls + 5)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base) as client,
    ):
        profile = cProfile.Profile()
        for index, token in enumerate(tokens):
            raw = head + f"33333333-3333-4333-8333-{index:012d}".encode() + tail
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if index >= 5:
                profile.enable()
            response = await client.post(path, content=raw, headers=headers)
            if index >= 5:
                profile.disable()
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    _print(profile, f"HTTP path (in-process ASGI) at {size} resources", calls)


def main(size: int = 300, calls: int = 200) -> None:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cds-profile-")))
        asyncio.run(_engine(size, calls, workdir))
        asyncio.run(_http(size, calls, workdir))
