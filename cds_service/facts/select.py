"""Which kept Observations each fact builder reads, decided on raw JSON (nothing validated).

The builders match codes and statuses on the validated model; for a resource that
validates, the raw ``code.coding`` (systems canonicalised the same way) and ``status``
strings are exactly what the model holds, so sorting candidates here by those strings
never drops a resource a builder would have used. Order is kept (ties resolve as before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cds_service.facts.common import ACCEPTED_RESULT_STATUSES, FINAL_STATUSES
from cds_service.fhir.parse import Candidate
from cds_service.knowledge import codes as c
from cds_service.knowledge.codes import CodeKey

# facts.pregnancy: pregnancy status, EDD, gestational age, LMP (final statuses only).
PREGNANCY_OBSERVATION_CODES: frozenset[CodeKey] = frozenset(
    {c.PREGNANCY_STATUS.key, c.LMP.key} | c.EDD.codes | c.GESTATIONAL_AGE.codes
)
# facts.clinical.build_symptoms: findings recorded as Observations.
FINDING_OBSERVATION_CODES: frozenset[CodeKey] = frozenset(c.FINDING_BY_CODE)


@dataclass(frozen=True)
class ObservationSelection:
    pregnancy: tuple[Candidate, ...]
    findings: tuple[Candidate, ...]
    # Everything else with an accepted status; facts.measurements matches analyte codes.
    measurements: tuple[Candidate, ...]


def select_observations(observations: Sequence[Candidate]) -> ObservationSelection:
    pregnancy: list[Candidate] = []
    findings: list[Candidate] = []
    measurements: list[Candidate] = []
    for candidate in observations:
        status = candidate.status
        if status not in ACCEPTED_RESULT_STATUSES:
            continue  # no builder reads it (entered-in-error, registered, cancelled...)
        keys = candidate.codes
        if status in FINAL_STATUSES and not PREGNANCY_OBSERVATION_CODES.isdisjoint(keys):
            pregnancy.append(candidate)
        if not FINDING_OBSERVATION_CODES.isdisjoint(keys):
            findings.append(candidate)
        measurements.append(candidate)
    return ObservationSelection(tuple(pregnancy), tuple(findings), tuple(measurements))
