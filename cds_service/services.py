"""CDS services declared in ``hooks/*.toml``, and the call pipeline.

Declarations are the single source of discovery (HAPI's lesson): one file per
(service id, hook). The same id may serve several hooks; a call dispatches on the
request's ``hook`` (spec D-5). A duplicate (id, hook) refuses to start.
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cds_service.errors import ConfigurationError, HookMismatch, InvalidRequest, UnknownService
from cds_service.fhir.data import Evaluation
from cds_service.fhir.prefetch import is_valid_token
from cds_service.fhir.resolve import DataResolver
from cds_service.wire import (
    Card,
    CdsRequest,
    CdsResponse,
    DiscoveryResponse,
    OrderSelectContext,
    OrderSignContext,
    ServiceDescriptor,
)
from cds_service.wire.request import supported_hooks

_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{0,63}$")
_CODES = re.compile(r"\$\{codes:([a-z0-9\-_]+)\}")
_ANY_TOKEN = re.compile(r"\{\{(.*?)\}\}")


@dataclass(frozen=True)
class ServiceDeclaration:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str]
    usage_requirements: str | None
    rule_families: tuple[str, ...]
    source: Path

    def descriptor(self) -> ServiceDescriptor:
        return ServiceDescriptor(
            hook=self.hook,
            title=self.title,
            description=self.description,
            id=self.id,
            prefetch=dict(self.prefetch) or None,
            usage_requirements=self.usage_requirements,
        )


CodeExpander = Callable[[str], str]


def _no_code_sets(name: str) -> str:
    raise ConfigurationError(f"unknown code set {name!r} in a prefetch template")


def load_declaration(path: Path, expand_codes: CodeExpander = _no_code_sets) -> ServiceDeclaration:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path.name}: cannot read service declaration: {exc}") from exc
    service = raw.get("service")
    if not isinstance(service, dict):
        raise ConfigurationError(f"{path.name}: missing [service] table")
    for required in ("id", "hook", "title", "description"):
        if not isinstance(service.get(required), str) or not service[required].strip():
            raise ConfigurationError(f"{path.name}: service.{required} is required")
    if not _ID.match(service["id"]):
        raise ConfigurationError(f"{path.name}: service.id must match {_ID.pattern}")
    if service["hook"] not in supported_hooks():
        raise ConfigurationError(f"{path.name}: hook {service['hook']!r} is not supported")
    prefetch: dict[str, str] = {}
    for key, template in (service.get("prefetch") or {}).items():
        if not isinstance(template, str):
            raise ConfigurationError(f"{path.name}: prefetch.{key} must be a string")
        expanded = _CODES.sub(lambda m: expand_codes(m.group(1)), template)
        # Every {{...}}, not only identifier-shaped ones: FHIRPath such as {{today() - 90 days}}
        # or {{%key.entry...}} (3.0 ballot, R-16) must be refused too.
        for token in [t.strip() for t in _ANY_TOKEN.findall(expanded)]:
            if not is_valid_token(token):
                raise ConfigurationError(
                    f"{path.name}: prefetch.{key} uses {{{{{token}}}}}, not a CDS Hooks 2.0 token"
                )
        prefetch[key] = expanded
    engine = raw.get("engine") or {}
    families = engine.get("rule_families") or []
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        raise ConfigurationError(f"{path.name}: engine.rule_families must be a list of names")
    usage = service.get("usageRequirements")
    return ServiceDeclaration(
        id=service["id"],
        hook=service["hook"],
        title=service["title"].strip(),
        description=" ".join(service["description"].split()),
        prefetch=prefetch,
        usage_requirements=" ".join(usage.split()) if isinstance(usage, str) else None,
        rule_families=tuple(families),
        source=path,
    )


@dataclass
class ServiceRegistry:
    """All declared services, keyed by (id, hook)."""

    declarations: dict[tuple[str, str], ServiceDeclaration] = field(default_factory=dict)

    @classmethod
    def from_directory(
        cls, directory: Path, expand_codes: CodeExpander = _no_code_sets
    ) -> ServiceRegistry:
        registry = cls()
        if not directory.is_dir():
            raise ConfigurationError(f"hooks directory {directory} does not exist")
        for path in sorted(directory.glob("*.toml")):
            registry.add(load_declaration(path, expand_codes))
        return registry

    def add(self, declaration: ServiceDeclaration) -> None:
        key = (declaration.id, declaration.hook)
        if key in self.declarations:
            other = self.declarations[key].source.name
            raise ConfigurationError(
                f"duplicate service {declaration.id!r} for hook {declaration.hook!r} "
                f"in {declaration.source.name} and {other}"
            )
        self.declarations[key] = declaration

    def discovery(self) -> DiscoveryResponse:
        ordered = sorted(self.declarations.values(), key=lambda d: (d.id, d.hook))
        return DiscoveryResponse(services=[d.descriptor() for d in ordered])

    def ids(self) -> set[str]:
        return {service_id for service_id, _ in self.declarations}

    def resolve(self, service_id: str, hook: Any) -> ServiceDeclaration:
        if service_id not in self.ids():
            raise UnknownService(f"no CDS service with id {service_id!r}")
        declaration = self.declarations.get((service_id, hook)) if isinstance(hook, str) else None
        if declaration is None:
            served = sorted(h for i, h in self.declarations if i == service_id)
            raise HookMismatch(
                f"service {service_id!r} serves hook(s) {', '.join(served)}, not {hook!r}",
                field="hook",
            )
        return declaration


Advisor = Callable[[Evaluation], Sequence[Card]]


def no_advice(evaluation: Evaluation) -> Sequence[Card]:
    """The engine seam before any rule is registered: a real, empty answer."""
    return []


@dataclass(frozen=True)
class CallResult:
    response: CdsResponse
    evaluation: Evaluation
    elapsed_ms: float


def _field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    path = ".".join(parts)
    return f"{prefix}.{path}" if prefix and path else (path or prefix)


def invalid_from(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    """A 400 naming the first bad field, without echoing the input (no PHI).

    pydantic reports ``loc`` in wire names already (aliases), including the snake_case members
    of ``fhirAuthorization`` (``fhirAuthorization.token_type``), so it is used as is.
    """
    first = exc.errors(include_input=False, include_url=False)[0]
    path = _field_path(first["loc"], prefix)
    message = first["msg"]
    return InvalidRequest(f"{path or 'body'}: {message}", field=path or None)


def parse_request(body: Any) -> CdsRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", field=None)
    try:
        return CdsRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid_from(exc) from exc


async def call_service(
    registry: ServiceRegistry,
    resolver: DataResolver,
    advisor: Advisor,
    service_id: str,
    body: Any,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CallResult:
    """The whole pipeline: validate → resolve data → advise → response."""
    started = time.perf_counter()
    hook = body.get("hook") if isinstance(body, dict) else None
    if service_id not in registry.ids():
        raise UnknownService(f"no CDS service with id {service_id!r}")
    request = parse_request(body)
    declaration = registry.resolve(service_id, hook)
    try:
        context = request.typed_context()
    except ValidationError as exc:
        raise invalid_from(exc, prefix="context") from exc
    auth = request.fhir_authorization
    data = await resolver.resolve(
        declaration.prefetch,
        request.prefetch,
        context.tokens(),
        request.fhir_server,
        auth.access_token if auth else None,
    )
    draft_orders: tuple[dict[str, Any], ...] = ()
    selections: tuple[str, ...] = ()
    if isinstance(context, OrderSignContext):
        draft_orders = tuple(context.draft_order_resources())
    if isinstance(context, OrderSelectContext):
        selections = tuple(context.selections)
    evaluation = Evaluation(
        hook=declaration.hook,
        service_id=declaration.id,
        rule_families=declaration.rule_families,
        patient_id=context.patient_id,
        user_id=context.user_id,
        encounter_id=context.encounter_id,
        now=now(),
        data=data,
        draft_orders=draft_orders,
        selections=selections,
    )
    cards = list(advisor(evaluation))
    response = CdsResponse(cards=cards)
    return CallResult(response, evaluation, (time.perf_counter() - started) * 1000)
