"""Card wording shared by every rule (clinical.md E): override reasons, fixed phrases.

Rules write their own one-line findings; anything every card says the same way lives here
so that a clinical reviewer can read and change it in one place.
"""

from __future__ import annotations

from cds_service.knowledge.codes import Concept
from cds_service.knowledge.systems import OVERRIDE_REASON

# clinical.md E.2: the four override reasons, on every warning and critical card.
OVERRIDE_REASONS: tuple[Concept, ...] = (
    Concept(OVERRIDE_REASON, "already-assessed", "Already assessed today", "local"),
    Concept(
        OVERRIDE_REASON, "under-obstetric-care", "Patient under obstetric care for this", "local"
    ),
    Concept(OVERRIDE_REASON, "not-pregnant-data-error", "Not pregnant / data error", "local"),
    Concept(OVERRIDE_REASON, "result-erroneous", "Result known to be erroneous", "local"),
)

# clinical.md E.1 item 2: words no card may contain (rule-out language).
FORBIDDEN_PHRASES: tuple[str, ...] = ("excluded", "unlikely", "low risk")

# clinical.md 1.1 item 5: cards kept alive while pregnancy status is unknown.
UNKNOWN_STATUS_PREFIX = "if pregnant or recently pregnant, "
UNKNOWN_STATUS_NOTE = (
    "Pregnancy status is unknown or conflicting in the record; this card is shown because "
    "the finding is dangerous if the patient is pregnant or recently pregnant."
)

# E.1 item 5: a critical card is an adjunct, never the alarm.
CRITICAL_FOOTER = (
    "This card supports, and must not delay, the local emergency process "
    "(call for help per local protocol)."
)
ADVISORY_FOOTER = (
    "Advisory only: the service does not diagnose, prescribe or place orders; "
    "suggested orders are drafts for a clinician to review."
)
PRELIMINARY_NOTE = "Based on a preliminary result: confirm before acting on it as final."

# TEAM.md data-gap contract: one info card, no PHI.
DATA_GAP_SUMMARY = "Some patient data could not be retrieved: advice uses only the data received."
GAP_REASON_TEXT: dict[str, str] = {
    "operation-outcome": "the EHR returned an error instead of the data",
    "unauthorized": "access to the data was refused",
    "timeout": "the FHIR server did not answer in time",
    "fetch-error": "the data could not be fetched",
    "truncated": "only part of the data was received",
}
PREFETCH_KEY_TEXT: dict[str, str] = {
    "patient": "patient demographics",
    "pregnancy": "pregnancy status and dating",
    "vitals": "vital signs",
    "labs": "laboratory results",
    "findings": "recorded symptoms and bedside findings",
    "conditions": "conditions and problems",
    "medications": "active medicines",
    "deliveries": "delivery records",
    "orders": "pending orders",
}

RULE_FAILED_SUMMARY = "A safety check could not run on this record: review {title} manually."
