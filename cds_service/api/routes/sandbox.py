"""The integrator sandbox: a card preview page served by the app itself.

``GET /sandbox`` is a plain HTML/CSS/JS page (assets under ``/sandbox/static``, no CDN,
no build step). It lists the fixtures, lets a person edit the patient's key values,
posts the request to the REAL endpoint (``POST /cds-services/{id}``) and renders the
cards as an EHR does. Its helpers:

- ``GET /sandbox/fixtures``: fixtures, services and the builder's vocabulary;
- ``GET /sandbox/fixtures/{fixtureId}``: one fixture, its request date-shifted to the
  service clock's "now" (so fixtures stay relative to today), and its key values;
- ``POST /sandbox/compose``: apply the form's key values to a request (and re-target it
  at another service/hook); FHIR editing lives in :mod:`cds_service.fixture_kit`.

Everything here answers 404 unless ``Settings.sandbox_on`` (on in development, off in
production unless ``CDS_SANDBOX_ENABLED=true``). The page never sees patient data other
than the synthetic fixtures and what the person types.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from cds_service import fixture_kit
from cds_service.api.responses import JsonResponse
from cds_service.errors import InvalidRequest

if TYPE_CHECKING:
    from cds_service.api.app import AppState

STATIC_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "static"

# No inline script or style anywhere on the page: the CSP forbids them, so card text the
# service returns can never run as code even if rendering had a bug.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter()


def _sandbox(request: Request) -> AppState:
    state: AppState = request.app.state.cds
    if not state.settings.sandbox_on:
        raise HTTPException(404, "Not Found")
    return state


class _SandboxStatic:
    """The page's CSS/JS, 404 like the page itself when the sandbox is off."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC_DIR, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState = scope["app"].state.cds
        if scope["type"] != "http" or not state.settings.sandbox_on:
            raise HTTPException(404, "Not Found")
        await self.files(scope, receive, send)


router.mount("/sandbox/static", _SandboxStatic(), name="sandbox-static")


@router.get("/sandbox")
def sandbox_page(request: Request) -> Response:
    _sandbox(request)
    html = (STATIC_DIR / "index.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def _services(state: AppState) -> list[dict[str, Any]]:
    return [
        {"id": d.id, "hook": d.hook, "title": d.title, "prefetch": sorted(d.prefetch)}
        for d in sorted(state.registry.declarations.values(), key=lambda d: (d.id, d.hook))
    ]


@router.get("/sandbox/fixtures")
def sandbox_fixtures(request: Request) -> Response:
    state = _sandbox(request)
    fixtures, problems = fixture_kit.scan_fixtures(state.settings.fixtures_dir)
    listed = [
        {
            "id": f.id,
            "service": f.service,
            "hook": f.hook,
            "description": f.description,
            "asOf": f.expect.get("asOf"),
            "worst": f.worst_expected,
            "expected": f.expect.get("cards") or [],
        }
        for f in fixtures
    ]
    return JsonResponse(
        {
            "fixtures": listed,
            "problems": problems,
            "services": _services(state),
            "vocabulary": fixture_kit.vocabulary(),
            "now": fixture_kit.iso_instant(state.clock()),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/sandbox/fixtures/{fixture_id}")
def sandbox_fixture(fixture_id: str, request: Request) -> Response:
    state = _sandbox(request)
    try:
        fixture = fixture_kit.find_fixture(state.settings.fixtures_dir, fixture_id)
    except fixture_kit.FixtureError as exc:
        raise HTTPException(404, str(exc)) from exc
    now = state.clock()
    body = fixture_kit.shifted_request(fixture, now)
    return JsonResponse(
        {
            "id": fixture.id,
            "service": fixture.service,
            "hook": fixture.hook,
            "description": fixture.description,
            "asOf": fixture.expect.get("asOf"),
            "shiftedTo": fixture_kit.iso_instant(now),
            "expect": fixture.expect,
            "request": body,
            "keyValues": fixture_kit.extract_key_values(body, now).wire(),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/sandbox/compose")
async def sandbox_compose(request: Request) -> Response:
    """``{"request", "service", "hook", "keyValues"?}`` → ``{"request", "keyValues", "warnings"}``.

    Without ``keyValues`` the request is only re-targeted (hook, context, prefetch keys)
    and its key values read back: that is how the form follows raw JSON edits.
    """
    state = _sandbox(request)
    try:
        payload = await request.json()
    except ValueError as exc:
        raise InvalidRequest("the body must be JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("request"), dict):
        raise InvalidRequest("request: a CDS Hooks request object is required", field="request")
    body: dict[str, Any] = payload["request"]
    hook = payload.get("hook") or body.get("hook")
    service = payload.get("service")
    if not isinstance(hook, str) or not (service is None or isinstance(service, str)):
        raise InvalidRequest("hook and service must be strings", field="hook")
    now = state.clock()
    try:
        declaration = fixture_kit.declaration_for(state.registry, hook, service)
        edited = payload.get("keyValues")
        if edited is None:
            current = fixture_kit.extract_key_values(body, now)
        elif isinstance(edited, dict):
            current = fixture_kit.key_values_from_wire(edited)
        else:
            raise fixture_kit.FixtureError("keyValues must be an object")
        composed, warnings = fixture_kit.apply_key_values(body, current, declaration, now)
    except fixture_kit.FixtureError as exc:
        raise InvalidRequest(str(exc), field="keyValues") from exc
    return JsonResponse(
        {
            "request": composed,
            "keyValues": fixture_kit.extract_key_values(composed, now).wire(),
            "warnings": warnings,
        }
    )
