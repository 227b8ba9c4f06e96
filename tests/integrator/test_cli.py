"""``cds-service evaluate`` (one fixture, a folder) and ``cds-service fixtures new|list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.text import Text

from cds_service import fixture_kit as kit
from cds_service.cli import build_parser, main
from cds_service.cli_fixtures import render_card
from cds_service.services import ServiceRegistry
from cds_service.wire import CdsRequest
from tests.integrator.conftest import write_case

AS_OF = "--as-of=2026-11-25T10:00:00Z"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")


def test_fixtures_new_writes_a_complete_postable_fixture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: ServiceRegistry
) -> None:
    out = tmp_path / "my-case"
    code = main([
        "fixtures", "new", "--ga", "30", "--hb", "9.2g/dL", "--bp", "150/95",
        "--k", "3.1mmol/L", "--symptom", "leg-cramp", "--symptom", "seizure",
        "--laterality", "left", "--hook", "patient-view", "--out", str(out),
        "--expect", "R1:critical", AS_OF,
    ])  # fmt: skip
    assert code == 0
    assert f"wrote {out}/request.json" in capsys.readouterr().out
    fixture = kit.load_fixture(out)
    assert fixture.service == "prenatal-cramps-convulsions"
    assert fixture.expect == {
        "service": "prenatal-cramps-convulsions",
        "asOf": "2026-11-25T10:00:00Z",
        "description": "patient-view: 30+0 weeks, BP 150/95, hb 9.2 g/dL, k 3.1 mmol/L, "
        "leg-cramp (left), seizure",
        "cards": [{"rule": "R1", "indicator": "critical"}],
        "absentRules": [],
        "exactCards": False,
    }
    CdsRequest.model_validate(fixture.request).typed_context()
    declaration = kit.declaration_for(registry, "patient-view", None)
    assert set(fixture.request["prefetch"]) == set(declaration.prefetch)
    findings = fixture.request["prefetch"]["findings"]["entry"]
    cramp = next(e["resource"] for e in findings if e["resource"]["id"] == "obs-leg-cramp")
    assert cramp["bodySite"]["text"] == "left leg"
    seizure = next(e["resource"] for e in findings if e["resource"]["id"] == "obs-seizure")
    assert "bodySite" not in seizure  # --laterality applies to leg findings only


def test_fixtures_new_refuses_bad_input_and_existing_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fixtures", "new", "--hb", "9.2mmHg", "--out", str(tmp_path / "a")]) == 2
    assert "unit 'mm[Hg]' not supported" in capsys.readouterr().err
    assert main(["fixtures", "new", "--hook", "order-sign", "--out", str(tmp_path / "b")]) == 2
    assert "needs at least one draft order" in capsys.readouterr().err
    assert main(["fixtures", "new", "--ga", "20", "--out", str(tmp_path / "c")]) == 0
    assert main(["fixtures", "new", "--ga", "21", "--out", str(tmp_path / "c")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["fixtures", "new", "--ga", "21", "--out", str(tmp_path / "c"), "--force"]) == 0


def test_fixtures_list_shows_each_fixture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: ServiceRegistry
) -> None:
    write_case(tmp_path, registry, "pp-seizure", expect=("R1:critical",), postpartum_days=5)
    write_case(tmp_path, registry, "quiet", gestational_age_days=150)
    assert main(["fixtures", "list", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(f["id"], f["worst"]) for f in listed] == [("pp-seizure", "critical"), ("quiet", None)]
    assert main(["fixtures", "list", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "pp-seizure" in table and "critical" in table and "no card" in table


def test_evaluate_folder_reports_pass_and_fail_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: ServiceRegistry
) -> None:
    write_case(tmp_path, registry, "quiet", gestational_age_days=150, blood_pressure=(110, 70))
    write_case(tmp_path, registry, "impossible", expect=("R99:critical",),
               gestational_age_days=150)  # fmt: skip
    assert main(["evaluate", str(tmp_path), AS_OF, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    results = {o["fixture"]: (o["status"], o["passed"], o["failures"]) for o in report["outcomes"]}
    assert results == {
        "impossible": (200, False, ["missing R99 critical"]),
        "quiet": (200, True, []),
    }
    assert main(["evaluate", str(tmp_path), AS_OF]) == 1
    table = capsys.readouterr().out
    assert "Fixtures evaluated as of 2026-11-25T10:00:00Z" in table
    assert "missing R99 critical" in table and "2 fixtures: 1 passed, 1 failed" in table


def test_evaluate_folder_of_passing_fixtures_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: ServiceRegistry
) -> None:
    write_case(tmp_path, registry, "quiet", gestational_age_days=150, blood_pressure=(110, 70))
    assert main(["evaluate", str(tmp_path)]) == 0  # dates shifted to now: still no card
    assert "1 fixtures: 1 passed, 0 failed" in capsys.readouterr().out


def test_evaluate_one_fixture_json_is_the_raw_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: ServiceRegistry
) -> None:
    folder = write_case(tmp_path, registry, "quiet", gestational_age_days=150)
    assert main(["evaluate", str(folder), AS_OF, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"cards": []}
    assert main(["evaluate", str(folder / "request.json"), AS_OF]) == 0
    out = capsys.readouterr().out
    assert "No cards (no advice for this patient)." in out
    assert "✓ matches expect.json (no clinical card)" in out


def test_evaluate_reports_http_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "bad.json"
    request.write_text(json.dumps({"hook": "patient-view", "hookInstance": "nope",
                                   "context": {}}))  # fmt: skip
    assert main(["evaluate", str(request)]) == 1
    out = capsys.readouterr().out
    assert "HTTP 400" in out and "hookInstance" in out
    assert main(["evaluate", str(tmp_path / "missing")]) == 2


def test_card_panel_shows_indicator_rule_summary_detail_source_and_orders() -> None:
    from rich.console import Console

    card = {
        "summary": "Hb 6.5 g/dL at 32w (severe anaemia): urgent review today.",
        "indicator": "critical",
        "detail": "**Data used**\n- Hb 6.5 g/dL",
        "source": {"label": "WHO 2024", "url": "https://www.who.int/x",
                   "topic": {"system": "urn:prenatal-cds:rule", "code": "R9",
                             "display": "Anaemia"}},
        "selectionBehavior": "any",
        "suggestions": [{"label": "CBC and ferritin", "isRecommended": True, "actions": [
            {"type": "create", "description": "d", "resource": {
                "resourceType": "ServiceRequest", "code": {"coding": [
                    {"code": "58410-2", "display": "CBC panel - Blood by Automated count"}]}}},
        ]}],
        "overrideReasons": [{"system": "s", "code": "a", "display": "Already assessed today"}],
    }  # fmt: skip
    console = Console(width=120, force_terminal=True, color_system="standard")
    with console.capture() as captured:
        console.print(render_card(card))
    ansi = captured.get()
    text = Text.from_ansi(ansi).plain
    for expected in (" CRITICAL ", "R9 · Anaemia", card["summary"], "Data used", "Hb 6.5 g/dL",
                     "Source: WHO 2024  https://www.who.int/x", "▸ CBC and ferritin",
                     "(recommended)", "create ServiceRequest: 58410-2 CBC panel",
                     "Override reasons: Already assessed today"):  # fmt: skip
        assert expected in text, expected
    assert "\x1b[31m╭" in ansi  # a red border for critical


@pytest.mark.parametrize(("indicator", "ansi_colour"), [
    ("critical", "31"), ("warning", "33"), ("info", "34")])  # fmt: skip
def test_card_border_colour_follows_the_indicator(indicator: str, ansi_colour: str) -> None:
    from rich.console import Console

    console = Console(width=80, force_terminal=True, color_system="standard")
    with console.capture() as captured:
        console.print(
            render_card({"summary": "s", "indicator": indicator, "source": {"label": "x"}})
        )
    assert f"\x1b[{ansi_colour}m╭" in captured.get()


def test_serve_has_a_workers_option() -> None:
    args = build_parser().parse_args(["serve", "--workers", "4", "--port", "9000"])
    assert (args.workers, args.port, args.host) == (4, 9000, "127.0.0.1")
