"""CDS Hooks 2.0 response: cards, suggestions, actions, links (spec §3, C-1…C-12)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from cds_service.wire.common import (
    NotPlain,
    WireModel,
    dump_wire,
    fast_dump,
    prune_json,
)

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class Coding(WireModel):
    """C-8: ``system`` and ``code`` required; ``display`` required on override reasons."""

    system: str
    code: str
    display: str | None = None


class Source(WireModel):
    """C-4: who says so. ``url`` is the guideline page, not a drill-down."""

    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(WireModel):
    """C-6: ``create``/``update`` carry a whole FHIR resource; ``delete`` a ``resourceId``."""

    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resource_id: str | None = None

    @model_validator(mode="after")
    def _resource_matches_type(self) -> Action:
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action needs a resource")
        if self.type == "delete" and (not self.resource_id or self.resource is not None):
            raise ValueError("a delete action needs resourceId and no resource (cds-resp-2)")
        return self


class Suggestion(WireModel):
    """C-5: a coherent bundle of actions the clinician may accept."""

    label: str = Field(min_length=1)
    uuid: str | None = None
    is_recommended: bool | None = None
    actions: list[Action] | None = None


class Link(WireModel):
    """C-7: absolute links carry no ``appContext`` (cds-resp-3)."""

    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    app_context: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.type != "smart" and self.app_context is not None:
            raise ValueError("appContext is only valid for smart links (cds-resp-3)")
        return self


class Card(WireModel):
    """C-3 with the 3.0-ballot invariants cds-resp-1, -4 and -6 enforced."""

    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _invariants(self) -> Card:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("suggestions need selectionBehavior (cds-resp-6)")
        if self.selection_behavior == "at-most-one" and self.suggestions:
            recommended = [s for s in self.suggestions if s.is_recommended]
            if len(recommended) > 1:
                raise ValueError("at-most-one allows one recommended suggestion (cds-resp-1)")
        for reason in self.override_reasons or []:
            if not reason.display:
                raise ValueError("every override reason needs a display (cds-resp-4)")
        return self


class CdsResponse(WireModel):
    """C-1: ``cards`` always present (``[]`` when there is no advice)."""

    cards: list[Card] = Field(default_factory=list)
    system_actions: list[Action] | None = None

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"cards": [dump_wire(card) for card in self.cards]}
        if self.system_actions:
            body["systemActions"] = [dump_wire(a) for a in self.system_actions]
        return body


# ---- fast serialisers (see wire/common.py) ------------------------------------------------
# Each gives exactly reference_dump(model): fields in declaration order under their aliases,
# a member left out when it is None, "", [] or {} after pruning. Every model here has a
# required member, so its raw dump is never empty and a list keeps all its elements.


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Write a member unless it is absent or an empty string (what pruning drops)."""
    if value is not None and value != "":
        out[key] = value


@fast_dump(Coding)
def _coding_wire(coding: Coding) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "system", coding.system)
    _put(out, "code", coding.code)
    _put(out, "display", coding.display)
    return out


def _not_plain(model: object) -> dict[str, Any]:
    raise NotPlain(type(model).__name__)


@fast_dump(Source)
def _source_wire(source: Source) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "label", source.label)
    _put(out, "url", source.url)
    _put(out, "icon", source.icon)
    if source.topic is not None:
        topic = source.topic
        topic_out = _coding_wire(topic) if type(topic) is Coding else _not_plain(topic)
        if topic_out:
            out["topic"] = topic_out
    return out


@fast_dump(Action)
def _action_wire(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"type": action.type}
    _put(out, "description", action.description)
    if action.resource is not None:
        resource = prune_json(action.resource)
        if resource:
            out["resource"] = resource
    _put(out, "resourceId", action.resource_id)
    return out


@fast_dump(Suggestion)
def _suggestion_wire(suggestion: Suggestion) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "label", suggestion.label)
    _put(out, "uuid", suggestion.uuid)
    _put(out, "isRecommended", suggestion.is_recommended)
    if suggestion.actions:
        out["actions"] = [
            _action_wire(a) if type(a) is Action else _not_plain(a) for a in suggestion.actions
        ]
    return out


@fast_dump(Link)
def _link_wire(link: Link) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "label", link.label)
    _put(out, "url", link.url)
    out["type"] = link.type
    _put(out, "appContext", link.app_context)
    _put(out, "autolaunchable", link.autolaunchable)
    return out


@fast_dump(Card)
def _card_wire(card: Card) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "uuid", card.uuid)
    _put(out, "summary", card.summary)
    _put(out, "detail", card.detail)
    out["indicator"] = card.indicator
    source = _source_wire(card.source) if type(card.source) is Source else _not_plain(card.source)
    if source:
        out["source"] = source
    if card.suggestions:
        out["suggestions"] = [
            _suggestion_wire(s) if type(s) is Suggestion else _not_plain(s)
            for s in card.suggestions
        ]
    _put(out, "selectionBehavior", card.selection_behavior)
    if card.override_reasons:
        out["overrideReasons"] = [
            _coding_wire(r) if type(r) is Coding else _not_plain(r) for r in card.override_reasons
        ]
    if card.links:
        out["links"] = [
            _link_wire(link) if type(link) is Link else _not_plain(link) for link in card.links
        ]
    return out
