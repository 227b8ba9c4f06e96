"""``POST /cds-services/{id}/feedback`` over HTTP, on SQLite and PostgreSQL (spec §4)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cds_service.store.models import Feedback, IssuedCard
from tests.conftest import NOW
from tests.store.conftest import (
    OTHER_SERVICE,
    OVERRIDE_SYSTEM,
    PATIENT_ID,
    SERVICE,
    accepted,
    count_rows,
    feedback_rows,
    issue_cards,
    make_app,
    overridden,
)

URL = f"/cds-services/{SERVICE}/feedback"


def _problem(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue: dict[str, Any] = body["issue"][0]
    return issue


# -- issued cards ---------------------------------------------------------------------------


def test_service_call_records_issued_cards_with_rule_ids_and_no_phi(
    client: TestClient, engine: Engine
) -> None:
    cards = issue_cards(client)
    with Session(engine) as session:
        rows = {row.uuid: row for row in session.scalars(select(IssuedCard))}
    assert set(rows) == {card["uuid"] for card in cards}  # the card without uuid is not kept
    by_rule = sorted((row.rule_id or "", row.indicator) for row in rows.values())
    assert by_rule == [("", "info"), ("R1", "critical"), ("R5", "warning")]
    for card in cards:
        row = rows[card["uuid"]]
        assert row.service_id == SERVICE
        assert row.hook == "patient-view"
        assert row.issued_at == NOW
        assert row.suggestion_uuids == [s["uuid"] for s in card["suggestions"]]
        stored_text = " ".join(str(value) for value in vars(row).values())
        assert PATIENT_ID not in stored_text  # no patient id, no card text (which names it)
        assert card["summary"] not in stored_text


# -- success paths --------------------------------------------------------------------------


def test_round_trip_accepted_and_overridden_batch(client: TestClient, engine: Engine) -> None:
    cards = issue_cards(client)
    body = {"feedback": [accepted(cards[0]), overridden(cards[1])]}
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert response.json() == {"stored": 2, "duplicates": 0}
    rows = feedback_rows(engine)
    assert [(r.card_uuid, r.outcome) for r in rows] == [
        (cards[0]["uuid"], "accepted"),
        (cards[1]["uuid"], "overridden"),
    ]
    assert rows[0].accepted_suggestions == [cards[0]["suggestions"][0]["uuid"]]
    assert rows[0].outcome_timestamp.isoformat() == "2026-11-25T10:05:00+00:00"
    assert rows[0].received_at == NOW
    assert (rows[1].override_reason_system, rows[1].override_reason_code) == (
        OVERRIDE_SYSTEM,
        "already-done",
    )


def test_flat_1_1_shape_is_accepted(client: TestClient, engine: Engine) -> None:
    cards = issue_cards(client)
    response = client.post(URL, json=accepted(cards[2]))
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0}
    assert [r.card_uuid for r in feedback_rows(engine)] == [cards[2]["uuid"]]


def test_same_feedback_retried_is_stored_once(client: TestClient, engine: Engine) -> None:
    cards = issue_cards(client)
    item = overridden(cards[0])
    assert client.post(URL, json={"feedback": [item]}).json() == {"stored": 1, "duplicates": 0}
    assert client.post(URL, json={"feedback": [item]}).json() == {"stored": 0, "duplicates": 1}
    # the same instant written in another offset, and the 1.1 shape, are the same feedback
    shifted = {**item, "outcomeTimestamp": "2026-11-25T11:06:00+01:00"}
    assert client.post(URL, json=shifted).json() == {"stored": 0, "duplicates": 1}
    # repeated inside one batch
    batch = {"feedback": [accepted(cards[1]), accepted(cards[1])]}
    assert client.post(URL, json=batch).json() == {"stored": 1, "duplicates": 1}
    assert count_rows(engine, Feedback) == 2
    assert _feedback_metrics(client) == {"accepted": 1.0, "overridden": 1.0}  # stored, not sent


def _feedback_metrics(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cds_feedback_total" and sample.labels["service"] == SERVICE
    }


def test_a_later_outcome_on_the_same_card_is_new_feedback(
    client: TestClient, engine: Engine
) -> None:
    """F-4: a card may get feedback several times (another suggestion, another time)."""
    cards = issue_cards(client)
    first = accepted(cards[0])
    second = {
        **accepted(cards[0], at="2026-11-25T10:07:00Z"),
        "acceptedSuggestions": [{"id": cards[0]["suggestions"][1]["uuid"]}],
    }
    response = client.post(URL, json={"feedback": [first, second]})
    assert response.json() == {"stored": 2, "duplicates": 0}
    assert count_rows(engine, Feedback) == 2


def test_override_without_reason_and_with_a_code_never_offered(
    client: TestClient, engine: Engine
) -> None:
    """F-4: no reason at all; a reason without display; a code the EHR added itself."""
    cards = issue_cards(client)
    ehr_reason = {
        **overridden(cards[1], code=None),
        "overrideReason": {
            "reason": {"system": "urn:ehr:local", "code": "workflow"},
            "userComment": "will do at next visit",
        },
    }
    comment_only = {
        **overridden(cards[2], code=None),
        "overrideReason": {"userComment": "n/a"},
    }
    body = {"feedback": [overridden(cards[0], code=None), ehr_reason, comment_only]}
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert response.json() == {"stored": 3, "duplicates": 0}
    rows = feedback_rows(engine)
    assert rows[0].override_reason_code is None
    assert (rows[1].override_reason_system, rows[1].override_reason_code) == (
        "urn:ehr:local",
        "workflow",
    )
    assert rows[1].override_reason_display is None
    assert rows[1].override_user_comment == "will do at next visit"
    assert rows[2].override_user_comment == "n/a"


# -- rejections -----------------------------------------------------------------------------


def test_unknown_card_is_404_naming_it_and_nothing_of_the_batch_is_stored(
    client: TestClient, engine: Engine
) -> None:
    cards = issue_cards(client)
    unknown = "0b6f1c2e-1111-4c3b-9a57-3f1f4d0c9e21"
    body = {"feedback": [accepted(cards[0]), {**overridden(cards[1]), "card": unknown}]}
    response = client.post(URL, json=body)
    assert response.status_code == 404
    issue = _problem(response)
    assert issue["expression"] == ["feedback.1.card"]
    assert unknown in issue["diagnostics"]
    assert count_rows(engine, Feedback) == 0


def test_card_issued_by_another_service_is_unknown_here(client: TestClient, engine: Engine) -> None:
    other = issue_cards(client, OTHER_SERVICE)
    response = client.post(URL, json=accepted(other[0]))
    assert response.status_code == 404
    assert _problem(response)["expression"] == ["card"]
    ok = client.post(f"/cds-services/{OTHER_SERVICE}/feedback", json=accepted(other[0]))
    assert ok.status_code == 200
    assert count_rows(engine, Feedback) == 1


def test_suggestion_of_another_card_is_400_and_nothing_is_stored(
    client: TestClient, engine: Engine
) -> None:
    cards = issue_cards(client)
    wrong = {
        **accepted(cards[0]),
        "acceptedSuggestions": [{"id": cards[1]["suggestions"][0]["uuid"]}],
    }
    body = {"feedback": [overridden(cards[2]), wrong]}
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert _problem(response)["expression"] == ["feedback.1.acceptedSuggestions.0.id"]
    assert count_rows(engine, Feedback) == 0


def test_unknown_service_is_404(client: TestClient) -> None:
    cards = issue_cards(client)
    response = client.post("/cds-services/no-such-service/feedback", json=accepted(cards[0]))
    assert response.status_code == 404
    assert _problem(response)["code"] == "not-found"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda item: {"feedback": [{k: v for k, v in item.items() if k != "outcome"}]},
            "feedback.0.outcome",
        ),
        (lambda item: {"feedback": [{**item, "outcome": "ignored"}]}, "feedback.0.outcome"),
        (
            lambda item: {"feedback": [{**item, "outcomeTimestamp": "yesterday"}]},
            "feedback.0.outcomeTimestamp",
        ),
        (
            lambda item: {"feedback": [{**item, "acceptedSuggestions": [{}]}]},
            "feedback.0.acceptedSuggestions.0.id",
        ),
        (
            lambda item: {
                "feedback": [{k: v for k, v in item.items() if k != "acceptedSuggestions"}]
            },
            "feedback.0",
        ),  # cds-fb-2: accepted needs acceptedSuggestions
        (lambda item: {"feedback": []}, "feedback"),
        (lambda item: {"feedback": "yes"}, "feedback"),
        (lambda item: {"feedbacks": [item]}, "feedback"),
        (lambda item: {k: v for k, v in item.items() if k != "outcome"}, "outcome"),  # 1.1 shape
        (lambda item: {**item, "card": ""}, "card"),
    ],
)
def test_schema_errors_are_400_naming_the_field(
    client: TestClient, engine: Engine, mutate: Any, field: str
) -> None:
    cards = issue_cards(client)
    response = client.post(URL, json=mutate(accepted(cards[0])))
    assert response.status_code == 400, response.text
    issue = _problem(response)
    assert issue["expression"] == [field]
    assert count_rows(engine, Feedback) == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda item: {**item, "card": "abc\u0000"}, "card"),
        (
            lambda item: {**item, "overrideReason": {"userComment": "x\u0000y"}},
            "overrideReason.userComment",
        ),
        (
            lambda item: {**item, "overrideReason": {"reason": {"system": "s", "code": "\u0000"}}},
            "overrideReason.reason.code",
        ),
    ],
)
def test_nul_characters_are_400_not_a_database_error(
    client: TestClient, engine: Engine, mutate: Any, field: str
) -> None:
    """PostgreSQL text cannot store NUL: without this check it would be a 503."""
    cards = issue_cards(client)
    response = client.post(URL, json=mutate(overridden(cards[0])))
    assert response.status_code == 400, response.text
    assert _problem(response)["expression"] == [field]
    assert count_rows(engine, Feedback) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"42", b"null"])
def test_a_body_that_is_not_a_json_object_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert _problem(response)["code"] == "invalid"


# -- the database fails ---------------------------------------------------------------------


def test_store_down_still_returns_the_cards_and_logs_without_phi(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Start-up migration and card recording fail; the clinician still gets the answer;
    feedback is a 503 the EHR may retry."""
    dead = f"sqlite:///{tmp_path / 'missing-dir' / 'store.sqlite3'}"
    caplog.set_level(logging.INFO)
    with TestClient(make_app(dead)) as client:
        cards = issue_cards(client)
        assert len(cards) == 3
        response = client.post(URL, json=accepted(cards[0]))
        assert response.status_code == 503
        assert "retry" in _problem(response)["diagnostics"]
    messages = [r.getMessage() for r in caplog.records if r.name == "cds_service.store"]
    assert any("issued cards not recorded" in m for m in messages)
    assert any("feedback not stored" in m for m in messages)
    for record in caplog.records:
        rendered = f"{record.getMessage()} {vars(record)}"
        assert PATIENT_ID not in rendered
        assert cards[0]["summary"] not in rendered
