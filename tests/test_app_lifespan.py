"""Start-up tuning in the app's lifespan is undone at shutdown (see _GC_NOTE in api/app.py)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from cds_service.api.app import GC_GEN0_THRESHOLD, create_app
from cds_service.settings import Settings


def test_collector_thresholds_are_raised_while_serving_and_restored_after(
    settings: Settings,
) -> None:
    before = gc.get_threshold()
    assert before[0] != GC_GEN0_THRESHOLD
    with TestClient(create_app(settings)) as client:
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
        assert client.get("/healthz").status_code == 200
    assert gc.get_threshold() == before


def test_the_benchmark_baseline_mirrors_the_service_gc_tuning() -> None:
    """bench/baseline_app.py keeps its own copy (its process must not import the service)."""
    from bench import baseline_app

    assert baseline_app.GC_GEN0_THRESHOLD == GC_GEN0_THRESHOLD
