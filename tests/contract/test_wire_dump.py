"""The fast response serialisers and the cards layer's per-call precomputation.

``dump_wire`` takes a direct path for the response models (wire/response.py) and
``build_cards`` shares constant parts across cards and calls; both must give exactly what
the generic path gives: ``reference_dump`` (pydantic's JSON dump by alias, then empty
members pruned, D-8), member order included, on every fixture and on the edge cases
below, with a fresh uuid on every card and suggestion of every call.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.cards import advise, build_cards, new_uuid
from cds_service.fhir.data import Evaluation
from cds_service.settings import Settings
from cds_service.wire import (
    Action,
    Card,
    CdsResponse,
    Coding,
    Link,
    Source,
    Suggestion,
    dump_wire,
)
from cds_service.wire.common import reference_dump
from tests.clinical.builders import bp, lab, pregnant, run, symptom

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expect.json").is_file())


def _ordered(value: dict[str, Any]) -> str:
    """Equality including member order (what a client sees byte for byte)."""
    return json.dumps(value, ensure_ascii=False)


def _same_as_reference(model: Any) -> None:
    assert _ordered(dump_wire(model)) == _ordered(reference_dump(model))


class _Clock:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[list[Card]]]]:
    """Every fixture posted twice through the API; the cards the advisor returned."""
    clock = _Clock()
    by_case: dict[str, list[list[Card]]] = {}
    current: list[str] = [""]

    def recording(evaluation: Evaluation) -> list[Card]:
        cards = advise(evaluation)
        by_case.setdefault(current[0], []).append(cards)
        return cards

    db = tmp_path_factory.mktemp("wire-dump-db") / "cds.sqlite3"
    app = create_app(Settings(database_url=f"sqlite:///{db}"), advisor=recording, clock=clock)
    with TestClient(app) as client:
        for case in CASES:
            expect = json.loads((FIXTURES / case / "expect.json").read_text(encoding="utf-8"))
            body = (FIXTURES / case / "request.json").read_text(encoding="utf-8")
            clock.now = datetime.fromisoformat(expect["asOf"].replace("Z", "+00:00"))
            current[0] = case
            for _ in range(2):
                response = client.post(
                    f"/cds-services/{expect['service']}",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                assert response.status_code == 200, response.text
    yield by_case


def test_fixture_cards_dump_exactly_as_the_reference(
    issued: dict[str, list[list[Card]]],
) -> None:
    assert sum(len(calls[0]) for calls in issued.values()) > 50
    for calls in issued.values():
        for cards in calls:
            for card in cards:
                _same_as_reference(card)
            body = CdsResponse(cards=cards).wire()
            assert _ordered(body) == _ordered({"cards": [reference_dump(c) for c in cards]})


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "-" if k == "uuid" else _without_uuids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def test_every_call_gets_fresh_uuids_and_otherwise_the_same_cards(
    issued: dict[str, list[list[Card]]],
) -> None:
    seen: set[str] = set()
    for calls in issued.values():
        first, second = ([c.wire() for c in cards] for cards in calls)
        assert _without_uuids(first) == _without_uuids(second)
        for cards in calls:
            for card in cards:
                ids = [card.uuid, *(s.uuid for s in card.suggestions or ())]
                for text in ids:
                    assert text is not None
                    assert uuid.UUID(text).version == 4
                    assert str(uuid.UUID(text)) == text
                    assert text not in seen
                    seen.add(text)


def test_cards_do_not_share_mutable_lists() -> None:
    resources = [*pregnant(34), symptom("headache"), bp(165, 112), lab("platelets", 90, "10*9/L")]
    first, second = build_cards(run(resources)), build_cards(run(resources))
    for a, b in zip(first, second, strict=True):
        assert a.override_reasons is not None and b.override_reasons is not None
        assert a.override_reasons is not b.override_reasons
        for sa, sb in zip(a.suggestions or (), b.suggestions or (), strict=True):
            for aa, ab in zip(sa.actions or (), sb.actions or (), strict=True):
                assert aa.resource is not ab.resource
                if aa.resource and ab.resource:
                    assert aa.resource["code"] is not ab.resource["code"]


def test_one_patient_after_another_gives_each_its_own_cards() -> None:
    """The per-call memo (pregnancy line, recent results) never carries over."""
    a = [*pregnant(34), bp(165, 112), symptom("headache")]
    b = [*pregnant(12), lab("haemoglobin", 65, "g/L"), symptom("leg-swelling", side="left")]
    alone = [_without_uuids(c.wire()) for c in build_cards(run(b))]
    build_cards(run(a))
    after = [_without_uuids(c.wire()) for c in build_cards(run(b))]
    assert after == alone


def test_new_uuid_is_a_random_version_4_uuid() -> None:
    texts = {new_uuid() for _ in range(1000)}
    assert len(texts) == 1000
    for text in texts:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


# ---- edge cases the fast path must prune exactly like the generic one --------------------

_CODING_EDGES = [
    Coding(system="s", code="c"),
    Coding(system="s", code="c", display=""),
    Coding(system="", code="", display=None),
    Coding(system="", code="c", display="d"),
]


@pytest.mark.parametrize("coding", _CODING_EDGES)
def test_coding_edges(coding: Coding) -> None:
    _same_as_reference(coding)
    _same_as_reference(Source(label="x", topic=coding))
    _same_as_reference(
        Card(summary="s", indicator="warning", source=Source(label="x"), override_reasons=[coding])
        if coding.display
        else Card(summary="s", indicator="info", source=Source(label="x", url="", icon=""))
    )


_RESOURCES: list[dict[Any, Any]] = [
    {"resourceType": "ServiceRequest", "status": "draft", "note": [], "code": {}},
    {"a": None, "b": [None, {}, {"c": None}, "", [], [[]], 0, False, 0.0], "c": {"d": {"e": ""}}},
    {"n": 1, "f": 1.5, "t": True, "nested": [{"x": [{"y": None}]}]},
    {"when": datetime(2026, 1, 2, tzinfo=UTC)},  # not plain JSON: generic path
    {"tuple": (1, 2), "empty": ()},
    {"inf": math.inf, "nan": [math.nan]},
    {"set": {1}},
]


@pytest.mark.parametrize("resource", _RESOURCES)
def test_action_resource_edges(resource: dict[Any, Any]) -> None:
    action = Action(type="create", description="d", resource=resource)
    _same_as_reference(action)
    suggestion = Suggestion(label="l", uuid="", is_recommended=False, actions=[action])
    _same_as_reference(suggestion)
    card = Card(
        uuid="",
        summary="s",
        detail="",
        indicator="info",
        source=Source(label="x", topic=Coding(system="", code="")),
        suggestions=[suggestion],
        selection_behavior="any",
        links=[],
    )
    _same_as_reference(card)
    assert _ordered(CdsResponse(cards=[card]).wire()) == _ordered({"cards": [reference_dump(card)]})


def test_model_edges() -> None:
    _same_as_reference(Action(type="delete", description="d", resource_id="MedicationRequest/1"))
    _same_as_reference(Suggestion(label="l", actions=[]))
    _same_as_reference(Link(label="l", url="u", type="smart", app_context="", autolaunchable=False))
    _same_as_reference(Link(label="l", url="u", type="absolute"))
    _same_as_reference(Card(summary="s", indicator="info", source=Source(label="x"), links=[]))
    assert CdsResponse().wire() == {"cards": []}


def test_subclass_falls_back_to_the_generic_dump() -> None:
    class TaggedSource(Source):
        tag: str | None = None

    source = TaggedSource(label="x", tag="t")
    assert dump_wire(source) == {"label": "x", "tag": "t"}
    # As a Card member it is dumped as the declared Source (pydantic's rule), via the
    # generic path: the fast one refuses what it was not written for.
    card = Card(summary="s", indicator="info", source=source)
    _same_as_reference(card)


def test_every_member_of_a_fast_dumped_model_is_written_when_set() -> None:
    """A member added to a wire model must be added to its fast serialiser too: each member,
    set to a plain non-empty value, must appear in the fast dump as in the reference one."""
    from cds_service.wire.response import Action, Card, Coding, Link, Source, Suggestion

    coding = Coding(system="http://example.org", code="c", display="d")
    action = Action(type="create", description="d", resource={"resourceType": "X"})
    delete = Action(type="delete", description="d", resourceId="MedicationRequest/1")
    suggestion = Suggestion(label="l", uuid="u", isRecommended=True, actions=[action, delete])
    link = Link(
        label="l", url="https://example.org", type="smart", appContext="a", autolaunchable=True
    )
    card = Card(
        uuid="u",
        summary="s",
        detail="d",
        indicator="warning",
        source=Source(label="l", url="https://example.org", icon="https://i", topic=coding),
        suggestions=[suggestion],
        selectionBehavior="any",
        overrideReasons=[coding],
        links=[link],
    )
    for model in (coding, action, delete, suggestion, link, card, card.source):
        fast = dump_wire(model)
        assert fast == reference_dump(model), type(model).__name__
        written = {info.alias or name for name, info in type(model).model_fields.items()}
        unset = written - set(fast)
        allowed = {"resourceId"} if model is action else {"resource"} if model is delete else set()
        assert unset <= allowed, (type(model).__name__, unset)
