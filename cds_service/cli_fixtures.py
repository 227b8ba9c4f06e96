"""``cds-service evaluate`` and ``cds-service fixtures``: run fixtures, make fixtures.

``evaluate FIXTURE`` runs one fixture through the app in-process and renders its cards
(colour by indicator); ``evaluate FOLDER`` runs every fixture in the folder and shows
a table fixture → cards → expected → pass/fail (exit 1 on any failure). Fixture dates
are shifted to "now" (or to ``--as-of``), see :mod:`cds_service.fixture_kit`.

``fixtures new`` writes a valid request + ``expect.json`` skeleton from a few words;
``fixtures list`` lists a folder's fixtures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cds_service import fixture_kit as kit
from cds_service.settings import Settings

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from cds_service.services import ServiceRegistry

STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "bold blue"}
BADGE = {"critical": "white on red", "warning": "black on yellow", "info": "white on blue"}


# ------------------------------------------------------------------------------ running


@dataclass
class Outcome:
    """One fixture's run: what came back and how it compares with ``expect.json``."""

    name: str
    service: str
    hook: str
    status: int
    response: dict[str, Any]
    expect: dict[str, Any] | None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == 200 and not self.failures

    def wire(self) -> dict[str, Any]:
        return {
            "fixture": self.name,
            "service": self.service,
            "hook": self.hook,
            "status": self.status,
            "passed": self.passed,
            "failures": self.failures,
            "cards": [
                {"indicator": c.indicator, "rule": c.rule, "summary": c.summary}
                for c in kit.card_views(self.response)
            ],
        }


@contextmanager
def _app(moment: datetime) -> Iterator[tuple[TestClient, ServiceRegistry]]:
    from fastapi.testclient import TestClient

    from cds_service.api.app import create_app

    # In-memory store: cards evaluated from a fixture must not count in feedback-report.
    settings = Settings().model_copy(update={"database_url": "sqlite://"})
    app = create_app(settings, clock=lambda: moment)
    with TestClient(app) as client:
        yield client, app.state.cds.registry


def _run(client: TestClient, name: str, service: str, body: Any, expect: Any) -> Outcome:
    response = client.post(f"/cds-services/{service}", json=body)
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text}
    hook = body.get("hook", "") if isinstance(body, dict) else ""
    outcome = Outcome(name, service, str(hook), response.status_code, payload, expect)
    if response.status_code != 200:
        outcome.failures.append(f"HTTP {response.status_code}: {_diagnostics(payload)}")
    elif expect is not None:
        outcome.failures = kit.check_expectations(expect, payload)
    return outcome


def _diagnostics(payload: Any) -> str:
    issues = payload.get("issue") if isinstance(payload, dict) else None
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        return str(issues[0].get("diagnostics") or issues[0].get("code") or "")
    return json.dumps(payload)[:200]


def _raw_request(path: Path, registry: ServiceRegistry) -> tuple[str, dict[str, Any]]:
    """A bare request file (no expect.json): the service comes from ``_serviceId`` or the hook."""
    body = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(body, dict):
        raise kit.FixtureError(f"{path}: must hold a JSON object")
    service = body.pop("_serviceId", None)
    if not isinstance(service, str):
        service = kit.declaration_for(registry, str(body.get("hook")), None).id
    return service, body


