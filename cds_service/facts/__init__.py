"""Facts: the typed, frozen patient snapshot the rules read (see ``model.PatientFacts``)."""

from cds_service.facts.build import build_facts
from cds_service.facts.model import (
    BloodPressure,
    Evidence,
    Measurement,
    MedicationFact,
    OrderFact,
    PatientFacts,
    PatientInfo,
    PregnancyState,
    PregnancyStatus,
    SymptomFact,
    UnitProblem,
    fmt_date,
    fmt_number,
)

__all__ = [
    "BloodPressure",
    "Evidence",
    "Measurement",
    "MedicationFact",
    "OrderFact",
    "PatientFacts",
    "PatientInfo",
    "PregnancyState",
    "PregnancyStatus",
    "SymptomFact",
    "UnitProblem",
    "build_facts",
    "fmt_date",
    "fmt_number",
]
