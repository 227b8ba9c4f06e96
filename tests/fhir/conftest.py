"""Fixtures for the FHIR fetch tests: the real FHIR R4 engine (session-scoped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server import engine as engine_module
from tests.fhir_server.engine import Engine

ENGINE_TOKEN = "engine-test-token"  # the loopback engine's expected bearer token (synthetic)


@pytest.fixture(scope="session")
def fhir_engine() -> Iterator[Engine]:
    """medplum's FHIR engine on 127.0.0.1, empty; skipped (failed in CI) without Node/npm ci."""
    reason = engine_module.unavailable_reason()
    if reason is not None:
        if engine_module.in_ci():
            pytest.fail(f"CI=true and the FHIR engine cannot run: {reason}")
        pytest.skip(reason)
    running = engine_module.start(ENGINE_TOKEN)
    try:
        yield running
    finally:
        running.stop()
