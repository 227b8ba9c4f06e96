"""FHIR resource builders shared by the FHIR fetch tests (no PHI: synthetic ids only)."""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"


def patient(pid: str = "pat-1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female"}


def observation(oid: str, code: str = "8480-6", value: float = 120.0) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/pat-1"},
        "valueQuantity": {"value": value, "unit": "mm[Hg]"},
    }


def bundle(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url is not None:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


def outcome(severity: str = "error", code: str = "processing") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": "synthetic"}],
    }
