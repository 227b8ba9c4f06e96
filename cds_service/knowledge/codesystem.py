"""The project's own code system ``urn:prenatal-cds:finding`` as a FHIR R4 CodeSystem.

clinical.md F: where no LOINC/SNOMED CT code could be verified the service reads its own
codes, and must ship them as a ``CodeSystem`` resource. The JSON file next to this module
(``CodeSystem-prenatal-cds-finding.json``) is generated from the knowledge data by
:func:`finding_code_system`; a test keeps the two identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds_service.knowledge.analytes import ANALYTES
from cds_service.knowledge.codes import FINDINGS
from cds_service.knowledge.systems import FINDING

CODESYSTEM_FILE = Path(__file__).with_name("CodeSystem-prenatal-cds-finding.json")

# Codes beyond clinical.md section F's table, added for findings the rules need and for
# which no verified standard code exists (documented in docs/clinical-coverage.md).
EXTENSIONS = frozenset(
    {
        "nocturnal-leg-cramps",
        "focal-spasms",
        "laryngospasm",
        "arrhythmia",
        "leg-redness",
        "regular-contractions",
        "vaginal-fluid-loss",
    }
)


def finding_code_system() -> dict[str, Any]:
    concepts: list[dict[str, Any]] = []
    for analyte in ANALYTES.values():
        for c in analyte.concepts:
            if c.system == FINDING:
                unit = analyte.canonical_unit
                definition = f"{c.display}; Observation valueQuantity in UCUM '{unit}'."
                concepts.append({"code": c.code, "display": c.display, "definition": definition})
    for finding in FINDINGS.values():
        for c in finding.concepts:
            if c.system == FINDING:
                definition = (
                    f"{c.display}: a Condition, or an Observation with no value, valueBoolean "
                    "true or SNOMED 373066001 'Yes' (present); false or 373067005 'No' (absent)."
                )
                if c.code in EXTENSIONS:
                    definition += " Project extension beyond clinical.md section F."
                concepts.append({"code": c.code, "display": c.display, "definition": definition})
    return {
        "resourceType": "CodeSystem",
        "id": "prenatal-cds-finding",
        "url": FINDING,
        "version": "0.1.0",
        "name": "PrenatalCdsFinding",
        "title": "prenatal-cds findings without a verified standard code",
        "status": "draft",
        "experimental": True,
        "publisher": "prenatal-cds",
        "description": (
            "Findings and bedside measurements read by the prenatal-cds CDS Hooks service for "
            "which no LOINC or SNOMED CT code could be verified (clinical.md section F). A "
            "verified standard code is accepted for the same finding wherever one exists."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def write_code_system(path: Path = CODESYSTEM_FILE) -> None:
    path.write_text(json.dumps(finding_code_system(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_code_system()
