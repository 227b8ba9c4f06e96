"""Fixtures for integrators and tests: load, date-shift, build, and check expectations.

A fixture is ``fixtures/<case-id>/request.json`` (a complete, postable CDS Hooks
request) plus ``expect.json`` (service, ``asOf``, the cards that must and must not
come back). Dates inside a fixture are absolute, chosen relative to ``asOf``:

* tests inject ``asOf`` as the service clock and post the request unchanged;
* the CLI and the sandbox *shift* every ISO date/dateTime/instant by
  ``today - asOf`` so a fixture written months ago still describes "now".

The builder (:func:`build_request`, used by ``cds-service fixtures new`` and the
sandbox form) writes realistic FHIR R4 resources (LOINC with UCUM units, SNOMED CT,
``urn:prenatal-cds:finding`` where no standard code is verified, clinical.md
section F) and files each one under the prefetch key of the service whose query
would return it: an EHR following the template sends exactly that.

Every code comes from ``cds_service.knowledge`` (value sets, analytes, findings,
medicines); this module only maps the words a person types (``hb``, ``leg-cramp``,
``quinine``) to those concepts and picks the mass or molar LOINC code by the unit.

The sandbox form reads and edits a request through :class:`KeyValues`
(:func:`extract_key_values`, :func:`apply_key_values`); tests and ``evaluate`` compare a
response with ``expect.json`` through :func:`check_expectations`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from cds_service.knowledge import codes as known
from cds_service.knowledge.analytes import ANALYTE_BY_CODE, ANALYTES, BP_PANEL, AnalyteDef
from cds_service.knowledge.codes import FINDING_BY_CODE, FINDINGS, Concept, FindingDef
from cds_service.knowledge.systems import (
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    LOINC,
    RULE,
    RXNORM,
    UCUM,
    canonical_system,
)
from cds_service.services import ServiceDeclaration, ServiceRegistry

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DATA_RULE = "DATA"  # the data-gap card (TEAM.md): never a clinical card

FIXTURE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,99}$")


class FixtureError(ValueError):
    """A fixture that cannot be read or built; the message is safe to show."""


# --------------------------------------------------------------------------- vocabulary
# Codes come from cds_service.knowledge; this section only maps the words people type.

# Short names for the common measurements (``--hb 9.2g/dL``); any analyte key also works.
SHORT_NAMES: Mapping[str, str] = {
    "hb": "haemoglobin",
    "platelets": "platelets",
    "ferritin": "ferritin",
    "k": "potassium",
    "na": "sodium",
    "cl": "chloride",
    "mg": "magnesium",
    "ca": "calcium_total",
    "adj-ca": "calcium_adjusted",
    "ica": "calcium_ionised",
    "albumin": "albumin",
    "phosphate": "phosphate",
    "glucose": "glucose",
    "fasting-glucose": "glucose_fasting",
    "hba1c": "hba1c",
    "creatinine": "creatinine",
    "alt": "alt",
    "ast": "ast",
    "upcr": "upcr",
    "vitd": "vitamin_d",
    "pth": "pth",
    "hr": "heart_rate",
    "rr": "respiratory_rate",
    "spo2": "spo2",
    "temp": "temperature",
    "weight": "body_weight",
    "calf-diff": "calf_circumference_difference",
    "contractions": "contraction_frequency",
    "puqe": "puqe_score",
}
_BP_COMPONENTS = ("systolic_bp", "diastolic_bp")  # written as the BP panel, not alone
_MOLAR_UNITS = frozenset({"mmol/L", "umol/L", "nmol/L", "pmol/L", "meq/L"})
_MASS_UNITS = frozenset({"g/dL", "g/L", "mg/dL", "ug/dL", "ng/mL", "ug/L", "pg/mL", "ng/L"})

# Findings a laterality applies to (clinical.md F: bodySite left/right).
LIMB_FINDINGS = frozenset(
    {"leg-cramp", "nocturnal-leg-cramps", "leg-swelling", "leg-pain", "leg-redness",
     "varicose-veins", "thrombophlebitis", "dvt"}
)  # fmt: skip
_FINDING_ALIASES: Mapping[str, str] = {
    "pulmonary-embolism": "pe",
    "premature-labour": "preterm-labour",
    "hyperemesis": "excessive-vomiting-in-pregnancy",
    "gestational-diabetes": "gdm",
}

# Spellings people type → the UCUM code the resources carry.
_UNIT_ALIASES: Mapping[str, str] = {
    "mmhg": "mm[Hg]",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "umol/l": "umol/L",
    "mmol/l": "mmol/L",
    "nmol/l": "nmol/L",
    "pmol/l": "pmol/L",
    "meq/l": "meq/L",
    "g/dl": "g/dL",
    "g/l": "g/L",
    "mg/dl": "mg/dL",
    "ug/dl": "ug/dL",
    "µg/dl": "ug/dL",
    "ng/ml": "ng/mL",
    "µg/l": "ug/L",
    "ug/l": "ug/L",
    "ng/l": "ng/L",
    "pg/ml": "pg/mL",
    "u/l": "U/L",
    "iu/l": "U/L",
    "x10^9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "10*9/l": "10*9/L",
    "10^3/ul": "10*3/uL",
    "10*3/ul": "10*3/uL",
    "bpm": "/min",
    "/min": "/min",
    "°c": "Cel",
    "cel": "Cel",
    "/h": "/h",
    "/hr": "/h",
    "mg/mmol": "mg/mmol",
    "mg/mg": "mg/mg",
    "mmol/mol": "mmol/mol",
}


def ucum(unit: str) -> str:
    """The UCUM code for a unit as typed (``mmol/l`` → ``mmol/L``); others pass unchanged."""
    return _UNIT_ALIASES.get(unit.strip().lower(), unit.strip())


def _key(text: str) -> str:
    return text.strip().lower().replace(" ", "-")


def analyte_by_name(text: str) -> AnalyteDef:
    """``hb``, ``haemoglobin``, ``calcium-ionised`` or a LOINC code → the knowledge analyte."""
    name = _key(text)
    key = SHORT_NAMES.get(name, name.replace("-", "_"))
    if key in ANALYTES and key not in _BP_COMPONENTS:
        return ANALYTES[key]
    for (_, code), analyte_key in ANALYTE_BY_CODE.items():
        if code == text.strip() and analyte_key not in _BP_COMPONENTS:
            return ANALYTES[analyte_key]
    raise FixtureError(f"unknown measurement {text!r}; try: {', '.join(SHORT_NAMES)}")


def short_name(analyte_key: str) -> str:
    """The name a person types for an analyte key (``potassium`` → ``k``)."""
    return next((n for n, k in SHORT_NAMES.items() if k == analyte_key), analyte_key)


def analyte_units(analyte: AnalyteDef) -> tuple[str, ...]:
    units = tuple(dict.fromkeys([analyte.canonical_unit, *analyte.conversions]))
    return tuple(u for u in units if u != "{grade}")


def analyte_category(analyte: AnalyteDef) -> Literal["laboratory", "vital-signs", "exam"]:
    if analyte.freshness == "vital":
        return "vital-signs"
    return "exam" if analyte.freshness == "bedside" else "laboratory"


def analyte_concept(analyte: AnalyteDef, unit: str) -> Concept:
    """The code a result in ``unit`` carries: the molar LOINC for mmol/L, the mass one for
    g/dL (clinical.md 1.4 pairs), else the analyte's first code."""
    if unit not in analyte_units(analyte):
        raise FixtureError(
            f"{analyte.label}: unit {unit!r} not supported; use one of "
            + ", ".join(analyte_units(analyte))
        )
    word = "[Moles/" if unit in _MOLAR_UNITS else "[Mass/" if unit in _MASS_UNITS else None
    preferred = [c for c in analyte.concepts if c.provenance != "unverified"]
    if word:
        for concept in preferred:
            if word in concept.display:
                return concept
    return preferred[0]


