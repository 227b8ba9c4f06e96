"""Turns a request's prefetch (plus fetches for absent keys) into :class:`PatientData`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2

from cds_service.errors import InvalidRequest, PrefetchUnavailable
from cds_service.fhir.client import FetchOutcome, FhirClient
from cds_service.fhir.data import DataGap, PatientData
from cds_service.fhir.prefetch import dedupe, flatten, render_template
from cds_service.settings import Settings

log = logging.getLogger("cds_service.fhir.resolve")


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


HttpClientSource = Callable[[], httpx2.AsyncClient | None]


class FhirDataResolver(DataResolver):
    """Fetches absent prefetch keys from ``fhirServer`` with :class:`FhirClient`.

    ``http`` returns the app's shared ``httpx2.AsyncClient`` (opened in the lifespan) at call
    time; outside a lifespan (``None``) a client is opened for the one call. All keys share one
    deadline (``Settings.fhir_deadline_seconds``).
    """

    def __init__(self, settings: Settings, http: HttpClientSource | None = None) -> None:
        self.settings = settings
        self._http = http or (lambda: None)

    async def resolve(
        self,
        templates: Mapping[str, str],
        prefetch: Mapping[str, Any] | None,
        tokens: Mapping[str, str],
        fhir_server: str | None,
        access_token: str | None,
    ) -> PatientData:
        if (
            fhir_server is not None
            and not self.settings.allow_http_fhir_server
            and urlsplit(fhir_server).scheme.lower() != "https"
        ):
            raise InvalidRequest("fhirServer: the scheme must be https (R-10)", field="fhirServer")
        return await super().resolve(templates, prefetch, tokens, fhir_server, access_token)

    async def fetch(
        self, queries: Mapping[str, str], fhir_server: str, access_token: str | None
    ) -> tuple[list[dict[str, Any]], list[DataGap]]:
        shared = self._http()
        if shared is not None:
            outcome = await self._fetch_with(shared, queries, fhir_server, access_token)
        else:
            async with httpx2.AsyncClient() as http:
                outcome = await self._fetch_with(http, queries, fhir_server, access_token)
        log.info(
            "fhir fetch",
            extra={
                "keys": len(queries),
                "pages": sum(r.pages for r in outcome.results),
                "resources": sum(len(r.resources) for r in outcome.results),
                "gaps": sorted({f"{g.key}:{g.reason}" for g in outcome.gaps}),
                "elapsed_ms": round(outcome.elapsed_ms, 2),
            },
        )
        return outcome.resources, outcome.gaps

    async def _fetch_with(
        self,
        http: httpx2.AsyncClient,
        queries: Mapping[str, str],
        fhir_server: str,
        access_token: str | None,
    ) -> FetchOutcome:
        client = FhirClient(
            http,
            fhir_server,
            access_token=access_token,
            request_timeout=self.settings.fhir_request_timeout_seconds,
            max_pages=self.settings.fhir_max_pages,
            retries=self.settings.fhir_retries,
        )
        return await client.fetch_all(queries, self.settings.fhir_deadline_seconds)
