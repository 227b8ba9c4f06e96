"""Shared test fixtures: an app on embedded defaults, a pinned clock, request builders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: NOW)) as c:
        yield c


def patient_view_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": "pat-1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "pat-1", "gender": "female"},
            "pregnancy": None,
            "vitals": None,
            "labs": None,
            "findings": None,
            "conditions": None,
            "medications": None,
            "deliveries": None,
            "orders": None,
        },
    }
    body.update(overrides)
    return body