def finding_by_name(text: str) -> FindingDef:
    """A knowledge finding by key (``leg-cramp``), alias, code or ``system|code``."""
    name = _key(text)
    name = _FINDING_ALIASES.get(name, name)
    if name in FINDINGS:
        return FINDINGS[name]
    system, _, code = text.strip().rpartition("|")
    for (s, c), key in FINDING_BY_CODE.items():
        if c == code and (not system or s == system):
            return FINDINGS[key]
    raise FixtureError(f"unknown symptom {text!r}; known: {', '.join(sorted(FINDINGS))}")


def _emitted(finding: FindingDef) -> Concept:
    verified = [c for c in finding.concepts if c.provenance != "unverified"]
    return (verified or list(finding.concepts))[0]


def _medicines() -> dict[str, Concept]:
    names: dict[str, Concept] = {}
    for med_class in known.MEDICATION_CLASSES.values():
        for concept in med_class.rxnorm:
            if "," not in concept.display:
                names.setdefault(_key(concept.display), concept)
        if med_class.rxnorm and all("," in c.display for c in med_class.rxnorm):
            names.setdefault(med_class.key, med_class.rxnorm[0])  # e.g. "insulin"
    return names


MEDICINES: Mapping[str, Concept] = _medicines()
_MEDICINE_BY_CODE: Mapping[str, str] = {c.code: n for n, c in reversed(list(MEDICINES.items()))}


def medicine_by_name(text: str) -> Concept:
    name = _key(text)
    if name in MEDICINES:
        return MEDICINES[name]
    for concept in MEDICINES.values():
        if concept.code == text.strip():
            return concept
    raise FixtureError(f"unknown medicine {text!r}; known: {', '.join(sorted(MEDICINES))}")


def _loinc_code(value_set: known.ValueSet, code: str) -> Concept:
    return next(c for c in value_set.concepts if c.code == code)


PREGNANT = next(c for c in known.PREGNANT_VALUES.concepts if c.system == LOINC)
GA_WEEKS = _loinc_code(known.GESTATIONAL_AGE, "49051-6")
EDD = _loinc_code(known.EDD, "11778-8")
POSTPARTUM = known.POSTPARTUM_CONDITIONS.concepts[0]
SYSTOLIC = ANALYTES["systolic_bp"].concepts[0]
DIASTOLIC = ANALYTES["diastolic_bp"].concepts[0]
LATERALITY: Mapping[str, Concept | None] = {
    "left": known.LATERALITY_LEFT,
    "right": known.LATERALITY_RIGHT,
    "bilateral": None,
}
Laterality = Literal["left", "right", "bilateral"]


# ------------------------------------------------------------------------ loading fixtures


@dataclass(frozen=True)
class Fixture:
    id: str
    path: Path
    request: dict[str, Any]
    expect: dict[str, Any]

    @property
    def service(self) -> str:
        return str(self.expect.get("service") or "")

    @property
    def hook(self) -> str:
        return str(self.request.get("hook") or "")

    @property
    def description(self) -> str:
        return str(self.expect.get("description") or "")

    @property
    def as_of(self) -> datetime:
        return parse_instant(str(self.expect.get("asOf") or ""), "expect.asOf")

    @property
    def worst_expected(self) -> str | None:
        """The most urgent indicator ``expect.json`` requires (for listing and picking)."""
        rank = {"info": 0, "warning": 1, "critical": 2}
        indicators = [c.get("indicator") for c in self.expect.get("cards") or []]
        known = [i for i in indicators if isinstance(i, str) and i in rank]
        return max(known, key=rank.__getitem__) if known else None


