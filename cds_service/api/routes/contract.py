"""``GET /openapi.yaml``: the published contract, served as the file in the repository.

The document is written by hand (``openapi.yaml`` at the project root) and kept honest by
``tests/contract/test_openapi_drift.py``; FastAPI's generated schema is switched off.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from cds_service.errors import ConfigurationError
from cds_service.settings import PROJECT_ROOT

OPENAPI_PATH = PROJECT_ROOT / "openapi.yaml"
MEDIA_TYPE = "application/yaml"

router = APIRouter()


@cache
def _document(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the OpenAPI document {path.name}") from exc


@router.get("/openapi.yaml", include_in_schema=False)
async def openapi_document() -> Response:
    return Response(_document(OPENAPI_PATH), media_type=MEDIA_TYPE)
