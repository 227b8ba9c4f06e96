"""Shared base for wire models and the spec's "omit empty" serialisation rule."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Base for CDS Hooks objects: camelCase on the wire, unknown fields ignored.

    The spec asks services to tolerate fields added in minor hook versions and
    unknown ``extension`` members, so input models ignore what they do not know.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        str_strip_whitespace=False,
    )

    def wire(self) -> dict[str, Any]:
        """This object as CDS Hooks JSON with empty optional members omitted."""
        return dump_wire(self)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not _is_empty(v)}
    if isinstance(value, list):
        return [_prune(v) for v in value if not _is_empty(v)]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def reference_dump(model: BaseModel) -> dict[str, Any]:
    """The defining form of :func:`dump_wire`: pydantic's JSON-mode dump by alias, then
    ``None``, ``""``, ``[]`` and ``{}`` dropped recursively. Every fast serialiser below
    must give exactly this (tests/contract/test_wire_dump.py compares them)."""
    raw = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    pruned = _prune(raw)
    assert isinstance(pruned, dict)
    return pruned


# ---- fast path ----------------------------------------------------------------------------
# A response is dumped on every hook call, and the generic dump walks every node twice (pydantic
# to_python, then _prune). The response models register a direct serialiser that reads their
# typed fields and builds the pruned dict in one pass; anything they were not written for (a
# subclass, a non-JSON value inside an action's free-form FHIR resource) raises NotPlain and
# the whole object falls back to reference_dump, so the output never depends on the path.


class NotPlain(Exception):
    """A value the fast serialiser does not handle exactly like pydantic's JSON mode."""


M = TypeVar("M", bound=BaseModel)
_FAST: dict[type[BaseModel], Callable[[Any], dict[str, Any]]] = {}


def fast_dump(
    model_class: type[M],
) -> Callable[[Callable[[M], dict[str, Any]]], Callable[[M], dict[str, Any]]]:
    """Register ``function`` as the serialiser of exactly ``model_class`` (not subclasses)."""

    def register(function: Callable[[M], dict[str, Any]]) -> Callable[[M], dict[str, Any]]:
        _FAST[model_class] = function
        return function

    return register


def fast_dump_of(model: BaseModel) -> dict[str, Any]:
    """The registered serialiser's output; raises :class:`NotPlain` when there is none."""
    function = _FAST.get(type(model))
    if function is None:
        raise NotPlain(type(model).__name__)
    return function(model)


def prune_json(value: Any) -> Any:
    """``_prune`` of plain JSON data (dict with str keys, list, str, int, bool, finite
    float, None), which pydantic's JSON mode returns unchanged. Builds new containers;
    raises :class:`NotPlain` on anything else (a tuple, a datetime, a str subclass...)."""
    kind = type(value)
    if kind is dict:
        return _prune_object(value)
    if kind is list:
        return _prune_array(value)
    return _plain_scalar(value)


def _prune_object(value: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise NotPlain("non-str key")
        kind = type(item)
        if kind is str:
            if item:
                out[key] = item
        elif kind is dict:
            pruned = _prune_object(item)
            if pruned:
                out[key] = pruned
        elif kind is list:
            pruned_list = _prune_array(item)
            if pruned_list:
                out[key] = pruned_list
        elif item is not None:
            out[key] = _plain_scalar(item)
    return out


def _prune_array(value: list[Any]) -> list[Any]:
    # As _prune: an element empty *before* pruning is dropped, one emptied by it is kept.
    out: list[Any] = []
    for item in value:
        kind = type(item)
        if kind is str:
            if item:
                out.append(item)
        elif kind is dict:
            if item:
                out.append(_prune_object(item))
        elif kind is list:
            if item:
                out.append(_prune_array(item))
        elif item is not None:
            out.append(_plain_scalar(item))
    return out


def _plain_scalar(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float and math.isfinite(value):
        return value
    raise NotPlain(kind.__name__)


def dump_wire(model: BaseModel) -> dict[str, Any]:
    """Dump by alias, dropping ``None``, ``""``, ``[]`` and ``{}`` recursively (D-8)."""
    function = _FAST.get(type(model))
    if function is not None:
        try:
            return function(model)
        except NotPlain:
            pass
    return reference_dump(model)
