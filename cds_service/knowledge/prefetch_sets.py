"""Code lists that ``hooks/*.toml`` prefetch templates name as ``${codes:NAME}``.

Expanded once at start-up into a comma-separated token list
(``system|code,system|code``), so an EHR is asked only for the codes the rules read.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

# Provisional lists; the clinical knowledge module derives the full lists from its value sets.
_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "pregnancy-observations": (
        (LOINC, "82810-3"),
        (LOINC, "11778-8"),
        (LOINC, "11779-6"),
        (LOINC, "11780-4"),
        (LOINC, "11884-4"),
        (LOINC, "11885-1"),
        (LOINC, "18185-9"),
        (LOINC, "49051-6"),
        (LOINC, "49052-4"),
    ),
    "vital-observations": ((LOINC, "85354-9"), (LOINC, "8480-6"), (LOINC, "8462-4")),
    "lab-observations": ((LOINC, "718-7"),),
    "finding-observations": ((SNOMED, "91175000"),),
    "conditions": ((SNOMED, "77386006"), (SNOMED, "91175000")),
    "order-lab-observations": ((LOINC, "2823-3"), (LOINC, "2951-2"), (LOINC, "2601-3")),
    "pregnancy-conditions": ((SNOMED, "77386006"),),
}


def code_set_names() -> list[str]:
    return sorted(_SETS)


def expand_code_set(name: str) -> str:
    """``system|code`` tokens joined by commas (FHIR token search OR semantics)."""
    from cds_service.errors import ConfigurationError

    codes = _SETS.get(name)
    if not codes:
        raise ConfigurationError(f"unknown code set {name!r} in a prefetch template")
    return ",".join(f"{system}|{code}" for system, code in codes)
