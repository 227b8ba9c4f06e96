"""Prefetch templates and their answers (spec R-8, R-12…R-15).

Absent is not null: a key missing from ``prefetch`` was not satisfied and must be
fetched (or the call answered 412); a ``null`` key means "queried, nothing found".
An ``OperationOutcome`` in place of, or inside, the data is an EHR-side error: the
data for that key is unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from cds_service.fhir.data import DataGap

_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")

# root-level context fields and the four user tokens; nothing else in 2.0.
USER_TOKENS = frozenset(
    {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
)


def template_tokens(template: str) -> list[str]:
    return _TOKEN.findall(template)


def is_valid_token(token: str) -> bool:
    if token in USER_TOKENS:
        return True
    head, _, rest = token.partition(".")
    return head == "context" and bool(rest) and "." not in rest


def render_template(template: str, tokens: Mapping[str, str]) -> str | None:
    """Fill a template; ``None`` when a token has no value in this call (R-15)."""
    missing = False

    def _sub(match: re.Match[str]) -> str:
        nonlocal missing
        value = tokens.get(match.group(1))
        if value is None:
            missing = True
            return ""
        return value

    rendered = _TOKEN.sub(_sub, template)
    return None if missing else rendered


def flatten(key: str, value: Any) -> tuple[list[dict[str, Any]], list[DataGap]]:
    """Resources carried by one prefetch value, and the gaps it reveals."""
    if value is None:
        return [], []
    if not isinstance(value, dict):
        return [], [DataGap(key, "fetch-error")]
    rtype = value.get("resourceType")
    if rtype == "OperationOutcome":
        return [], [DataGap(key, "operation-outcome")]
    if rtype != "Bundle":
        return [value], []
    entries = value.get("entry")
    if entries is None:
        return [], []
    if not isinstance(entries, list):
        return [], [DataGap(key, "fetch-error")]  # not a Bundle we can read
    resources: list[dict[str, Any]] = []
    gaps: list[DataGap] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "OperationOutcome":
            if _is_error(resource) and not gaps:
                gaps.append(DataGap(key, "operation-outcome"))
            continue
        resources.append(resource)
    return resources, gaps


def _is_error(outcome: dict[str, Any]) -> bool:
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return True  # an outcome without readable issues: assume the worst
    return (
        any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues)
        or not issues
    )


def next_link(bundle: Mapping[str, Any]) -> str | None:
    """The URL of the Bundle's ``next`` page, if any (malformed ``link`` lists have none)."""
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def dedupe(resources: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Keep the first copy of each ``type/id``; resources without an id are all kept."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for resource in resources:
        rid = resource.get("id")
        if isinstance(rid, str):
            ref = f"{resource.get('resourceType')}/{rid}"
            if ref in seen:
                continue
            seen.add(ref)
        out.append(resource)
    return tuple(out)
