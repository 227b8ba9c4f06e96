"""A full authenticated call, under a real uvicorn server with access logs on, leaves no caller
JWT, no FHIR access token and no patient name or identifier in any log record (S-10, R-4)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import pytest

from cds_service.api.app import create_app
from cds_service.settings import Settings
from tests.conftest import patient_view_request
from tests.security.kit import (
    SERVICE_ID,
    Clock,
    JwksServer,
    Keys,
    bearer,
    jwks_server,
    live_server,
    token,
)

ACCESS_TOKEN = "at-SECRET-5b8e0c91f2d4"
FAMILY = "Quarrington-Fairweather"
GIVEN = "Zenobia"
MRN = "MRN-88412395"
PATIENT = {
    "resourceType": "Patient",
    "id": "pat-1",
    "gender": "female",
    "birthDate": "1994-03-02",
    "name": [{"family": FAMILY, "given": [GIVEN], "text": f"{GIVEN} {FAMILY}"}],
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": MRN}],
}
EMPTY_BUNDLE = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


def _request(fhir_server: str, *, prefetch_patient: bool) -> dict[str, Any]:
    body = patient_view_request(
        fhirServer=fhir_server,
        fhirAuthorization={
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "prenatal-cds",
        },
    )
    if prefetch_patient:
        body["prefetch"]["patient"] = PATIENT
    else:
        # Absent keys are fetched from fhirServer with the access token.
        del body["prefetch"]["patient"]
        del body["prefetch"]["vitals"]
    return body


def _everything_logged(records: list[logging.LogRecord]) -> str:
    parts: list[str] = []
    for record in records:
        parts.append(record.getMessage())
        parts.extend(repr(value) for value in vars(record).values())
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


def test_no_secret_or_phi_in_any_log_record(
    secure_settings: Settings,
    keys: Keys,
    jwks: JwksServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(secure_settings, clock=clock)
    sent_jwts: list[str] = []
    with (
        jwks_server() as fhir,
        live_server(app, access_log=True, log_level="debug") as base,
        httpx.Client(base_url=base) as http,
    ):
        fhir.documents["/fhir/Patient/pat-1"] = PATIENT
        fhir.documents["/fhir/Observation"] = EMPTY_BUNDLE
        aud = f"{base}/cds-services/{SERVICE_ID}"

        def call(body: dict[str, Any], jwt: str) -> httpx.Response:
            sent_jwts.append(jwt)
            return http.post(f"/cds-services/{SERVICE_ID}", json=body, headers=bearer(jwt))

        prefetched = call(
            _request(fhir.url("/fhir"), prefetch_patient=True), token(keys.ec384, aud)
        )
        assert prefetched.status_code == 200, prefetched.text

        replayable = token(keys.rsa, aud, alg="RS384", kid="rsa-1")
        fetched = call(_request(fhir.url("/fhir"), prefetch_patient=False), replayable)
        assert fetched.status_code == 200, fetched.text
        assert f"Bearer {ACCESS_TOKEN}" in fhir.authorizations  # the token was really used

        # Rejections log a reason: still no token, no PHI.
        assert (
            call(_request(fhir.url("/fhir"), prefetch_patient=True), replayable).status_code == 401
        )
        forged = token(keys.ec384_attacker, aud)
        assert call(_request(fhir.url("/fhir"), prefetch_patient=True), forged).status_code == 401

    logged = _everything_logged(caplog.records)
    names = {record.name for record in caplog.records}
    # The capture is real: access log, request log and the auth decisions are all there.
    assert "uvicorn.access" in names
    assert "cds_service.auth" in names
    assert "replayed jti" in logged and "bad signature" in logged

    secrets = {"access token": ACCESS_TOKEN, "family name": FAMILY, "given name": GIVEN, "MRN": MRN}
    for i, jwt in enumerate(sent_jwts):
        _head, payload, signature = jwt.split(".")
        secrets[f"jwt {i}"] = jwt
        secrets[f"jwt {i} payload"] = payload
        secrets[f"jwt {i} signature"] = signature
    leaked = sorted(label for label, value in secrets.items() if value in logged)
    assert leaked == []