def cmd_evaluate(args: argparse.Namespace) -> int:
    target = Path(args.fixture)
    moment = args.as_of or datetime.now(UTC).replace(microsecond=0)
    console = Console(highlight=False)
    try:
        if target.is_dir() and not (target / "request.json").is_file():
            return _evaluate_folder(target, moment, args.json, console)
        with _app(moment) as (client, registry):
            if (target.is_dir() or target.name == "request.json") and kit.is_fixture_dir(
                target if target.is_dir() else target.parent
            ):
                fixture = kit.load_fixture(target)
                body = kit.shifted_request(fixture, moment)
                outcome = _run(client, fixture.id, fixture.service, body, fixture.expect)
                shifted = fixture.as_of != moment
            else:
                service, body = _raw_request(target, registry)
                outcome = _run(client, target.name, service, body, None)
                shifted = False
    except (kit.FixtureError, OSError, json.JSONDecodeError) as exc:
        print(f"cannot evaluate {target}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(outcome.response, indent=2))
    else:
        render_outcome(console, outcome, moment if shifted else None)
    return 0 if outcome.passed else 1


def _evaluate_folder(folder: Path, moment: datetime, as_json: bool, console: Console) -> int:
    fixtures, problems = kit.scan_fixtures(folder)
    if not fixtures and not problems:
        print(
            f"no fixtures in {folder} (a fixture is a folder with request.json and expect.json)",
            file=sys.stderr,
        )
        return 2
    with _app(moment) as (client, _):
        outcomes = [
            _run(client, f.id, f.service, kit.shifted_request(f, moment), f.expect)
            for f in fixtures
        ]
    if as_json:
        report = {"outcomes": [o.wire() for o in outcomes], "problems": problems}
        print(json.dumps(report, indent=2))
    else:
        console.print(results_table(outcomes, moment))
        for problem in problems:
            console.print(Text(f"unreadable fixture: {problem}", style="red"))
        failed = sum(not o.passed for o in outcomes) + len(problems)
        style = "bold red" if failed else "bold green"
        passed = sum(o.passed for o in outcomes)
        console.print(
            Text(f"{len(outcomes)} fixtures: {passed} passed, {failed} failed", style=style)
        )
    return 1 if problems or any(not o.passed for o in outcomes) else 0


# ---------------------------------------------------------------------------- rendering


def _indicator(indicator: str) -> Text:
    return Text(f" {indicator.upper()} ", style=BADGE.get(indicator, "reverse"))


def _action_text(action: dict[str, Any]) -> str:
    if action.get("type") == "delete":
        return f"remove {action.get('resourceId', 'the draft order')}"
    resource = action.get("resource") or {}
    codings = (resource.get("code") or {}).get("coding") or []
    codes = ", ".join(f"{c.get('code')} {c.get('display', '')}".strip() for c in codings)
    return f"{action.get('type')} {resource.get('resourceType', '')}: {codes}".rstrip(": ")


def render_card(card: dict[str, Any]) -> Panel:
    indicator = str(card.get("indicator"))
    parts: list[Any] = [Text(str(card.get("summary", "")), style="bold")]
    if card.get("detail"):
        parts += [Text(""), Markdown(str(card["detail"]))]
    source = card.get("source") or {}
    line = Text("Source: ", style="dim")
    line.append(str(source.get("label", "")))
    if source.get("url"):
        line.append(f"  {source['url']}", style="underline blue")
    parts += [Text(""), line]
    suggestions = card.get("suggestions") or []
    if suggestions:
        parts.append(Text(f"Suggestions ({card.get('selectionBehavior', 'any')}):", style="dim"))
        for suggestion in suggestions:
            label = Text("  ▸ ")
            label.append(str(suggestion.get("label", "")), style="bold")
            if suggestion.get("isRecommended"):
                label.append("  (recommended)", style="green")
            parts.append(label)
            for action in suggestion.get("actions") or []:
                parts.append(Text(f"      {_action_text(action)}", style="dim"))
    reasons = [r.get("display") or r.get("code") for r in card.get("overrideReasons") or []]
    if reasons:
        parts.append(Text("Override reasons: " + " · ".join(map(str, reasons)), style="dim"))
    title = _indicator(indicator)
    rule = kit.card_rule(card)
    topic = (source.get("topic") or {}).get("display")
    if rule:
        title.append(f" {rule}" + (f" · {topic}" if topic else ""), style=STYLE.get(indicator, ""))
    return Panel(
        Group(*parts),
        title=title,
        title_align="left",
        border_style=STYLE.get(indicator, "white").replace("bold ", ""),
    )


def render_outcome(console: Console, outcome: Outcome, shifted_to: datetime | None) -> None:
    head = Text(f"{outcome.name}", style="bold")
    head.append(f"  {outcome.service} · {outcome.hook}", style="dim")
    if shifted_to is not None:
        head.append(f"  (dates shifted to {kit.iso_instant(shifted_to)})", style="dim")
    console.print(head)
    if outcome.status != 200:
        console.print(Text(f"HTTP {outcome.status}", style="bold red"))
        console.print_json(data=outcome.response)
        return
    cards = outcome.response.get("cards") or []
    if not cards:
        console.print(Text("No cards (no advice for this patient).", style="dim"))
    for card in cards:
        console.print(render_card(card))
    if outcome.expect is not None:
        wanted = _expected_text(outcome.expect)
        if outcome.failures:
            console.print(Text(f"✗ expected {wanted}", style="bold red"))
            for failure in outcome.failures:
                console.print(Text(f"  - {failure}", style="red"))
        else:
            console.print(Text(f"✓ matches expect.json ({wanted})", style="bold green"))


def _cards_text(response: dict[str, Any]) -> Text:
    text = Text()
    for index, card in enumerate(kit.card_views(response)):
        if index:
            text.append(", ")
        text.append(f"{card.rule or '?'} {card.indicator}", style=STYLE.get(card.indicator, ""))
    return text if text.plain else Text("none", style="dim")


def _expected_text(expect: dict[str, Any]) -> str:
    wanted = [
        f"{c.get('rule')} {c.get('indicator') or ''}".strip()
        + (f" +{len(c['orders'])} orders" if c.get("orders") else "")
        for c in expect.get("cards") or []
    ]
    absent = [f"no {rule}" for rule in expect.get("absentRules") or []]
    text = ", ".join(wanted + absent) or "no clinical card"
    return text + (" (exact)" if expect.get("exactCards") else "")


def results_table(outcomes: Sequence[Outcome], moment: datetime) -> Table:
    table = Table(title=f"Fixtures evaluated as of {kit.iso_instant(moment)}", expand=False)
    table.add_column("Fixture", overflow="fold")
    table.add_column("Service · hook", overflow="fold", style="dim")
    table.add_column("Cards", overflow="fold")
    table.add_column("Expected", overflow="fold")
    table.add_column("Result", overflow="fold")
    for o in outcomes:
        result = Text("pass", style="bold green") if o.passed else Text("fail", style="bold red")
        for failure in o.failures:
            result.append(f"\n{failure}", style="red")
        expected = _expected_text(o.expect) if o.expect is not None else ""
        table.add_row(o.name, f"{o.service} · {o.hook}", _cards_text(o.response), expected, result)
    return table


# ------------------------------------------------------------------------------ fixtures


def cmd_fixtures_list(args: argparse.Namespace) -> int:
    folder = Path(args.folder) if args.folder else Settings().fixtures_dir
    fixtures, problems = kit.scan_fixtures(folder)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": f.id,
                        "service": f.service,
                        "hook": f.hook,
                        "worst": f.worst_expected,
                        "description": f.description,
                    }
                    for f in fixtures
                ],
                indent=2,
            )
        )
        return 0
    console = Console(highlight=False)
    table = Table(title=f"{len(fixtures)} fixtures in {folder}")
    table.add_column("Fixture", overflow="fold")
    table.add_column("Service · hook", style="dim", overflow="fold")
    table.add_column("Expects", overflow="fold")
    table.add_column("Description", overflow="fold")
    for f in fixtures:
        worst = f.worst_expected
        expects = Text(worst or "no card", style=STYLE.get(worst or "", "dim"))
        table.add_row(f.id, f"{f.service} · {f.hook}", expects, f.description)
    console.print(table)
    for problem in problems:
        console.print(Text(f"unreadable fixture: {problem}", style="red"))
    return 1 if problems else 0


