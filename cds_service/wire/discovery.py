"""CDS Hooks 2.0 discovery document (spec §1, D-1…D-4)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cds_service.wire.common import WireModel, dump_wire


class ServiceDescriptor(WireModel):
    """One entry of ``services``; built from a ``hooks/*.toml`` declaration."""

    hook: str = Field(min_length=1)
    title: str | None = None
    description: str = Field(min_length=1)
    id: str = Field(min_length=1)
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = None


class DiscoveryResponse(WireModel):
    """``{"services": [...]}``; an empty list is allowed here (D-3)."""

    services: list[ServiceDescriptor] = Field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        return {"services": [dump_wire(s) for s in self.services]}
