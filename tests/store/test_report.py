"""``cds-service feedback-report`` on a known data set, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from cds_service.cli import main
from cds_service.store import FeedbackStore, IssuedCardRecord, parse_since
from cds_service.wire import FeedbackItem
from tests.store.conftest import OTHER_SERVICE, OVERRIDE_SYSTEM, SERVICE

NOV = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OCT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _card(
    uuid: str, rule: str | None, service: str = SERVICE, at: datetime = NOV
) -> IssuedCardRecord:
    return IssuedCardRecord(
        uuid=uuid,
        service_id=service,
        hook="patient-view",
        hook_instance="5f1b3e5c-0000-4000-8000-000000000000",
        rule_id=rule,
        indicator="warning",
        suggestion_uuids=(f"{uuid}-s1", f"{uuid}-s2"),
        issued_at=at,
    )


def _feedback(card: str, outcome: str, minute: int, **extra: Any) -> FeedbackItem:
    body: dict[str, Any] = {
        "card": card,
        "outcome": outcome,
        "outcomeTimestamp": f"2026-11-20T10:{minute:02d}:00Z",
        **extra,
    }
    if outcome == "accepted" and "acceptedSuggestions" not in body:
        body["acceptedSuggestions"] = [{"id": f"{card}-s1"}]
    return FeedbackItem.model_validate(body)


def _reason(code: str, display: str | None = None) -> dict[str, Any]:
    reason = {"system": OVERRIDE_SYSTEM, "code": code}
    if display:
        reason["display"] = display
    return {"overrideReason": {"reason": reason}}


@pytest.fixture
def dataset(engine: Engine) -> FeedbackStore:
    store = FeedbackStore(engine)
    store.upgrade()
    store.record_issued(
        [
            *(_card(f"a-r1-{n}", "R1") for n in range(1, 5)),
            _card("a-r1-old", "R1", at=OCT),
            _card("a-r5-1", "R5"),
            _card("a-r5-2", "R5"),
            _card("a-r10-1", "R10"),
            _card("a-none-1", None),
            _card("b-r1-1", "R1", OTHER_SERVICE),
            _card("b-r1-2", "R1", OTHER_SERVICE),
        ]
    )
    store.store_feedback(
        SERVICE,
        [
            _feedback("a-r1-1", "accepted", 1),
            _feedback("a-r1-1", "accepted", 2, acceptedSuggestions=[{"id": "a-r1-1-s2"}]),
            _feedback("a-r1-2", "overridden", 3, **_reason("already-done", "Already done")),
            _feedback("a-r1-3", "overridden", 4, **_reason("already-done")),
            _feedback("a-r1-old", "overridden", 5, **_reason("not-pregnant", "Not pregnant")),
            _feedback("a-r5-1", "overridden", 6, **_reason("not-pregnant", "Not pregnant")),
            _feedback("a-r5-2", "overridden", 7),
        ],
        received_at=NOV,
    )
    store.store_feedback(OTHER_SERVICE, [_feedback("b-r1-1", "accepted", 8)], received_at=NOV)
    return store


def _row(report: dict[str, Any], service: str, rule: str | None) -> dict[str, Any]:
    return next(r for r in report["rules"] if (r["service"], r["rule"]) == (service, rule))


def test_report_numbers_on_a_known_data_set(dataset: FeedbackStore) -> None:
    report = dataset.report().as_json()
    assert [(r["service"], r["rule"]) for r in report["rules"]] == [
        (SERVICE, "R1"),
        (SERVICE, "R5"),
        (SERVICE, "R10"),
        (SERVICE, None),
        (OTHER_SERVICE, "R1"),
    ]
    r1 = _row(report, SERVICE, "R1")
    assert {k: r1[k] for k in ("cardsIssued", "feedback", "accepted", "overridden")} == {
        "cardsIssued": 5,
        "feedback": 5,
        "accepted": 1,  # two acceptances of one card count as one accepted card
        "overridden": 3,
    }
    assert (r1["acceptanceRate"], r1["overrideRate"]) == (0.2, 0.6)
    assert [(r["code"], r["display"], r["count"]) for r in r1["topOverrideReasons"]] == [
        ("already-done", "Already done", 2),  # display taken from the item that had one
        ("not-pregnant", "Not pregnant", 1),
    ]
    r5 = _row(report, SERVICE, "R5")
    assert (r5["cardsIssued"], r5["overridden"], r5["overrideRate"]) == (2, 2, 1.0)
    assert [(r["code"], r["count"]) for r in r5["topOverrideReasons"]] == [
        (None, 1),  # overridden without a reason
        ("not-pregnant", 1),
    ]
    silent = _row(report, SERVICE, None)
    assert (silent["cardsIssued"], silent["feedback"], silent["acceptanceRate"]) == (1, 0, 0.0)
    other = _row(report, OTHER_SERVICE, "R1")
    assert (other["cardsIssued"], other["accepted"], other["acceptanceRate"]) == (2, 1, 0.5)


def test_since_counts_only_cards_issued_from_then(dataset: FeedbackStore) -> None:
    report = dataset.report(parse_since("2026-11-01")).as_json()
    assert report["since"] == "2026-11-01T00:00:00+00:00"
    r1 = _row(report, SERVICE, "R1")
    assert (r1["cardsIssued"], r1["feedback"], r1["overridden"]) == (4, 4, 2)
    assert (r1["acceptanceRate"], r1["overrideRate"]) == (0.25, 0.5)
    assert [r["code"] for r in r1["topOverrideReasons"]] == ["already-done"]
    assert dataset.report(parse_since("2026-12-01T00:00:00+01:00")).rules == ()


def test_cli_report_json_and_table(
    dataset: FeedbackStore,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["feedback-report", "--json", "--since", "2026-11-01"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == dataset.report(parse_since("2026-11-01")).as_json()
    assert main(["feedback-report"]) == 0
    table = capsys.readouterr().out
    r1_line = next(line for line in table.splitlines() if "R1" in line and SERVICE in line)
    for cell in ("5", "20.0%", "60.0%", "Already done ×2"):
        assert cell in r1_line


def test_cli_report_refuses_an_unmigrated_database_and_a_bad_date(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    assert main(["feedback-report"]) == 1
    assert "cds-service db upgrade" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["feedback-report", "--since", "last week"])
    assert exit_info.value.code == 2
    assert "not an ISO date" in capsys.readouterr().err


def test_cli_report_with_no_cards(
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    FeedbackStore(engine).upgrade()
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    assert main(["feedback-report"]) == 0
    assert capsys.readouterr().out.strip() == "No cards issued."