def _spec(args: argparse.Namespace) -> kit.PatientSpec:
    measurements: list[kit.Measurement] = []
    for name in kit.SHORT_NAMES:
        for raw in getattr(args, "m_" + name.replace("-", "_")) or []:
            value, unit = kit.parse_quantity(raw)
            measurements.append(kit.Measurement(name, value, unit))
    for raw in args.lab or []:
        name, sep, quantity = raw.partition("=")
        if not sep:
            raise kit.FixtureError(f"--lab {raw!r}: expected NAME=VALUEUNIT, e.g. ferritin=12ug/L")
        value, unit = kit.parse_quantity(quantity)
        measurements.append(kit.Measurement(name, value, unit))
    symptoms = [_symptom(raw, args.laterality, False) for raw in args.symptom or []]
    symptoms += [_symptom(raw, args.laterality, True) for raw in args.condition or []]
    return kit.PatientSpec(
        patient_id=args.patient_id,
        birth_years=args.age,
        gestational_age_days=kit.parse_gestational_age(args.ga) if args.ga else None,
        postpartum_days=args.postpartum_days,
        blood_pressure=kit.parse_bp(args.bp) if args.bp else None,
        measurements=measurements,
        symptoms=symptoms,
        medications=list(args.medication or []),
        draft_orders=list(args.draft or []),
    )