def parse_instant(text: str, what: str = "time") -> datetime:
    """An ISO 8601 instant (``2026-11-25T10:00:00Z``) or date, as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FixtureError(f"{what}: {text!r} is not an ISO 8601 date-time") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise FixtureError(f"{path}: must hold a JSON object")
    return data


def load_fixture(path: Path) -> Fixture:
    """``path`` is a fixture folder or its ``request.json``; ``expect.json`` must sit beside."""
    folder = path if path.is_dir() else path.parent
    request_file = path if path.is_file() else folder / "request.json"
    expect_file = folder / "expect.json"
    if not request_file.is_file():
        raise FixtureError(f"{folder}: no request.json")
    if not expect_file.is_file():
        raise FixtureError(f"{folder}: no expect.json (it names the service and asOf)")
    fixture = Fixture(folder.name, folder, _read_json(request_file), _read_json(expect_file))
    if not fixture.service:
        raise FixtureError(f"{expect_file}: 'service' is required")
    fixture.as_of  # noqa: B018 - validates asOf early, with a readable message
    return fixture


def is_fixture_dir(path: Path) -> bool:
    return (path / "request.json").is_file() and (path / "expect.json").is_file()


def scan_fixtures(directory: Path) -> tuple[list[Fixture], list[str]]:
    """Every fixture folder directly under ``directory`` (sorted by id), and the problems of
    those that cannot be read: a broken fixture is reported, not raised."""
    fixtures: list[Fixture] = []
    problems: list[str] = []
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if not is_fixture_dir(path):
                continue
            try:
                fixtures.append(load_fixture(path))
            except FixtureError as exc:
                problems.append(f"{path.name}: {exc}")
    return fixtures, problems


def find_fixture(directory: Path, fixture_id: str) -> Fixture:
    """The fixture ``directory/<fixture_id>``; the id cannot escape the directory."""
    if not FIXTURE_ID.match(fixture_id) or ".." in fixture_id:
        raise FixtureError(f"no fixture {fixture_id!r}")
    folder = directory / fixture_id
    if not is_fixture_dir(folder):
        raise FixtureError(f"no fixture {fixture_id!r}")
    return load_fixture(folder)


# ---------------------------------------------------------------------------- date shift

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")


def _shift_datetime(text: str, delta: timedelta) -> str:
    parsed = datetime.fromisoformat(text)
    shifted = parsed + delta
    fraction = "." in text[19:25] if len(text) > 19 else False
    rendered = shifted.isoformat(timespec="milliseconds" if fraction else "seconds")
    if text.endswith("Z"):
        rendered = rendered.replace("+00:00", "Z")
    return rendered


def shift_dates(value: Any, delta: timedelta, days: int | None = None) -> Any:
    """A copy of ``value`` with every FHIR date/dateTime/instant string moved.

    Date-times move by ``delta``; plain dates by ``days`` whole calendar days
    (default: ``delta`` rounded down to days), so a date stays a date. Partial dates
    (``2026``, ``2026-11``) and other strings are kept.
    """
    day_shift = delta // timedelta(days=1) if days is None else days
    if isinstance(value, dict):
        return {k: shift_dates(v, delta, day_shift) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, delta, day_shift) for v in value]
    if isinstance(value, str):
        if _DATETIME.match(value):
            return _shift_datetime(value, delta)
        if _DATE.match(value):
            try:
                return (date.fromisoformat(value) + timedelta(days=day_shift)).isoformat()
            except ValueError:
                return value
    return value


def shifted_request(fixture: Fixture, to: datetime) -> dict[str, Any]:
    """The fixture's request as if ``to`` were its ``asOf``; ``to == asOf`` → unchanged.

    Date-times move by ``to - asOf`` (whole seconds), plain dates by the number of
    calendar days between the two, so an EDD stays consistent with "today".
    """
    as_of = fixture.as_of
    delta = timedelta(seconds=round((to - as_of).total_seconds()))
    days = (to.astimezone(UTC).date() - as_of.date()).days
    shifted: dict[str, Any] = shift_dates(fixture.request, delta, days)
    return shifted


# ------------------------------------------------------------------- expectations / cards


@dataclass(frozen=True)
class CardView:
    """What a test or a table needs from one returned card."""

    indicator: str
    rule: str | None
    summary: str
    orders: tuple[str, ...]


def card_rule(card: Mapping[str, Any]) -> str | None:
    topic = (card.get("source") or {}).get("topic") or {}
    if topic.get("system") == RULE and isinstance(topic.get("code"), str):
        return str(topic["code"])
    return None


def card_orders(card: Mapping[str, Any]) -> tuple[str, ...]:
    """Codes of every ServiceRequest a card's suggestions would create."""
    codes: list[str] = []
    for suggestion in card.get("suggestions") or []:
        for action in suggestion.get("actions") or []:
            resource = action.get("resource") or {}
            if resource.get("resourceType") != "ServiceRequest":
                continue
            for coding in (resource.get("code") or {}).get("coding") or []:
                if isinstance(coding.get("code"), str):
                    codes.append(coding["code"])
    return tuple(dict.fromkeys(codes))


def card_views(response: Mapping[str, Any]) -> list[CardView]:
    return [
        CardView(
            indicator=str(card.get("indicator")),
            rule=card_rule(card),
            summary=str(card.get("summary") or ""),
            orders=card_orders(card),
        )
        for card in response.get("cards") or []
    ]


def check_expectations(expect: Mapping[str, Any], response: Mapping[str, Any]) -> list[str]:
    """Every way ``response`` breaks ``expect.json``; an empty list means it passes."""
    cards = card_views(response)
    failures: list[str] = []
    expected = [c for c in expect.get("cards") or [] if isinstance(c, dict)]
    for want in expected:
        rule, indicator = want.get("rule"), want.get("indicator")
        orders = set(want.get("orders") or [])
        same_rule = [c for c in cards if c.rule == rule]
        match = [
            c
            for c in same_rule
            if (indicator is None or c.indicator == indicator) and orders <= set(c.orders)
        ]
        if match:
            continue
        if not same_rule:
            failures.append(f"missing {rule} {indicator or ''}".rstrip())
        else:
            got = ", ".join(f"{c.indicator} orders={list(c.orders)}" for c in same_rule)
            failures.append(
                f"{rule}: wanted {indicator or 'any'} with orders ⊇ {sorted(orders)}; got {got}"
            )
    absent = set(expect.get("absentRules") or [])
    for card in cards:
        if card.rule in absent:
            failures.append(f"unexpected {card.rule} ({card.indicator}): listed in absentRules")
    if expect.get("exactCards"):
        allowed = {c.get("rule") for c in expected} | {DATA_RULE}
        for card in cards:
            if card.rule not in allowed and card.rule not in absent:
                failures.append(f"unexpected {card.rule or 'card without rule'} ({card.indicator})")
    return failures


# --------------------------------------------------------------------- prefetch placement


@dataclass(frozen=True)
class _Query:
    """What a prefetch template asks for, enough to tell whether a resource matches."""

    resource_type: str
    read: bool
    codes: frozenset[tuple[str, str]] | None
    params: tuple[tuple[str, frozenset[str]], ...]


