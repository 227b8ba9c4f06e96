"""Turns a request's prefetch (plus fetches for absent keys) into :class:`PatientData`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.errors import PrefetchUnavailable
from cds_service.fhir.data import DataGap, PatientData
from cds_service.fhir.prefetch import dedupe, flatten, render_template


class DataResolver:
    """Resolves prefetch templates for one call.

    Absent keys are fetched from ``fhirServer`` (see ``cds_service.fhir.client``);
    with no server to ask, a missing key is answered 412 (spec R-7).
    """

    async def resolve(
        self,
        templates: Mapping[str, str],
        prefetch: Mapping[str, Any] | None,
        tokens: Mapping[str, str],
        fhir_server: str | None,
        access_token: str | None,
    ) -> PatientData:
        given = dict(prefetch or {})
        resources: list[dict[str, Any]] = []
        gaps: list[DataGap] = []
        missing: dict[str, str] = {}
        for key, template in templates.items():
            if key in given:
                found, key_gaps = flatten(key, given[key])
                resources.extend(found)
                gaps.extend(key_gaps)
                continue
            url = render_template(template, tokens)
            if url is not None:
                missing[key] = url
        if missing:
            if fhir_server is None:
                raise PrefetchUnavailable(
                    "prefetch key(s) missing and no fhirServer to fetch them from: "
                    + ", ".join(sorted(missing)),
                    field="prefetch." + sorted(missing)[0],
                )
            fetched, fetch_gaps = await self.fetch(missing, fhir_server, access_token)
            resources.extend(fetched)
            gaps.extend(fetch_gaps)
        return PatientData(resources=dedupe(resources), gaps=tuple(gaps))

    async def fetch(
        self, queries: Mapping[str, str], fhir_server: str, access_token: str | None
    ) -> tuple[list[dict[str, Any]], list[DataGap]]:
        """Fetch absent keys. The base resolver cannot; see ``FhirDataResolver``."""
        return [], [DataGap(key, "fetch-error") for key in queries]