def _symptom(raw: str, laterality: str | None, as_condition: bool) -> kit.SymptomSpec:
    """``leg-swelling`` or ``leg-swelling:left`` (a per-symptom side wins over --laterality)."""
    name, _, side = raw.partition(":")
    chosen = side or laterality
    if chosen not in (None, "left", "right", "bilateral"):
        raise kit.FixtureError(f"{raw!r}: side must be left, right or bilateral")
    finding = kit.finding_by_name(name)
    if chosen and not side and finding.key not in kit.LIMB_FINDINGS:
        chosen = None  # --laterality applies to leg findings only
    return kit.SymptomSpec(name, chosen, as_condition)  # type: ignore[arg-type]


def cmd_fixtures_new(args: argparse.Namespace) -> int:
    from cds_service.knowledge.prefetch_sets import expand_code_set
    from cds_service.services import ServiceRegistry

    settings = Settings()
    as_of = args.as_of or datetime.now(UTC).replace(microsecond=0)
    try:
        registry = ServiceRegistry.from_directory(settings.hooks_dir, expand_code_set)
        declaration = kit.declaration_for(registry, args.hook, args.service)
        spec = _spec(args)
        request, warnings = kit.build_request(spec, declaration, as_of)
        expected = [kit.ExpectedCard.parse(e) for e in args.expect or []]
        description = args.description or _describe(spec, declaration.hook)
        expect = kit.expect_document(
            declaration, as_of, description, expected, args.absent or [], args.exact
        )
        out = Path(args.out)
        kit.write_fixture(out, request, expect, overwrite=args.force)
    except kit.FixtureError as exc:
        print(f"cannot build the fixture: {exc}", file=sys.stderr)
        return 2
    console = Console(highlight=False)
    for warning in warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    filled = [k for k, v in request["prefetch"].items() if v is not None]
    console.print(Text(f"wrote {out}/request.json and expect.json", style="bold green"))
    console.print(
        f"  {declaration.id} · {declaration.hook}; prefetch filled: {', '.join(filled)}; "
        f"others null. asOf {expect['asOf']}."
    )
    console.print(f"  next: cds-service evaluate {out}")
    if not expected:
        console.print(
            Text(
                "  expect.json lists no cards yet: add --expect R1:critical "
                "(or edit it) so that `evaluate` can check the result.",
                style="dim",
            )
        )
    return 0


def _describe(spec: kit.PatientSpec, hook: str) -> str:
    bits: list[str] = []
    if spec.gestational_age_days is not None:
        bits.append(f"{kit.format_gestational_age(spec.gestational_age_days)} weeks")
    if spec.postpartum_days is not None:
        bits.append(f"postpartum day {spec.postpartum_days}")
    if spec.blood_pressure:
        bits.append(f"BP {spec.blood_pressure[0]}/{spec.blood_pressure[1]}")
    bits += [f"{m.analyte} {m.value:g} {m.unit}" for m in spec.measurements]
    bits += [s.name + (f" ({s.laterality})" if s.laterality else "") for s in spec.symptoms]
    bits += [f"on {m}" for m in spec.medications] + [f"draft {d}" for d in spec.draft_orders]
    return f"{hook}: " + (", ".join(bits) or "pregnancy status unknown")


# -------------------------------------------------------------------------------- parser