def _parse_template(template: str) -> _Query:
    path, _, query = template.partition("?")
    resource_type = path.split("/", 1)[0]
    read = "/" in path and not query
    codes: frozenset[tuple[str, str]] | None = None
    params: list[tuple[str, frozenset[str]]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        values = frozenset(v.strip() for v in value.split(",") if v.strip())
        if name == "code":
            codes = frozenset(
                (tok.partition("|")[0], tok.partition("|")[2]) if "|" in tok else ("", tok)
                for tok in values
            )
        elif name in ("status", "clinical-status", "category", "intent"):
            params.append((name, values))
    return _Query(resource_type, read, codes, tuple(params))


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _param_values(resource: Mapping[str, Any], name: str) -> set[str]:
    if name == "status" or name == "intent":
        value = resource.get(name)
        return {value} if isinstance(value, str) else set()
    if name == "clinical-status":
        return {str(c.get("code")) for c in _codings(resource.get("clinicalStatus"))}
    if name == "category":
        out: set[str] = set()
        for concept in resource.get("category") or []:
            for coding in _codings(concept):
                out |= {str(coding.get("code")), f"{coding.get('system')}|{coding.get('code')}"}
        return out
    return set()


def _matches(query: _Query, resource: Mapping[str, Any]) -> bool:
    if resource.get("resourceType") != query.resource_type:
        return False
    if query.codes is not None:
        codes = {(str(c.get("system")), str(c.get("code"))) for c in _codings(resource.get("code"))}
        bare = {code for _, code in codes}
        if not any((s, c) in codes if s else c in bare for s, c in query.codes):
            return False
    return all(_param_values(resource, name) & values for name, values in query.params)


def _bundle(resources: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    if not resources:
        return None
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def distribute(
    resources: Iterable[dict[str, Any]], declaration: ServiceDeclaration
) -> tuple[dict[str, Any], list[str]]:
    """Prefetch for ``declaration``: each resource under every key whose query returns it.

    Read keys (``Patient/{{context.patientId}}``) get the resource itself, search keys a
    ``searchset`` Bundle; a key nothing matches is ``null`` ("queried, nothing found").
    A resource no query would return is left out, with a warning: an EHR following the
    templates would not send it either.
    """
    queries = {key: _parse_template(t) for key, t in declaration.prefetch.items()}
    placed: dict[str, list[dict[str, Any]]] = {key: [] for key in queries}
    warnings: list[str] = []
    for resource in resources:
        keys = [k for k, q in queries.items() if _matches(q, resource)]
        for key in keys:
            placed[key].append(resource)
        if not keys:
            warnings.append(
                f"{_describe(resource)} is not returned by any prefetch query of "
                f"{declaration.id} ({declaration.hook}); an EHR would not send it"
            )
    prefetch: dict[str, Any] = {}
    for key, query in queries.items():
        found = placed[key]
        prefetch[key] = (found[0] if found else None) if query.read else _bundle(found)
    return prefetch, warnings


def _describe(resource: Mapping[str, Any]) -> str:
    codings = _codings(resource.get("code")) or _codings(resource.get("medicationCodeableConcept"))
    label = codings[0].get("display") or codings[0].get("code") if codings else None
    return f"{resource.get('resourceType')}/{resource.get('id')}" + (f" ({label})" if label else "")


def prefetch_resources(prefetch: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """All resources in a prefetch dict (Bundles flattened), de-duplicated by type/id."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    loose: list[dict[str, Any]] = []
    for value in (prefetch or {}).values():
        if not isinstance(value, dict):
            continue
        items = (
            [e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)]
            if value.get("resourceType") == "Bundle"
            else [value]
        )
        for item in items:
            if not isinstance(item, dict) or item.get("resourceType") == "OperationOutcome":
                continue
            if isinstance(item.get("id"), str):
                seen.setdefault((str(item["resourceType"]), item["id"]), item)
            else:
                loose.append(item)
    return [*seen.values(), *loose]


# -------------------------------------------------------------------------------- builder


def parse_quantity(text: str) -> tuple[float, str]:
    """``9.2g/dL`` or ``9.2 g/dL`` → ``(9.2, "g/dL")`` with the unit in UCUM."""
    match = re.match(r"^\s*(-?\d+(?:\.\d+)?)\s*(\S.*)?$", text)
    if not match:
        raise FixtureError(f"{text!r}: expected a number and a unit, e.g. 9.2g/dL")
    return float(match.group(1)), ucum(match.group(2) or "")


def parse_bp(text: str) -> tuple[int, int]:
    match = re.match(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*(mm\[?hg\]?)?\s*$", text, re.IGNORECASE)
    if not match:
        raise FixtureError(f"{text!r}: blood pressure must look like 150/95")
    return int(match.group(1)), int(match.group(2))


def parse_gestational_age(text: str) -> int:
    """``30``, ``30+2`` or ``30w2d`` weeks(+days) → days."""
    match = re.match(r"^\s*(\d{1,2})(?:\s*(?:\+|w)\s*(\d)d?)?\s*w?\s*$", text, re.IGNORECASE)
    if not match:
        raise FixtureError(f"{text!r}: gestational age must look like 30 or 30+2")
    weeks, days = int(match.group(1)), int(match.group(2) or 0)
    if weeks > 44 or days > 6:
        raise FixtureError(f"{text!r}: gestational age out of range (0+0 to 44+6)")
    return weeks * 7 + days


def format_gestational_age(days: int) -> str:
    return f"{days // 7}+{days % 7}"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


@dataclass(frozen=True)
class Measurement:
    analyte: str
    value: float
    unit: str


@dataclass(frozen=True)
class SymptomSpec:
    name: str
    laterality: Laterality | None = None
    as_condition: bool = False


@dataclass
class PatientSpec:
    """Everything the builder needs; the CLI and the sandbox form both fill one."""

    patient_id: str = "example-patient"
    birth_years: int = 30
    gestational_age_days: int | None = None
    postpartum_days: int | None = None
    blood_pressure: tuple[int, int] | None = None
    measurements: list[Measurement] = field(default_factory=list)
    symptoms: list[SymptomSpec] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    draft_orders: list[str] = field(default_factory=list)


def iso_instant(moment: datetime) -> str:
    """``2026-11-25T10:00:00Z``: UTC, whole seconds."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(concept: Concept) -> dict[str, Any]:
    return _coding(concept.system, concept.code, concept.display)


def _category(code: str) -> list[dict[str, Any]]:
    display = {
        "laboratory": "Laboratory",
        "vital-signs": "Vital Signs",
        "exam": "Exam",
        "social-history": "Social History",
    }[code]
    return [{"coding": [_coding(OBSERVATION_CATEGORY, code, display)]}]


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": _number(value), "unit": unit, "system": UCUM, "code": unit}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


class _Ids:
    """Readable, stable resource ids (``obs-hb``, ``obs-hb-2``) unique within a request."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def __call__(self, stem: str) -> str:
        candidate, n = _slug(stem), 1
        while candidate in self.taken:
            n += 1
            candidate = f"{_slug(stem)}-{n}"
        self.taken.add(candidate)
        return candidate


def _observation(
    ident: str,
    patient_ref: str,
    category: str,
    code: Concept,
    when: datetime,
    **value: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": _category(category),
        "code": {"coding": [_concept(code)], "text": code.display},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": iso_instant(when),
        **value,
    }


def patient_resource(patient_id: str, as_of: datetime, birth_years: int = 30) -> dict[str, Any]:
    born = as_of.date().replace(year=as_of.year - birth_years, day=min(as_of.day, 28))
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "gender": "female",
        "birthDate": born.isoformat(),
    }


def pregnancy_resources(
    patient_ref: str, as_of: datetime, ga_days: int, ids: _Ids
) -> list[dict[str, Any]]:
    """Pregnancy status "Pregnant", GA in weeks and the matching EDD, recorded just now."""
    when = as_of - timedelta(minutes=20)
    edd = as_of.date() + timedelta(days=280 - ga_days)
    answer = {"coding": [_concept(PREGNANT)], "text": PREGNANT.display}
    return [
        _observation(ids("obs-pregnancy-status"), patient_ref, "social-history",
                     known.PREGNANCY_STATUS, when, valueCodeableConcept=answer),
        _observation(ids("obs-gestational-age"), patient_ref, "exam", GA_WEEKS, when,
                     valueQuantity=_quantity(round(ga_days / 7, 2), "wk")),
        _observation(ids("obs-edd"), patient_ref, "exam", EDD, when,
                     valueDateTime=edd.isoformat()),
    ]  # fmt: skip


def condition_resource(
    ident: str,
    patient_ref: str,
    code: Concept,
    onset: datetime,
    recorded: datetime,
    laterality: Laterality | None = None,
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": ident,
        "clinicalStatus": {"coding": [_coding(CONDITION_CLINICAL, "active", "Active")]},
        "verificationStatus": {
            "coding": [_coding(CONDITION_VERIFICATION, "confirmed", "Confirmed")]
        },
        "category": [
            {"coding": [_coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]}
        ],
        "code": {"coding": [_concept(code)], "text": code.display},
        "subject": {"reference": patient_ref},
        "onsetDateTime": iso_instant(onset),
        "recordedDate": iso_instant(recorded),
    }
    if laterality:
        condition["bodySite"] = [_body_site(laterality)]
    return condition


def _body_site(laterality: Laterality) -> dict[str, Any]:
    coded = LATERALITY[laterality]
    text = "both legs" if laterality == "bilateral" else f"{laterality} leg"
    return {"coding": [_concept(coded)], "text": text} if coded else {"text": text}


def postpartum_resource(patient_ref: str, as_of: datetime, days: int, ids: _Ids) -> dict[str, Any]:
    delivered = as_of - timedelta(days=days)
    recorded = delivered + timedelta(hours=6)
    return condition_resource(ids("cond-postpartum"), patient_ref, POSTPARTUM, delivered, recorded)


def blood_pressure_resource(
    patient_ref: str, when: datetime, systolic: int, diastolic: int, ident: str
) -> dict[str, Any]:
    """The BP panel 85354-9 with systolic/diastolic components (clinical.md A.2 V1)."""

    def component(concept: Concept, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [_concept(concept)], "text": concept.display},
            "valueQuantity": _quantity(value, "mm[Hg]"),
        }

    return _observation(
        ident,
        patient_ref,
        "vital-signs",
        BP_PANEL,
        when,
        component=[component(SYSTOLIC, systolic), component(DIASTOLIC, diastolic)],
    )


def measurement_resource(
    patient_ref: str, when: datetime, measurement: Measurement, ident: str
) -> dict[str, Any]:
    analyte = analyte_by_name(measurement.analyte)
    unit = ucum(measurement.unit) or ("1" if analyte.unitless_ok else "")
    concept = analyte_concept(analyte, unit)
    return _observation(
        ident,
        patient_ref,
        analyte_category(analyte),
        concept,
        when,
        valueQuantity=_quantity(measurement.value, unit),
    )


def symptom_resource(
    patient_ref: str, when: datetime, symptom: SymptomSpec, ident: str
) -> dict[str, Any]:
    """A finding as the engine reads it (clinical.md F): an Observation valued "Yes",
    or an active Condition; laterality in ``bodySite``."""
    finding = finding_by_name(symptom.name)
    laterality = symptom.laterality if finding.key in LIMB_FINDINGS or symptom.laterality else None
    concept = _emitted(finding)
    if symptom.as_condition:
        return condition_resource(ident, patient_ref, concept, when, when, laterality)
    answer = {"coding": [_concept(known.ANSWER_YES)], "text": known.ANSWER_YES.display}
    observation = _observation(
        ident, patient_ref, "exam", concept, when, valueCodeableConcept=answer
    )
    if laterality:
        observation["bodySite"] = _body_site(laterality)
    return observation


def medication_resource(
    patient_ref: str, name: str, when: datetime, ident: str, *, draft: bool = False
) -> dict[str, Any]:
    concept = medicine_by_name(name)
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": "draft" if draft else "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [_concept(concept)], "text": concept.display},
        "subject": {"reference": patient_ref},
        "authoredOn": iso_instant(when),
    }


def build_resources(spec: PatientSpec, as_of: datetime) -> list[dict[str, Any]]:
    """The patient's record (not the draft orders, which travel in the hook context)."""
    if spec.gestational_age_days is not None and spec.postpartum_days is not None:
        raise FixtureError("give either a gestational age or postpartum days, not both")
    ids = _Ids({spec.patient_id})
    ref = f"Patient/{spec.patient_id}"
    out = [patient_resource(spec.patient_id, as_of, spec.birth_years)]
    if spec.gestational_age_days is not None:
        out += pregnancy_resources(ref, as_of, spec.gestational_age_days, ids)
    if spec.postpartum_days is not None:
        out.append(postpartum_resource(ref, as_of, spec.postpartum_days, ids))
    if spec.blood_pressure:
        systolic, diastolic = spec.blood_pressure
        when = as_of - timedelta(minutes=15)
        out.append(blood_pressure_resource(ref, when, systolic, diastolic, ids("obs-bp")))
    for m in spec.measurements:
        analyte = analyte_by_name(m.analyte)
        lab = analyte_category(analyte) == "laboratory"
        when = as_of - (timedelta(hours=3) if lab else timedelta(minutes=15))
        out.append(measurement_resource(ref, when, m, ids(f"obs-{analyte.key}")))
    for s in spec.symptoms:
        finding = finding_by_name(s.name)
        stem = f"{'cond' if s.as_condition else 'obs'}-{finding.key}"
        out.append(symptom_resource(ref, as_of - timedelta(minutes=30), s, ids(stem)))
    for name in spec.medications:
        out.append(medication_resource(ref, name, as_of - timedelta(days=7), ids(f"med-{name}")))
    return out


def draft_orders_bundle(spec: PatientSpec, as_of: datetime) -> dict[str, Any]:
    ids = _Ids()
    ref = f"Patient/{spec.patient_id}"
    drafts = [
        medication_resource(ref, name, as_of, ids(f"draft-{name}"), draft=True)
        for name in spec.draft_orders
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in drafts],
    }


def _context(
    hook: str, patient_id: str, as_of: datetime, spec: PatientSpec | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example-clinician", "patientId": patient_id}
    if hook == "encounter-start":
        context["encounterId"] = f"enc-{_slug(patient_id)}"
    if hook in ("order-select", "order-sign"):
        if spec is None or not spec.draft_orders:
            raise FixtureError(f"{hook} needs at least one draft order (--draft quinine)")
        bundle = draft_orders_bundle(spec, as_of)
        context["draftOrders"] = bundle
        if hook == "order-select":
            context["selections"] = [
                f"MedicationRequest/{e['resource']['id']}" for e in bundle["entry"]
            ]
    return context


def declaration_for(
    registry: ServiceRegistry, hook: str, service: str | None
) -> ServiceDeclaration:
    """The declaration serving ``hook`` (and ``service`` when several ids serve it)."""
    matches = [
        d
        for (sid, h), d in sorted(registry.declarations.items())
        if h == hook and (service is None or sid == service)
    ]
    if not matches:
        served = ", ".join(f"{s} ({h})" for s, h in sorted(registry.declarations))
        raise FixtureError(
            f"no service for hook {hook!r}{f' and id {service!r}' if service else ''}"
            f"; declared: {served}"
        )
    return matches[0]


def build_request(
    spec: PatientSpec,
    declaration: ServiceDeclaration,
    as_of: datetime,
    hook_instance: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """A complete, postable request for ``declaration`` and the placement warnings."""
    prefetch, warnings = distribute(build_resources(spec, as_of), declaration)
    request = {
        "hook": declaration.hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": _context(declaration.hook, spec.patient_id, as_of, spec),
        "prefetch": prefetch,
    }
    return request, warnings


@dataclass(frozen=True)
class ExpectedCard:
    rule: str
    indicator: str | None = None
    orders: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ExpectedCard:
        """``R1``, ``R1:critical`` or ``R9:warning:58410-2+2276-4``."""
        rule, _, rest = text.partition(":")
        indicator, _, orders = rest.partition(":")
        if not re.match(r"^[A-Z][A-Za-z0-9]*$", rule):
            raise FixtureError(f"{text!r}: expected RULE[:indicator[:order+order]]")
        if indicator and indicator not in ("info", "warning", "critical"):
            raise FixtureError(f"{text!r}: indicator must be info, warning or critical")
        return cls(rule, indicator or None, tuple(o for o in orders.split("+") if o))

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule}
        if self.indicator:
            out["indicator"] = self.indicator
        if self.orders:
            out["orders"] = list(self.orders)
        return out


def expect_document(
    declaration: ServiceDeclaration,
    as_of: datetime,
    description: str,
    cards: Sequence[ExpectedCard] = (),
    absent_rules: Sequence[str] = (),
    exact: bool = False,
) -> dict[str, Any]:
    return {
        "service": declaration.id,
        "asOf": iso_instant(as_of),
        "description": description,
        "cards": [c.wire() for c in cards],
        "absentRules": list(absent_rules),
        "exactCards": exact,
    }


def write_fixture(
    folder: Path, request: Mapping[str, Any], expect: Mapping[str, Any], *, overwrite: bool = False
) -> None:
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FixtureError(f"{folder} exists and is not empty (use --force to overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in (("request.json", request), ("expect.json", expect)):
        (folder / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")


# ------------------------------------------------------------ key values (sandbox form)


@dataclass
class KeyValues:
    """The values a person edits in the sandbox form, read from / written to a request.

    ``ref`` (``Observation/obs-hb``) ties a row to the resource it came from, so an
    edit changes that resource in place; a row without ``ref`` is new; a resource
    whose row disappeared is removed.
    """

    gestational_age: str | None = None
    postpartum_days: int | None = None
    blood_pressure: str | None = None
    blood_pressure_ref: str | None = None
    measurements: list[dict[str, Any]] = field(default_factory=list)
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    draft_orders: list[str] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        return {
            "gestationalAge": self.gestational_age,
            "postpartumDays": self.postpartum_days,
            "bloodPressure": self.blood_pressure,
            "bloodPressureRef": self.blood_pressure_ref,
            "measurements": self.measurements,
            "symptoms": self.symptoms,
            "draftOrders": self.draft_orders,
        }


def _ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _when(resource: Mapping[str, Any]) -> str:
    for key in ("effectiveDateTime", "onsetDateTime", "recordedDate", "issued", "authoredOn"):
        value = resource.get(key)
        if isinstance(value, str):
            return value
    period = resource.get("effectivePeriod") or {}
    return str(period.get("start") or "")


def _latest(resources: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    ordered = sorted(resources, key=_when)
    return ordered[-1] if ordered else None


def _code_keys(resource: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (str(canonical_system(c.get("system"))), str(c.get("code")))
        for c in _codings(resource.get("code"))
    }


def _has(resource: Mapping[str, Any], *concepts: Concept) -> bool:
    return bool(_code_keys(resource) & {c.key for c in concepts})


def _is_obs(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "Observation"


def _symptom_present(resource: Mapping[str, Any]) -> bool:
    if resource.get("resourceType") == "Condition":
        status = {str(c.get("code")) for c in _codings(resource.get("clinicalStatus"))}
        return not status or bool(status & {"active", "recurrence", "relapse"})
    if resource.get("valueBoolean") is False:
        return False
    answer = {str(c.get("code")) for c in _codings(resource.get("valueCodeableConcept"))}
    return known.ANSWER_NO.code not in answer


def _laterality_of(resource: Mapping[str, Any]) -> str | None:
    sites = resource.get("bodySite")
    sites = sites if isinstance(sites, list) else [sites] if isinstance(sites, dict) else []
    for site in sites:
        for coding in _codings(site):
            for name, coded in LATERALITY.items():
                if coded and coding.get("code") == coded.code:
                    return name
        text = str(site.get("text") or "").lower()
        for name in ("left", "right"):
            if name in text:
                return name
        if "both" in text or "bilateral" in text:
            return "bilateral"
    return None


def _bp_value(resource: Mapping[str, Any]) -> tuple[Any, Any]:
    systolic = diastolic = None
    for component in resource.get("component") or []:
        value = (component.get("valueQuantity") or {}).get("value")
        if _has(component, SYSTOLIC):
            systolic = value
        if _has(component, DIASTOLIC):
            diastolic = value
    return systolic, diastolic


def extract_key_values(request: Mapping[str, Any], now: datetime) -> KeyValues:
    """The form's view of a request: GA (as of ``now``), latest BP, measurements, symptoms."""
    resources = prefetch_resources(request.get("prefetch"))
    kv = KeyValues()
    ga = _latest(
        r for r in resources
        if _is_obs(r) and _has(r, *known.GESTATIONAL_AGE.concepts)
        and isinstance((r.get("valueQuantity") or {}).get("value"), int | float)
    )  # fmt: skip
    edd = _latest(r for r in resources if _is_obs(r) and _has(r, *known.EDD.concepts))
    if ga is not None:
        quantity = ga["valueQuantity"]
        per_unit = 1 if quantity.get("code") == "d" or quantity.get("unit") == "d" else 7
        recorded = parse_instant(_when(ga)) if _when(ga) else now
        days = round(quantity["value"] * per_unit) + max(0, (now - recorded).days)
        kv.gestational_age = format_gestational_age(days)
    elif edd is not None and isinstance(edd.get("valueDateTime"), str):
        due = date.fromisoformat(edd["valueDateTime"][:10])
        kv.gestational_age = format_gestational_age(280 - (due - now.date()).days)
    postpartum = _latest(
        r for r in resources if r.get("resourceType") == "Condition" and _has(r, POSTPARTUM)
    )
    if postpartum is not None and _when(postpartum):
        kv.postpartum_days = max(0, (now - parse_instant(_when(postpartum))).days)
    bp = _latest(r for r in resources if _is_obs(r) and _has(r, BP_PANEL))
    if bp is not None:
        systolic, diastolic = _bp_value(bp)
        if systolic is not None and diastolic is not None:
            kv.blood_pressure = f"{_number(systolic)}/{_number(diastolic)}"
            kv.blood_pressure_ref = _ref(bp)
    for resource in sorted(resources, key=_when):
        if not _is_obs(resource):
            continue
        analyte = next(
            (ANALYTE_BY_CODE[k] for k in _code_keys(resource) if k in ANALYTE_BY_CODE), None
        )
        quantity = resource.get("valueQuantity") or {}
        if analyte is None or analyte in _BP_COMPONENTS:
            continue
        if not isinstance(quantity.get("value"), int | float):
            continue
        kv.measurements.append(
            {
                "ref": _ref(resource),
                "analyte": short_name(analyte),
                "value": quantity["value"],
                "unit": quantity.get("code") or quantity.get("unit") or "",
                "when": _when(resource),
            }
        )
    for resource in sorted(resources, key=_when):
        if resource.get("resourceType") not in ("Observation", "Condition"):
            continue
        finding = next(
            (FINDING_BY_CODE[k] for k in _code_keys(resource) if k in FINDING_BY_CODE), None
        )
        if finding is None or not _symptom_present(resource):
            continue
        kv.symptoms.append(
            {
                "ref": _ref(resource),
                "name": finding,
                "laterality": _laterality_of(resource),
                "asCondition": resource.get("resourceType") == "Condition",
                "when": _when(resource),
            }
        )
    drafts = ((request.get("context") or {}).get("draftOrders") or {}).get("entry") or []
    for entry in drafts:
        draft = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(draft, dict):
            continue
        for coding in _codings(draft.get("medicationCodeableConcept")):
            if coding.get("system") == RXNORM and coding.get("code") in _MEDICINE_BY_CODE:
                kv.draft_orders.append(_MEDICINE_BY_CODE[str(coding["code"])])
    return kv


def key_values_from_wire(data: Mapping[str, Any]) -> KeyValues:
    def rows(name: str) -> list[dict[str, Any]]:
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise FixtureError(f"{name} must be a list of objects")
        return list(value)

    postpartum = data.get("postpartumDays")
    if postpartum is not None and (not isinstance(postpartum, int) or postpartum < 0):
        raise FixtureError("postpartumDays must be a whole number of days ≥ 0")
    drafts = data.get("draftOrders") or []
    if not isinstance(drafts, list) or not all(isinstance(d, str) for d in drafts):
        raise FixtureError("draftOrders must be a list of medicine names")
    return KeyValues(
        gestational_age=(str(data["gestationalAge"]).strip() or None)
        if data.get("gestationalAge") is not None
        else None,
        postpartum_days=postpartum,
        blood_pressure=(str(data["bloodPressure"]).strip() or None)
        if data.get("bloodPressure") is not None
        else None,
        blood_pressure_ref=data.get("bloodPressureRef") or None,
        measurements=rows("measurements"),
        symptoms=rows("symptoms"),
        draft_orders=list(drafts),
    )


def _patient_id(request: Mapping[str, Any]) -> str:
    patient = (request.get("context") or {}).get("patientId")
    if not isinstance(patient, str) or not patient:
        raise FixtureError("context.patientId is required to edit the patient")
    return patient


def apply_key_values(
    request: Mapping[str, Any],
    edited: KeyValues,
    declaration: ServiceDeclaration,
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """``request`` with the form's edits applied, re-targeted at ``declaration``.

    Only what changed is rewritten; new data is recorded at ``now``. Prefetch keys
    that were absent (to be fetched) or held an OperationOutcome (an EHR-side error)
    stay so; the others are rebuilt from the edited record.
    """
    out: dict[str, Any] = json.loads(json.dumps(request))
    patient_id = _patient_id(out)
    ref = f"Patient/{patient_id}"
    current = extract_key_values(out, now)
    resources = prefetch_resources(out.get("prefetch"))
    by_ref = {_ref(r): r for r in resources}
    ids = _Ids(str(r.get("id")) for r in resources)
    drop: set[str] = set()
    added: list[dict[str, Any]] = []

    if edited.gestational_age != current.gestational_age:
        drop |= {
            _ref(r)
            for r in resources
            if _is_obs(r)
            and _has(
                r,
                known.PREGNANCY_STATUS,
                *known.GESTATIONAL_AGE.concepts,
                *known.EDD.concepts,
            )
        }
        if edited.gestational_age:
            added += pregnancy_resources(
                ref, now, parse_gestational_age(edited.gestational_age), ids
            )
    if edited.postpartum_days != current.postpartum_days:
        drop |= {_ref(r) for r in resources if _has(r, POSTPARTUM)}
        if edited.postpartum_days is not None:
            added.append(postpartum_resource(ref, now, edited.postpartum_days, ids))
    if edited.blood_pressure != current.blood_pressure:
        target = by_ref.get(edited.blood_pressure_ref or current.blood_pressure_ref or "")
        if edited.blood_pressure:
            systolic, diastolic = parse_bp(edited.blood_pressure)
            fresh = blood_pressure_resource(
                ref,
                now - timedelta(minutes=5),
                systolic,
                diastolic,
                ident=str(target["id"]) if target else ids("obs-bp"),
            )
            if target is not None:
                target["component"] = fresh["component"]
            else:
                added.append(fresh)
        elif target is not None:
            drop.add(_ref(target))

    kept_rows = {str(r.get("ref")) for r in edited.measurements if r.get("ref")}
    drop |= {m["ref"] for m in current.measurements if m["ref"] not in kept_rows}
    for row in edited.measurements:
        value = row.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise FixtureError(f"{row.get('analyte')}: value must be a number")
        m = Measurement(str(row.get("analyte") or ""), float(value), str(row.get("unit") or ""))
        target = by_ref.get(str(row.get("ref") or ""))
        if target is not None:
            analyte = analyte_by_name(m.analyte)
            fresh = measurement_resource(ref, now, m, str(target["id"]))
            target["code"], target["valueQuantity"] = fresh["code"], fresh["valueQuantity"]
            target["category"] = _category(analyte_category(analyte))
        else:
            stem = f"obs-{analyte_by_name(m.analyte).key}"
            added.append(measurement_resource(ref, now - timedelta(minutes=10), m, ids(stem)))

    kept_rows = {str(r.get("ref")) for r in edited.symptoms if r.get("ref")}
    drop |= {s["ref"] for s in current.symptoms if s["ref"] not in kept_rows}
    for row in edited.symptoms:
        laterality = row.get("laterality") or None
        if laterality not in (None, "left", "right", "bilateral"):
            raise FixtureError("laterality must be left, right or bilateral")
        symptom = SymptomSpec(str(row.get("name") or ""), laterality, bool(row.get("asCondition")))
        target = by_ref.get(str(row.get("ref") or ""))
        if target is not None:
            as_condition = target.get("resourceType") == "Condition"
            symptom = SymptomSpec(symptom.name, symptom.laterality, as_condition)
            fresh = symptom_resource(ref, now, symptom, str(target["id"]))
            target["code"] = fresh["code"]
            target.pop("bodySite", None)
            if "bodySite" in fresh:
                target["bodySite"] = fresh["bodySite"]
        else:
            finding = finding_by_name(symptom.name)
            stem = f"{'cond' if symptom.as_condition else 'obs'}-{finding.key}"
            added.append(symptom_resource(ref, now - timedelta(minutes=10), symptom, ids(stem)))

    record = [r for r in resources if _ref(r) not in drop] + added
    prefetch, warnings = distribute(record, declaration)
    previous: dict[str, Any] = out["prefetch"] if isinstance(out.get("prefetch"), dict) else {}
    same_hook = out.get("hook") == declaration.hook
    for key in list(prefetch):
        old = previous.get(key)
        if same_hook and key not in previous:
            # Absent stays absent: the service fetches it from fhirServer (spec R-8).
            if prefetch.pop(key) is not None:
                warnings.append(
                    f"prefetch key {key!r} is absent (the service fetches it from fhirServer), "
                    "so the form's data for it is not sent; add the key to send it"
                )
        elif isinstance(old, dict) and old.get("resourceType") == "OperationOutcome":
            prefetch[key] = old
    out["prefetch"] = prefetch
    out["hook"] = declaration.hook
    out["context"] = _retarget_context(out, declaration.hook, edited, current, now)
    if declaration.hook in ("order-select", "order-sign") and not edited.draft_orders:
        warnings.append(f"{declaration.hook} needs at least one draft order")
    return out, warnings


def _retarget_context(
    request: Mapping[str, Any], hook: str, edited: KeyValues, current: KeyValues, now: datetime
) -> dict[str, Any]:
    """The context ``hook`` needs: an encounter for encounter-start, draft orders (and
    selections for order-select) for the order hooks."""
    context = dict(request.get("context") or {})
    patient_id = _patient_id(request)
    if hook == "encounter-start" and not context.get("encounterId"):
        context["encounterId"] = f"enc-{_slug(patient_id)}"
    if hook not in ("order-select", "order-sign"):
        return context
    changed = edited.draft_orders != current.draft_orders or "draftOrders" not in context
    if changed and edited.draft_orders:
        drafts = PatientSpec(patient_id=patient_id, draft_orders=edited.draft_orders)
        context.update(_context(hook, patient_id, now, drafts))
    if hook == "order-sign":
        context.pop("selections", None)
    elif isinstance(context.get("draftOrders"), dict) and not context.get("selections"):
        context["selections"] = [
            f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}"
            for e in context["draftOrders"].get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return context


def vocabulary() -> dict[str, Any]:
    """The builder's words, for the sandbox form's pickers and ``fixtures new --help``."""
    return {
        "measurements": [
            {
                "name": short_name(a.key),
                "label": a.label,
                "units": list(analyte_units(a)),
                "category": analyte_category(a),
            }
            for a in ANALYTES.values()
            if a.key not in _BP_COMPONENTS and a.kind == "quantity"
        ],
        "symptoms": [
            {"name": f.key, "label": f.label, "limb": f.key in LIMB_FINDINGS}
            for f in FINDINGS.values()
        ],
        "medicines": sorted(MEDICINES),
    }
