"""Start and stop the real FHIR R4 engine (``server.mjs``: medplum fhir-router, in memory).

Used by the ``fhir_engine`` session fixture. Outside CI a missing Node.js or ``node_modules``
skips the engine tests with a reason; in CI (``CI=true``) it fails them instead.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).resolve().parent / "server.mjs"
ROUTER_PACKAGE = ROOT / "node_modules" / "@medplum" / "fhir-router" / "package.json"
STARTUP_SECONDS = 30.0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable_reason() -> str | None:
    """Why the engine cannot start here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "Node.js is not on PATH (the FHIR engine tests need Node 20+)"
    if not ROUTER_PACKAGE.is_file():
        return "node_modules/@medplum/fhir-router is missing: run `npm ci` at the repo root"
    return None


@dataclass
class Engine:
    """A running engine: ``base`` is its FHIR base URL (with a ``/fhir/R4`` path prefix)."""

    process: subprocess.Popen[str]
    base: str
    port: int
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json"}

    def transaction(self, resources: list[dict[str, Any]]) -> dict[str, Any]:
        """PUT every resource (ids kept) in one transaction Bundle; returns the response."""
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in resources
            ],
        }
        response = httpx.post(self.base, json=bundle, headers=self.headers(), timeout=30)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        statuses = {e["response"]["status"] for e in body.get("entry", [])}
        if not statuses <= {"200", "201"}:
            raise RuntimeError(f"seeding failed: statuses {sorted(statuses)}")
        return body

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start(token: str) -> Engine:
    """Start ``server.mjs`` on 127.0.0.1 (port chosen by the OS) and wait for its banner."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("Node.js is not on PATH")
    process = subprocess.Popen(
        [node, str(SERVER), "--port", "0", "--base", "/fhir/R4", "--token", token],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        _, err = process.communicate(timeout=5)
        raise RuntimeError(f"the FHIR engine did not start: {err.strip()[-2000:]}")
    banner = json.loads(line)
    return Engine(process=process, base=banner["base"], port=int(banner["port"]), token=token)