def _instant(text: str) -> datetime:
    try:
        return kit.parse_instant(text, "--as-of")
    except kit.FixtureError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(sub: Any) -> None:
    """Register ``evaluate`` and ``fixtures`` on the ``cds-service`` sub-parsers."""
    evaluate = sub.add_parser(
        "evaluate",
        help="run a fixture (or every fixture in a folder) through the app in-process",
        description="Render the cards for a fixture, or a pass/fail table for a folder. "
        "Fixture dates are shifted so that the fixture's asOf is now (or --as-of).",
    )
    evaluate.add_argument(
        "fixture", help="fixture folder, request JSON file, or a folder of fixtures"
    )
    evaluate.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    evaluate.add_argument(
        "--as-of",
        type=_instant,
        metavar="ISO",
        help="evaluate as of this instant (the fixture's asOf: no date shift)",
    )
    evaluate.set_defaults(func=cmd_evaluate)

    fixtures = sub.add_parser("fixtures", help="list or build fixtures")
    commands = fixtures.add_subparsers(dest="fixtures_command", required=True)
    listing = commands.add_parser("list", help="list the fixtures in a folder")
    listing.add_argument("folder", nargs="?", help="default: CDS_FIXTURES_DIR (fixtures/)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_fixtures_list)

    new = commands.add_parser(
        "new",
        help="write a valid request + expect.json from a few values",
        description="Build a complete CDS Hooks request (FHIR R4 resources with LOINC/UCUM and "
        "SNOMED CT codes, every prefetch key of the service filled) and an expect.json skeleton. "
        "Example: cds-service fixtures new --ga 30 --hb 9.2g/dL --bp 150/95 "
        "--symptom leg-cramp --laterality left --out fixtures/my-case",
    )
    new.add_argument("--out", required=True, help="fixture folder to write")
    new.add_argument(
        "--hook",
        default="patient-view",
        choices=["patient-view", "encounter-start", "order-select", "order-sign"],
    )
    new.add_argument("--service", help="service id (default: the one serving --hook)")
    new.add_argument("--patient-id", default="example-patient")
    new.add_argument("--age", type=int, default=30, help="age in years (default 30)")
    new.add_argument("--as-of", type=_instant, metavar="ISO", help="default: now")
    new.add_argument("--description")
    pregnancy = new.add_argument_group("pregnancy")
    pregnancy.add_argument("--ga", metavar="WEEKS[+DAYS]", help="gestational age, e.g. 30 or 30+2")
    pregnancy.add_argument("--postpartum-days", type=int, metavar="N")
    findings = new.add_argument_group("vitals, labs and findings")
    findings.add_argument("--bp", metavar="SYS/DIA", help="blood pressure in mmHg, e.g. 150/95")
    vocabulary = {a["name"]: a for a in kit.vocabulary()["measurements"]}
    for name, key in kit.SHORT_NAMES.items():
        units = ", ".join(vocabulary[name]["units"]) if name in vocabulary else ""
        findings.add_argument(
            f"--{name}",
            dest="m_" + name.replace("-", "_"),
            action="append",
            metavar="VALUEUNIT",
            # argparse %-formats help strings: escape units such as "%".
            help=f"{key.replace('_', ' ')} ({units})".replace("%", "%%"),
        )
    findings.add_argument(
        "--lab",
        action="append",
        metavar="NAME=VALUEUNIT",
        help="any other measurement, e.g. ferritin=12ug/L",
    )
    findings.add_argument(
        "--symptom",
        action="append",
        metavar="NAME[:SIDE]",
        help="a finding recorded as an Observation, e.g. seizure, leg-cramp:left",
    )
    findings.add_argument(
        "--condition",
        action="append",
        metavar="NAME[:SIDE]",
        help="a finding recorded as an active Condition, e.g. pre-eclampsia",
    )
    findings.add_argument(
        "--laterality", choices=["left", "right", "bilateral"], help="side of the leg findings"
    )
    findings.add_argument(
        "--medication",
        action="append",
        metavar="NAME",
        help="an active MedicationRequest, e.g. furosemide",
    )
    findings.add_argument(
        "--draft",
        action="append",
        metavar="NAME",
        help="a draft MedicationRequest (order hooks), e.g. quinine",
    )
    expect = new.add_argument_group("expect.json")
    expect.add_argument(
        "--expect",
        action="append",
        metavar="RULE[:INDICATOR[:ORDER+ORDER]]",
        help="a card that must come back, e.g. R1:critical",
    )
    expect.add_argument(
        "--absent", action="append", metavar="RULE", help="a rule that must not fire"
    )
    expect.add_argument("--exact", action="store_true", help="no other clinical cards may appear")
    new.add_argument("--force", action="store_true", help="overwrite a non-empty --out folder")
    new.set_defaults(func=cmd_fixtures_new)
