"""A realistic pregnant patient (and distractors) to seed the FHIR engine with.

All data are synthetic. Dates are absolute, chosen relative to the tests' pinned
``NOW`` (2026-11-25): the patient is about 29 weeks pregnant, with a rising blood pressure,
a low haemoglobin, a seizure finding the day before, active and stopped medicines.
Besides the hand-written chart, :func:`template_hits` adds one resource per search template
(using the template's own first code), so that every template has something to find even
when the clinical code lists change.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

PATIENT_ID = "preg-1"
OTHER_ID = "other-1"


def _subject(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def _cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def observation(
    oid: str,
    pid: str,
    code: tuple[str, str, str],
    when: str,
    *,
    value: dict[str, Any] | None = None,
    category: str = "laboratory",
    components: list[dict[str, Any]] | None = None,
    status: str = "final",
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "category": [
            _cc("http://terminology.hl7.org/CodeSystem/observation-category", category, category)
        ],
        "code": _cc(*code),
        "subject": _subject(pid),
        "effectiveDateTime": when,
    }
    if value is not None:
        obs.update(value)
    if components:
        obs["component"] = components
    return obs


def _bp(oid: str, pid: str, when: str, systolic: int, diastolic: int) -> dict[str, Any]:
    return observation(
        oid,
        pid,
        (LOINC, "85354-9", "Blood pressure panel"),
        when,
        category="vital-signs",
        components=[
            {
                "code": _cc(LOINC, "8480-6", "Systolic blood pressure"),
                "valueQuantity": _quantity(systolic, "mm[Hg]", "mm[Hg]"),
            },
            {
                "code": _cc(LOINC, "8462-4", "Diastolic blood pressure"),
                "valueQuantity": _quantity(diastolic, "mm[Hg]", "mm[Hg]"),
            },
        ],
    )


def chart() -> list[dict[str, Any]]:
    """The pregnant patient's chart, another patient's, and resources no template asks for."""
    p = PATIENT_ID
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": p,
            "active": True,
            "gender": "female",
            "birthDate": "1995-06-14",
        },
        {"resourceType": "Patient", "id": OTHER_ID, "gender": "female", "birthDate": "1990-01-02"},
        # Pregnancy status and dating
        observation(
            "preg-status",
            p,
            (LOINC, "82810-3", "Pregnancy status"),
            "2026-08-20T09:00:00Z",
            category="social-history",
            value={"valueCodeableConcept": _cc(SNOMED, "77386006", "Pregnant")},
        ),
        observation(
            "preg-edd",
            p,
            (LOINC, "11778-8", "Delivery date Estimated"),
            "2026-08-20T09:05:00Z",
            category="exam",
            value={"valueDateTime": "2027-02-10"},
        ),
        observation(
            "preg-ga",
            p,
            (LOINC, "18185-9", "Gestational age"),
            "2026-11-24T10:00:00Z",
            category="exam",
            value={"valueQuantity": _quantity(29, "wk", "wk")},
        ),
        # Blood pressure: three visits, rising
        _bp("bp-3", p, "2026-11-24T10:10:00Z", 152, 98),
        _bp("bp-2", p, "2026-11-10T09:40:00Z", 128, 82),
        _bp("bp-1", p, "2026-10-27T11:20:00Z", 118, 76),
        observation(
            "sbp-3",
            p,
            (LOINC, "8480-6", "Systolic blood pressure"),
            "2026-11-24T10:10:00Z",
            category="vital-signs",
            value={"valueQuantity": _quantity(152, "mm[Hg]", "mm[Hg]")},
        ),
        observation(
            "hr-3",
            p,
            (LOINC, "8867-4", "Heart rate"),
            "2026-11-24T10:10:00Z",
            category="vital-signs",
            value={"valueQuantity": _quantity(96, "/min", "/min")},
        ),
        # Labs
        observation(
            "hb-2",
            p,
            (LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
            "2026-11-20T08:00:00Z",
            value={"valueQuantity": _quantity(9.1, "g/dL", "g/dL")},
        ),
        observation(
            "hb-1",
            p,
            (LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
            "2026-09-15T08:00:00Z",
            value={"valueQuantity": _quantity(11.4, "g/dL", "g/dL")},
        ),
        observation(
            "plt-1",
            p,
            (LOINC, "777-3", "Platelets [#/volume] in Blood"),
            "2026-11-20T08:00:00Z",
            value={"valueQuantity": _quantity(145, "10*3/uL", "10*3/uL")},
        ),
        observation(
            "k-1",
            p,
            (LOINC, "2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
            "2026-11-20T08:00:00Z",
            value={"valueQuantity": _quantity(3.1, "mmol/L", "mmol/L")},
        ),
        observation(
            "mg-1",
            p,
            (LOINC, "2601-3", "Magnesium [Moles/volume] in Serum or Plasma"),
            "2026-11-20T08:00:00Z",
            value={"valueQuantity": _quantity(0.62, "mmol/L", "mmol/L")},
        ),
        observation(
            "chol-1",  # asked for by no template
            p,
            (LOINC, "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"),
            "2026-11-20T08:00:00Z",
            value={"valueQuantity": _quantity(212, "mg/dL", "mg/dL")},
        ),
        # Findings
        observation(
            "seizure-1",
            p,
            (SNOMED, "91175000", "Seizure"),
            "2026-11-24T07:30:00Z",
            category="exam",
            value={"valueBoolean": True},
        ),
        # Conditions
        {
            "resourceType": "Condition",
            "id": "cond-preg",
            "clinicalStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
            ),
            "code": _cc(SNOMED, "77386006", "Pregnancy"),
            "subject": _subject(p),
            "onsetDateTime": "2026-05-06",
        },
        {
            "resourceType": "Condition",
            "id": "cond-hayfever",  # asked for by no template
            "clinicalStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
            ),
            "code": _cc(SNOMED, "21719001", "Allergic rhinitis caused by pollen"),
            "subject": _subject(p),
        },
        # Medicines: active by code, active by reference (→ _include), stopped
        {
            "resourceType": "Medication",
            "id": "med-prenatal",
            "code": _cc(RXNORM, "802797", "Prenatal multivitamin tablet"),
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-iron",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": _cc(RXNORM, "310325", "Ferrous sulfate 325 MG"),
            "subject": _subject(p),
            "authoredOn": "2026-11-20",
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-prenatal",
            "status": "active",
            "intent": "order",
            "medicationReference": {"reference": "Medication/med-prenatal"},
            "subject": _subject(p),
            "authoredOn": "2026-06-01",
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-quinine-stopped",
            "status": "stopped",
            "intent": "order",
            "medicationCodeableConcept": _cc(RXNORM, "9071", "Quinine"),
            "subject": _subject(p),
            "authoredOn": "2026-10-01",
        },
        # An order already drafted
        {
            "resourceType": "ServiceRequest",
            "id": "sr-cbc",
            "status": "draft",
            "intent": "proposal",
            "code": _cc(LOINC, "58410-2", "CBC panel - Blood by Automated count"),
            "subject": _subject(p),
        },
        # Someone else's chart: never returned for our patient
        _bp("other-bp", OTHER_ID, "2026-11-24T10:10:00Z", 170, 110),
        observation(
            "other-hb",
            OTHER_ID,
            (LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
            "2026-11-20T08:00:00Z",
            value={"valueQuantity": _quantity(7.0, "g/dL", "g/dL")},
        ),
        {
            "resourceType": "Condition",
            "id": "other-preg",
            "code": _cc(SNOMED, "77386006", "Pregnancy"),
            "subject": _subject(OTHER_ID),
        },
    ]
    return resources


def template_hits(rendered: list[str]) -> list[dict[str, Any]]:
    """One resource per search URL, carrying its first code and status (dated 2025)."""
    hits: list[dict[str, Any]] = []
    for n, url in enumerate(sorted(set(rendered))):
        parts = urlsplit(url)
        if "/" in parts.path:
            continue  # a read
        params = parse_qs(parts.query)
        rtype = parts.path
        resource: dict[str, Any] = {
            "resourceType": rtype,
            "id": f"hit-{n}",
            "subject": _subject(PATIENT_ID),
        }
        if "code" in params:
            system, _, code = params["code"][0].split(",")[0].rpartition("|")
            resource["code"] = {"coding": [{"system": system, "code": code}]}
        status = params.get("status", [""])[0].split(",")[0]
        if rtype == "Observation":
            resource.update(status="final", effectiveDateTime=f"2025-01-{n % 28 + 1:02d}T08:00:00Z")
        elif rtype == "Procedure":
            resource.update(status="completed", performedDateTime="2023-04-02T08:00:00Z")
        elif rtype == "MedicationRequest":
            resource.update(status=status or "active", intent="order")
            resource["medicationCodeableConcept"] = _cc(RXNORM, "198211", "Paracetamol 500 MG")
        elif rtype == "ServiceRequest":
            resource.update(status=status or "active", intent="order")
        elif status:
            resource["status"] = status
        hits.append(resource)
    return hits
