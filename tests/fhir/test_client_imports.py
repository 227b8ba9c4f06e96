"""A FHIR fetch must not search the import path on every request.

httpcore asks ``import sniffio`` each time it creates a lock or a cancellation shield (several
times per request). anyio 4.16 no longer installs sniffio, and a failed import is not cached, so
without it every request walked ``sys.path`` several times: 9 concurrent searches on loopback
took 33 ms instead of 22 ms (``bench/RESULTS.md``, fetch path). sniffio is pinned for that; this
test catches the pin going away, or any other per-request import that finds nothing.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

import httpx2
import pytest

from cds_service.fhir.client import FhirClient
from tests.fhir.fault_server import PATIENT_ID, FaultServer


class _MissRecorder(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: reached only when no finder found the module."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        self.missed.append(fullname)
        return None


@pytest.fixture
def misses() -> Iterator[_MissRecorder]:
    recorder = _MissRecorder()
    sys.meta_path.append(recorder)
    try:
        yield recorder
    finally:
        sys.meta_path.remove(recorder)


QUERIES = {
    "patient": f"Patient/{PATIENT_ID}",
    "labs": f"Observation?patient={PATIENT_ID}&code=http://loinc.org|718-7",
    "conditions": f"Condition?patient={PATIENT_ID}",
}


async def _fetch_twice(base: str, recorder: _MissRecorder) -> list[str]:
    async with httpx2.AsyncClient() as http:
        client = FhirClient(http, base, request_timeout=5.0)
        first = await client.fetch_all(QUERIES, deadline=10.0)
        assert not first.gaps, first.gaps  # the fetch itself works
        recorder.missed.clear()  # first use may import lazily-loaded modules once
        second = await client.fetch_all(QUERIES, deadline=10.0)
        assert not second.gaps, second.gaps
        return list(recorder.missed)


def test_warm_fetches_import_nothing(misses: _MissRecorder) -> None:
    with FaultServer(delay=0.0) as server:
        missed = asyncio.run(_fetch_twice(server.base("ok"), misses))
    assert missed == [], f"modules looked up and not found on every request: {sorted(set(missed))}"


def test_the_recorder_sees_a_failed_import(misses: _MissRecorder) -> None:
    """The test above can fail: a module that does not exist reaches the recorder."""
    with pytest.raises(ImportError):
        __import__("cds_service_no_such_module_for_this_test")
    assert "cds_service_no_such_module_for_this_test" in misses.missed
