"""Shared base for wire models and the spec's "omit empty" serialisation rule."""

from __future__ import annotations

from typing import Any

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


def dump_wire(model: BaseModel) -> dict[str, Any]:
    """Dump by alias, dropping ``None``, ``""``, ``[]`` and ``{}`` recursively (D-8)."""
    raw = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    pruned = _prune(raw)
    assert isinstance(pruned, dict)
    return pruned
