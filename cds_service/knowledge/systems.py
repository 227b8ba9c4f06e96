"""Code-system URLs, written once. Everything else refers to them by name."""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

# The project's own code systems (clinical.md section F and the card contracts in TEAM.md).
FINDING = "urn:prenatal-cds:finding"
RULE = "urn:prenatal-cds:rule"
OVERRIDE_REASON = "urn:prenatal-cds:override-reason"

# HL7 Gender Harmony extension (clinical.md 1.1 item 4).
SEX_FOR_CLINICAL_USE = "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse"

# Some EHRs send ATC under the OID-style or the older WHO URL; all are accepted on input.
ATC_ALIASES = frozenset({ATC, "http://www.whocc.no/atc/", "urn:oid:2.16.840.1.113883.6.73"})
RXNORM_ALIASES = frozenset({RXNORM, "urn:oid:2.16.840.1.113883.6.88"})
LOINC_ALIASES = frozenset(
    {LOINC, "https://loinc.org", "https://loinc.org/", "urn:oid:2.16.840.1.113883.6.1"}
)
SNOMED_ALIASES = frozenset({SNOMED, "urn:oid:2.16.840.1.113883.6.96"})


# Alias -> canonical URL, precomputed for the per-coding hot path (raw JSON code filters).
CANONICAL_SYSTEMS: dict[str, str] = {
    **{alias: LOINC for alias in LOINC_ALIASES},
    **{alias: SNOMED for alias in SNOMED_ALIASES},
    **{alias: RXNORM for alias in RXNORM_ALIASES},
    **{alias: ATC for alias in ATC_ALIASES},
}


def canonical_system(system: str | None) -> str | None:
    """The canonical URL for a code system given in an accepted alternative spelling."""
    if system is None:
        return None
    if system in LOINC_ALIASES:
        return LOINC
    if system in SNOMED_ALIASES:
        return SNOMED
    if system in RXNORM_ALIASES:
        return RXNORM
    if system in ATC_ALIASES:
        return ATC
    return system
