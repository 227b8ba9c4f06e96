"""Knowledge as FHIR R4 artifacts in the HL7 CPG-on-FHIR style (issue 6, section 3).

``cds-service knowledge export DIR`` writes, derived at run time from the registries (never a
hand-written copy, so a new rule, order item or value set appears on the next export):

* one ``PlanDefinition`` (type eca-rule) per CDS service. One action per rule the service
  runs: ``action.id`` and ``action.code`` are the rule id in ``urn:prenatal-cds:rule`` (what
  every card carries in ``source.topic``, so a card resolves to its action), the hook is a
  named-event trigger, the rule's explanation is the applicability condition (plain text:
  the logic itself is Python in ``cds_service/rules``), the citation is documentation, the
  value sets it reads are ``input`` data requirements, and every order bundle it may suggest
  is a sub-action whose children reference the ``ActivityDefinition`` of each item;
* one ``ActivityDefinition`` per orderable item of the catalogue (clinical.md C);
* ``CodeSystem`` resources for ``urn:prenatal-cds:finding`` (clinical.md F),
  ``urn:prenatal-cds:rule`` and ``urn:prenatal-cds:override-reason``;
* one ``ValueSet`` per named value set (``knowledge.value_sets.VALUE_SETS``);
* one ``Library`` (asset-collection): every ``Policy`` field with its default, and the numeric
  thresholds the rule modules declare as module-level UPPER_CASE constants;
* an index ``Bundle`` (collection) of everything, and a README.md listing the files.

Every resource is validated with the ``fhir.resources`` R4B model of its type before it is
written, and every canonical reference between the exported resources must resolve.
Status is ``draft`` and ``experimental`` is true: clinical.md requires clinical sign-off
before go-live, and these artifacts describe exactly the logic awaiting it.

Which orders a rule may suggest is not declared on ``@rule``: it is read from the rule
module's source (the ``orders=`` of every ``Finding`` the rule function, or a module-level
helper it calls, builds). :func:`rule_orders` follows literals, local lists built with
``append``/``extend``, loops over module constants and comprehensions; anything else is
reported as unresolved (the export summary lists it and the tests fail on it).
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib
import inspect
import io
import json
import re
import tokenize
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from cds_service import __version__
from cds_service.knowledge import policy as policy_module
from cds_service.knowledge.analytes import ANALYTE_BY_CODE, ANALYTES
from cds_service.knowledge.codes import ANSWER_NO, ANSWER_YES, FINDING_BY_CODE, FINDINGS, Concept
from cds_service.knowledge.codes import ValueSet as KnowledgeValueSet
from cds_service.knowledge.orders import ORDER_BUNDLES, ORDER_ITEMS, OrderItem, bundle_for
from cds_service.knowledge.policy import DEFAULT_POLICY, Policy
from cds_service.knowledge.sources import Citation, citation
from cds_service.knowledge.systems import FINDING, OVERRIDE_REASON, RULE
from cds_service.knowledge.value_sets import VALUE_SETS
from cds_service.knowledge.wording import OVERRIDE_REASONS
from cds_service.rules._registry import (
    INDICATOR_RANK,
    SCOPE_NEEDS,
    DataNeed,
    RuleSpec,
    load_registry,
)

DEFAULT_CANONICAL_BASE = "https://prenatal-cds.example.org/fhir"
PUBLISHER = "prenatal-cds"

# The cards layer's data-availability card carries this topic (``cards.DATA_RULE_ID``). The
# export layer may not import the cards layer; a test keeps the two equal.
DATA_TOPIC_CODE = "DATA"
DATA_TOPIC_TITLE = "Data availability"

# Card indicator -> FHIR request priority (info: routine work-up; warning: same-day action;
# critical: "urgent review now", clinical.md B).
PRIORITY: Mapping[str, str] = {"info": "routine", "warning": "urgent", "critical": "stat"}

FINDING_CODE_SYSTEM_ID = "prenatal-cds-finding"
RULE_CODE_SYSTEM_ID = "prenatal-cds-rule"
OVERRIDE_REASON_CODE_SYSTEM_ID = "prenatal-cds-override-reason"
LIBRARY_ID = "prenatal-cds-parameters"
BUNDLE_ID = "prenatal-cds-knowledge"

PLAN_DEFINITION_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
ACTION_TYPE = "http://terminology.hl7.org/CodeSystem/action-type"

_RESOURCE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

_DRAFT_NOTE = (
    "Status draft and experimental: clinical.md requires clinical sign-off before go-live; "
    "these artifacts describe the logic awaiting that sign-off."
)


class KnowledgeExportError(Exception):
    """The export could not be built or written (invalid resource, unusable directory)."""


# ---------------------------------------------------------------------------------------
# Services (passed in as plain data: the export layer may not import ``services``)
# ---------------------------------------------------------------------------------------


class ServiceDeclarationLike(Protocol):
    """What the export reads from a ``hooks/*.toml`` declaration (services.ServiceDeclaration)."""

    @property
    def id(self) -> str: ...

    @property
    def hook(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def usage_requirements(self) -> str | None: ...

    @property
    def rule_families(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class HookBinding:
    """One hook a service answers, with the rule families it runs there."""

    hook: str
    rule_families: tuple[str, ...]

    def selects(self, spec: RuleSpec) -> bool:
        """The engine's selection: the family (or "all") and the rule's own hook limit."""
        families = self.rule_families
        return ("all" in families or spec.family in families) and spec.runs_on(self.hook)


@dataclass(frozen=True)
class ServiceInfo:
    """One CDS service id (possibly answering several hooks)."""

    id: str
    title: str
    description: str
    usage: str | None
    hooks: tuple[HookBinding, ...]

    def rules(self, registry: Mapping[str, RuleSpec]) -> tuple[RuleSpec, ...]:
        return tuple(spec for spec in registry.values() if any(b.selects(spec) for b in self.hooks))


def services_from_declarations(
    declarations: Iterable[ServiceDeclarationLike],
) -> tuple[ServiceInfo, ...]:
    """Group per-hook declarations by service id (one PlanDefinition per id)."""
    grouped: dict[str, list[ServiceDeclarationLike]] = {}
    for declaration in declarations:
        grouped.setdefault(declaration.id, []).append(declaration)
    services: list[ServiceInfo] = []
    for service_id in sorted(grouped):
        decls = sorted(grouped[service_id], key=lambda d: d.hook)
        descriptions = list(dict.fromkeys(d.description for d in decls))
        usages = list(dict.fromkeys(d.usage_requirements for d in decls if d.usage_requirements))
        if len(descriptions) == 1:
            description = descriptions[0]
        else:
            description = " ".join(f"{d.hook}: {d.description}" for d in decls)
        services.append(
            ServiceInfo(
                id=service_id,
                title=decls[0].title,
                description=description,
                usage=" ".join(usages) or None,
                hooks=tuple(HookBinding(d.hook, tuple(d.rule_families)) for d in decls),
            )
        )
    return tuple(services)


# ---------------------------------------------------------------------------------------
# Which orders a rule may suggest (static reading of the rule module)
# ---------------------------------------------------------------------------------------


class _Unresolvable(Exception):
    """An ``orders`` expression the static reading cannot follow."""


@dataclass(frozen=True)
class _ModuleSource:
    module: ModuleType
    functions: Mapping[str, ast.FunctionDef]


@cache
def _module_source(name: str) -> _ModuleSource:
    module = importlib.import_module(name)
    tree = ast.parse(inspect.getsource(module))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    return _ModuleSource(module, functions)


@dataclass(frozen=True)
class _Scope:
    fn: ast.FunctionDef
    # Names bound by an enclosing comprehension: name -> (iterable, tuple index, outer scope).
    comp: Mapping[str, tuple[ast.expr, int | None, _Scope]] = field(default_factory=dict)


_PASS_THROUGH = frozenset({"tuple", "list", "set", "frozenset", "sorted", "reversed"})


def _value_leaves(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, tuple | list | set | frozenset):
        return set().union(*(_value_leaves(v) for v in value))
    if value is None or isinstance(value, int | float):
        return set()
    raise _Unresolvable(f"module value of type {type(value).__name__}")


class _OrderReader:
    """Reads the order keys one rule's findings may carry from its module's source."""

    def __init__(self, source: _ModuleSource, rule_id: str) -> None:
        self.source = source
        self.rule_id = rule_id
        self._active: set[tuple[int, str, int | None]] = set()

    def read(self, function: str) -> tuple[set[str], bool]:
        """The order keys, and whether a finding may ask to delete draft orders."""
        found: set[str] = set()
        deletes = False
        for fn in self._closure(function):
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and self._for_this_rule(node):
                    for keyword in node.keywords:
                        if keyword.arg == "orders":
                            found |= self.leaves(keyword.value, _Scope(fn))
                        elif keyword.arg == "delete_orders" and not _empty_literal(keyword.value):
                            deletes = True
        return found, deletes

    def _for_this_rule(self, call: ast.Call) -> bool:
        for keyword in call.keywords:
            value = keyword.value
            if (
                keyword.arg == "rule_id"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                return value.value == self.rule_id
        return True

    def _closure(self, function: str) -> list[ast.FunctionDef]:
        """The rule function and the module-level functions it calls (transitively)."""
        seen: list[ast.FunctionDef] = []
        todo = [function]
        while todo:
            fn = self.source.functions.get(todo.pop())
            if fn is None or fn in seen:
                continue
            seen.append(fn)
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    todo.append(node.func.id)
        return seen

    # ---- what strings an expression may contain ----

    def leaves(self, node: ast.expr, scope: _Scope) -> set[str]:
        if isinstance(node, ast.Constant):
            return {node.value} if isinstance(node.value, str) else set()
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return set().union(*(self.leaves(e, scope) for e in node.elts))
        if isinstance(node, ast.Starred):
            return self.leaves(node.value, scope)
        if isinstance(node, ast.IfExp):
            return self.leaves(node.body, scope) | self.leaves(node.orelse, scope)
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.leaves(v, scope) for v in node.values))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.leaves(node.left, scope) | self.leaves(node.right, scope)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            return self.leaves(node.value, scope)
        if isinstance(node, ast.Call) and _is_pass_through(node):
            return set().union(*(self.leaves(a, scope) for a in node.args))
        if isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp):
            return self.leaves(node.elt, self._comprehension(node, scope))
        if isinstance(node, ast.Name):
            return self._name(node.id, scope, None)
        raise _Unresolvable(ast.unparse(node))

    def elements(self, node: ast.expr, index: int | None, scope: _Scope) -> set[str]:
        """Strings at position ``index`` of each item of an iterable (None: whole items)."""
        if index is None:
            return self.leaves(node, scope)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return set().union(*(self._item(e, index, scope) for e in node.elts))
        if isinstance(node, ast.IfExp):
            return self.elements(node.body, index, scope) | self.elements(node.orelse, index, scope)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.elements(node.left, index, scope) | self.elements(node.right, index, scope)
        if isinstance(node, ast.Call) and _is_pass_through(node) and len(node.args) == 1:
            return self.elements(node.args[0], index, scope)
        if isinstance(node, ast.Name):
            return self._name(node.id, scope, index)
        raise _Unresolvable(ast.unparse(node))

    def _item(self, node: ast.expr, index: int, scope: _Scope) -> set[str]:
        if isinstance(node, ast.Tuple) and index < len(node.elts):
            return self.leaves(node.elts[index], scope)
        raise _Unresolvable(ast.unparse(node))

    def _comprehension(
        self, node: ast.GeneratorExp | ast.ListComp | ast.SetComp, scope: _Scope
    ) -> _Scope:
        bound = dict(scope.comp)
        current = scope
        for generator in node.generators:
            for name, index in _target_names(generator.target):
                bound[name] = (generator.iter, index, current)
            current = _Scope(scope.fn, dict(bound))
        return current

    def _name(self, name: str, scope: _Scope, index: int | None) -> set[str]:
        if name in scope.comp:
            if index is not None:
                raise _Unresolvable(f"{name} (nested comprehension item)")
            iterable, position, outer = scope.comp[name]
            return self.elements(iterable, position, outer)
        key = (id(scope.fn), name, index)
        if key in self._active:
            return set()
        self._active.add(key)
        try:
            bindings = _local_bindings(scope.fn, name)
            if not bindings:
                return self._module_value(name, index)
            local = _Scope(scope.fn)
            found: set[str] = set()
            for kind, expr, position in bindings:
                if kind == "value":
                    found |= self.elements(expr, index, local)
                elif kind == "item":
                    found |= (
                        self.leaves(expr, local)
                        if index is None
                        else self._item(expr, index, local)
                    )
                elif kind == "items":
                    found |= self.elements(expr, index, local)
                elif kind == "for":
                    if index is not None:
                        raise _Unresolvable(f"{name} (loop variable used as a sequence)")
                    found |= self.elements(expr, position, local)
                else:
                    raise _Unresolvable(f"{name} (function parameter)")
            return found
        finally:
            self._active.discard(key)

    def _module_value(self, name: str, index: int | None) -> set[str]:
        namespace = vars(self.source.module)
        if name not in namespace or callable(namespace[name]):
            raise _Unresolvable(name)
        value = namespace[name]
        if index is None:
            return _value_leaves(value)
        if not isinstance(value, tuple | list):
            raise _Unresolvable(name)
        found: set[str] = set()
        for item in value:
            if not isinstance(item, tuple | list) or index >= len(item):
                raise _Unresolvable(f"{name} item")
            found |= _value_leaves(item[index])
        return found


def _empty_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Tuple | ast.List) and not node.elts


def _is_pass_through(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _PASS_THROUGH
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "fromkeys"
        and isinstance(func.value, ast.Name)
        and func.value.id == "dict"
    )


def _target_names(target: ast.expr) -> list[tuple[str, int | None]]:
    if isinstance(target, ast.Name):
        return [(target.id, None)]
    if isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
        return [(e.id, i) for i, e in enumerate(target.elts) if isinstance(e, ast.Name)]
    raise _Unresolvable(ast.unparse(target))


_Binding = tuple[str, ast.expr, int | None]


def _local_bindings(fn: ast.FunctionDef, name: str) -> list[_Binding]:
    """How a function binds or fills ``name``: ("value"|"item"|"items"|"for"|"param", ...)."""
    out: list[_Binding] = []
    arguments = fn.args
    params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    if any(a.arg == name for a in params):
        out.append(("param", ast.Constant(None), None))
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    out.append(("value", node.value, None))
                elif isinstance(target, ast.Tuple) and any(
                    isinstance(e, ast.Name) and e.id == name for e in target.elts
                ):
                    raise _Unresolvable(f"{name} (tuple assignment)")
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            target = node.target
            if isinstance(target, ast.Name) and target.id == name and node.value is not None:
                out.append(("value", node.value, None))
        elif isinstance(node, ast.For):
            names = dict(_target_names(node.target)) if _simple_target(node.target) else {}
            if name in names:
                out.append(("for", node.iter, names[name]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
            and node.args
        ):
            if node.func.attr in ("append", "add", "insert"):
                out.append(("item", node.args[-1], None))
            elif node.func.attr in ("extend", "update"):
                out.append(("items", node.args[0], None))
    return out


def _simple_target(target: ast.expr) -> bool:
    return isinstance(target, ast.Name) or (
        isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts)
    )


@dataclass(frozen=True)
class RuleOrders:
    """The order keys (bundles or items, knowledge.orders) a rule may suggest."""

    keys: tuple[str, ...]
    problems: tuple[str, ...] = ()
    # The rule may suggest removing the hook's draft order (a CDS Hooks "delete" action).
    deletes_drafts: bool = False

    def items(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i for key in self.keys for i in bundle_for(key).items))


def rule_orders(spec: RuleSpec) -> RuleOrders:
    """Read from the rule module's source which order keys the rule's findings may carry."""
    source = _module_source(spec.func.__module__)
    reader = _OrderReader(source, spec.id)
    try:
        found, deletes = reader.read(spec.func.__name__)
    except _Unresolvable as exc:
        return RuleOrders((), (f"cannot follow the orders expression {exc}",))
    known = set(ORDER_BUNDLES) | set(ORDER_ITEMS)
    unknown = sorted(found - known)
    problems = tuple(f"{key!r} is not an order bundle or item key" for key in unknown)
    return RuleOrders(tuple(sorted(found & known)), problems, deletes)


# ---------------------------------------------------------------------------------------
# Notes next to declarations (comments in the source) and the thresholds a module declares
# ---------------------------------------------------------------------------------------


def _comments(source: str) -> tuple[dict[int, str], set[int]]:
    """Comment text per line, and the lines that hold only a comment."""
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip(" -")
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return comments, set(comments) - code_lines


@dataclass(frozen=True)
class Note:
    """The source comment of a declaration; ``shared``: the comment heading its group."""

    text: str
    shared: bool = False

    def render(self) -> str:
        return f"(group note) {self.text}" if self.shared and self.text else self.text


def _declared_notes(source: str, statements: Sequence[ast.stmt]) -> dict[str, Note]:
    """For each simple ``NAME = ...`` / ``name: T = ...`` statement, the comment block right
    above it plus its trailing comment. A statement with neither, directly below another
    (no blank line), shares the comment block that heads the group."""
    comments, comment_only = _comments(source)
    notes: dict[str, Note] = {}
    group_block = ""
    previous_end = -10
    for statement in statements:
        name = _assigned_name(statement)
        if name is None:
            previous_end = -10
            continue
        block: list[str] = []
        line = statement.lineno - 1
        while line in comment_only:
            block.insert(0, comments[line])
            line -= 1
        trailing = [
            comments[n]
            for n in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
            if n in comments and n not in comment_only
        ]
        if block:
            group_block = " ".join(part for part in block if part)
        elif previous_end != statement.lineno - 1:
            group_block = ""
        own = " ".join(part for part in [*block, *trailing] if part)
        notes[name] = Note(own) if own else Note(group_block, shared=bool(group_block))
        previous_end = statement.end_lineno or statement.lineno
    return notes


def _assigned_name(statement: ast.stmt) -> str | None:
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return statement.targets[0].id
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id
    return None


@dataclass(frozen=True)
class Threshold:
    name: str
    value: int | float
    note: str


@dataclass(frozen=True)
class ModuleThresholds:
    module: str
    families: tuple[str, ...]
    rules: tuple[str, ...]
    constants: tuple[Threshold, ...]


def module_thresholds(registry: Mapping[str, RuleSpec]) -> tuple[ModuleThresholds, ...]:
    """Module-level UPPER_CASE int/float constants assigned in each rule module."""
    by_module: dict[str, list[RuleSpec]] = {}
    for spec in registry.values():
        by_module.setdefault(spec.func.__module__, []).append(spec)
    out: list[ModuleThresholds] = []
    for name in sorted(by_module):
        module = importlib.import_module(name)
        source = inspect.getsource(module)
        tree = ast.parse(source)
        notes = _declared_notes(source, tree.body)
        constants: list[Threshold] = []
        for statement in tree.body:
            target = _assigned_name(statement)
            if target is None or not _CONSTANT_NAME.match(target):
                continue
            value = getattr(module, target, None)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            constants.append(Threshold(target, value, notes.get(target, Note("")).render()))
        specs = by_module[name]
        out.append(
            ModuleThresholds(
                module=name,
                families=tuple(sorted({s.family for s in specs})),
                rules=tuple(s.id for s in specs),
                constants=tuple(constants),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class PolicyField:
    name: str
    value: int | float | bool | str
    note: str


def policy_fields(policy: Policy = DEFAULT_POLICY) -> tuple[PolicyField, ...]:
    """Every Policy field with its value (mappings flattened to ``field.key``) and the
    comment above its declaration in knowledge/policy.py."""
    source = inspect.getsource(policy_module)
    tree = ast.parse(source)
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == Policy.__name__:
            body = node.body
    notes = _declared_notes(source, body)
    out: list[PolicyField] = []
    for spec in dataclasses.fields(policy):
        value = getattr(policy, spec.name)
        note = notes.get(spec.name, Note("")).render()
        if isinstance(value, Mapping):
            for key, item in value.items():
                out.append(PolicyField(f"{spec.name}.{key}", _scalar(item), note))
        else:
            out.append(PolicyField(spec.name, _scalar(value), note))
    return tuple(out)


def _scalar(value: object) -> int | float | bool | str:
    if isinstance(value, bool | int | float | str):
        return value
    raise KnowledgeExportError(f"policy value of type {type(value).__name__} cannot be exported")


def _fhir_type(value: int | float | bool | str) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    return "string"


# ---------------------------------------------------------------------------------------
# Resource builders
# ---------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-.]+", "-", text).strip("-")


def _pascal(text: str) -> str:
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))
    return name if name[:1].isalpha() else f"X{name}"


def _coding(concept: Concept) -> dict[str, str]:
    return {"system": concept.system, "code": concept.code, "display": concept.display}


def _attachment(content_type: str, title: str, text: str) -> dict[str, Any]:
    return {
        "contentType": content_type,
        "title": title,
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
    }


def value_set_id(name: str) -> str:
    return _slug(name.replace(":", "-").replace("_", "-"))


def activity_definition_id(item_key: str) -> str:
    return f"order-{_slug(item_key.replace('_', '-'))}"


def _symptom_definition(display: str, label: str) -> str:
    named = display if label.lower() in display.lower() else f"{display} ({label})"
    return (
        f"{named}. A symptom or sign: an active Condition with this code, or an "
        "Observation with this code whose value is absent, valueBoolean true or SNOMED CT "
        f'{ANSWER_YES.code} "{ANSWER_YES.display}"; valueBoolean false or SNOMED CT '
        f'{ANSWER_NO.code} "{ANSWER_NO.display}" records it as looked for and absent.'
    )


def _measurement_definition(display: str, analyte_key: str) -> str:
    analyte = ANALYTES[analyte_key]
    others = [u for u in analyte.conversions if u != analyte.canonical_unit]
    text = f'{display}. A measurement: Observation valueQuantity in UCUM "{analyte.canonical_unit}"'
    if others:
        text += f" (also accepted and converted: {', '.join(others)})"
    if analyte.unitless_ok:
        text += ", or a unitless valueQuantity or valueInteger"
    text += "."
    if analyte.plausible is not None:
        low, high = analyte.plausible
        text += f" Values outside {low:g}-{high:g} are treated as a unit error and not graded."
    return text


def finding_code_system() -> dict[str, Any]:
    """The ``urn:prenatal-cds:finding`` CodeSystem (clinical.md F), every local code."""
    concepts: dict[str, dict[str, Any]] = {}
    for value_set in VALUE_SETS.values():
        for concept in value_set.concepts:
            if concept.system != FINDING or concept.code in concepts:
                continue
            key = concept.key
            if key in FINDING_BY_CODE:
                finding = FINDINGS[FINDING_BY_CODE[key]]
                kind = "symptom"
                definition = _symptom_definition(concept.display, finding.label)
            elif key in ANALYTE_BY_CODE:
                kind = "measurement"
                definition = _measurement_definition(concept.display, ANALYTE_BY_CODE[key])
            else:
                kind = "other"
                definition = f"{concept.display} (value set {value_set.name})."
            concepts[concept.code] = {
                "code": concept.code,
                "display": concept.display,
                "definition": definition,
                "property": [{"code": "kind", "valueCode": kind}],
            }
    return {
        "resourceType": "CodeSystem",
        "id": FINDING_CODE_SYSTEM_ID,
        "url": FINDING,
        "version": __version__,
        "name": "PrenatalCdsFinding",
        "title": "prenatal-cds findings without a verified standard code",
        "status": "draft",
        "experimental": True,
        "publisher": PUBLISHER,
        "description": (
            "The project's own codes for symptoms, signs and bedside measurements for which no "
            "LOINC or SNOMED CT code could be verified (clinical.md section F). The service also "
            "accepts a standard code for the same finding wherever one is verified later; "
            "unknown codes are ignored, never an error. Laterality comes from bodySite (SNOMED CT "
            "7771000 Left / 24028007 Right, or the words left/right in bodySite.text). "
            + _DRAFT_NOTE
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "property": [
            {
                "code": "kind",
                "type": "code",
                "description": (
                    "symptom: recorded as present or absent (Condition or Observation); "
                    "measurement: an Observation with a value and unit"
                ),
            }
        ],
        "concept": list(concepts.values()),
    }


@dataclass
class _Builder:
    base: str
    registry: Mapping[str, RuleSpec]
    services: Sequence[ServiceInfo]
    orders: Mapping[str, RuleOrders] = field(default_factory=dict)

    def url(self, resource_type: str, resource_id: str) -> str:
        return f"{self.base}/{resource_type}/{resource_id}"

    def _header(
        self, resource_type: str, resource_id: str, title: str, *, url: str | None = None
    ) -> dict[str, Any]:
        return {
            "resourceType": resource_type,
            "id": resource_id,
            "url": url or self.url(resource_type, resource_id),
            "version": __version__,
            "name": _pascal(resource_id),
            "title": title,
            "status": "draft",
            "experimental": True,
            "publisher": PUBLISHER,
        }

    # ---- code systems ----

    def rule_code_system(self) -> dict[str, Any]:
        concepts: list[dict[str, Any]] = [
            {
                "code": spec.id,
                "display": spec.title,
                "definition": spec.explanation,
                "property": [
                    {"code": "family", "valueString": spec.family},
                    {"code": "postpartum", "valueBoolean": spec.postpartum},
                ],
            }
            for spec in self.registry.values()
        ]
        concepts.append(
            {
                "code": DATA_TOPIC_CODE,
                "display": DATA_TOPIC_TITLE,
                "definition": (
                    "Not a clinical rule: the information card sent when some patient data could "
                    "not be retrieved; it says which kinds of data were unavailable and that the "
                    "advice uses only the data received."
                ),
            }
        )
        return {
            **self._header("CodeSystem", RULE_CODE_SYSTEM_ID, "prenatal-cds rules", url=RULE),
            "description": (
                "One code per rule of prenatal-cds (clinical.md B). Every card carries its rule as "
                f"source.topic (system {RULE}); the same code is the action code of the rule's "
                "action in each service's PlanDefinition. " + _DRAFT_NOTE
            ),
            "caseSensitive": True,
            "content": "complete",
            "count": len(concepts),
            "property": [
                {"code": "family", "type": "string", "description": "Rule family (module)"},
                {
                    "code": "postpartum",
                    "type": "boolean",
                    "description": "A (P) rule: also runs up to the postpartum window",
                },
            ],
            "concept": concepts,
        }

    def override_reason_code_system(self) -> dict[str, Any]:
        concepts = [
            {
                "code": c.code,
                "display": c.display,
                "definition": (
                    f"{c.display}: an override reason offered on every warning and critical card "
                    "(clinical.md E.2)."
                ),
            }
            for c in OVERRIDE_REASONS
            if c.system == OVERRIDE_REASON
        ]
        return {
            **self._header(
                "CodeSystem",
                OVERRIDE_REASON_CODE_SYSTEM_ID,
                "prenatal-cds card override reasons",
                url=OVERRIDE_REASON,
            ),
            "description": (
                "The reasons a clinician can give for overriding a card (CDS Hooks "
                "overrideReasons; returned in feedback). " + _DRAFT_NOTE
            ),
            "caseSensitive": True,
            "content": "complete",
            "count": len(concepts),
            "concept": concepts,
        }

    # ---- value sets ----

    def value_set(self, value_set: KnowledgeValueSet, readers: Sequence[str]) -> dict[str, Any]:
        systems: dict[str, list[dict[str, str]]] = {}
        for concept in value_set.concepts:
            systems.setdefault(concept.system, []).append(
                {"code": concept.code, "display": concept.display}
            )
        used = (
            f" Read by: {', '.join(readers)}."
            if readers
            else " Not read by a rule directly (context for the prefetch code lists)."
        )
        return {
            **self._header("ValueSet", value_set_id(value_set.name), value_set.title),
            "description": f"{value_set.title} (knowledge value set '{value_set.name}').{used}",
            "compose": {
                "include": [
                    {"system": system, "concept": concepts} for system, concepts in systems.items()
                ]
            },
        }

    def value_sets(self) -> list[dict[str, Any]]:
        readers: dict[str, list[str]] = {}
        for need in SCOPE_NEEDS:
            if need.value_set is not None:
                readers.setdefault(need.value_set, []).append("the pregnancy scope gate")
        for spec in self.registry.values():
            for need in spec.all_needs():
                if need.value_set is not None:
                    names = readers.setdefault(need.value_set, [])
                    if spec.id not in names:
                        names.append(spec.id)
        out = [self.value_set(vs, readers.get(name, [])) for name, vs in VALUE_SETS.items()]
        ids = [r["id"] for r in out]
        if len(set(ids)) != len(ids):
            raise KnowledgeExportError("two value set names map to the same resource id")
        return out

    # ---- activity definitions ----

    def activity_definition(self, item: OrderItem) -> dict[str, Any]:
        suggested_by = [
            spec.id for spec in self.registry.values() if item.key in self.orders[spec.id].items()
        ]
        usage = (
            f"Suggested by rule(s) {', '.join(suggested_by)}."
            if suggested_by
            else "In the order catalogue; no current rule suggests it."
        )
        return {
            **self._header("ActivityDefinition", activity_definition_id(item.key), item.label),
            "description": (
                f"Propose {item.label} ({item.primary.display}) as a draft ServiceRequest "
                "(status draft, intent proposal, reasonReference to the triggering data) in a "
                "CDS Hooks card suggestion; the service never places an order. Codes and "
                "displays are clinical.md section C; a local orderable catalogue may need a "
                "mapping. " + _DRAFT_NOTE
            ),
            "usage": usage,
            "kind": "ServiceRequest",
            "intent": "proposal",
            "code": {"coding": [_coding(c) for c in item.codings], "text": item.label},
        }

    # ---- plan definitions ----

    def _inputs(self, needs: Iterable[DataNeed]) -> list[dict[str, Any]]:
        types = {
            "observations": ("Observation",),
            "conditions": ("Condition",),
            "findings": ("Condition", "Observation"),
            "medications": ("MedicationRequest",),
            "patient": ("Patient",),
            "procedures": ("Procedure",),
            "draft-orders": ("MedicationRequest", "ServiceRequest"),
        }
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str | None]] = set()
        for need in needs:
            for resource_type in types[need.kind]:
                if (resource_type, need.value_set) in seen:
                    continue
                seen.add((resource_type, need.value_set))
                requirement: dict[str, Any] = {"type": resource_type}
                if need.value_set is not None:
                    requirement["codeFilter"] = [
                        {
                            "path": "code",
                            "valueSet": self.url("ValueSet", value_set_id(need.value_set)),
                        }
                    ]
                out.append(requirement)
        return out

    def _order_actions(self, spec: RuleSpec) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = []
        for key in self.orders[spec.id].keys:
            bundle = bundle_for(key)
            groups.append(
                {
                    "id": f"{spec.id}.{key}",
                    "title": bundle.label,
                    "groupingBehavior": "logical-group",
                    "selectionBehavior": "at-most-one" if bundle.alternatives else "any",
                    "action": [
                        {
                            "id": f"{spec.id}.{key}.{item}",
                            "title": ORDER_ITEMS[item].label,
                            "type": {"coding": [{"system": ACTION_TYPE, "code": "create"}]},
                            "definitionCanonical": self.url(
                                "ActivityDefinition", activity_definition_id(item)
                            ),
                        }
                        for item in bundle.items
                    ],
                }
            )
        if self.orders[spec.id].deletes_drafts:
            groups.append(
                {
                    "id": f"{spec.id}.remove-draft",
                    "title": "Remove the draft order",
                    "description": (
                        "Suggest deleting the draft order that triggered the card (a CDS Hooks "
                        "delete action on the draft); the clinician decides."
                    ),
                    "type": {"coding": [{"system": ACTION_TYPE, "code": "remove"}]},
                }
            )
        return groups

    @staticmethod
    def _documentation(cited: Citation) -> dict[str, Any]:
        return {"type": "citation", "label": cited.key, "display": cited.label, "url": cited.url}

    def rule_action(self, spec: RuleSpec, service: ServiceInfo) -> dict[str, Any]:
        top = max(spec.severities, key=INDICATOR_RANK.__getitem__)
        if spec.postpartum:
            scope = (
                f"In pregnancy and up to {DEFAULT_POLICY.postpartum_window_days} days postpartum."
            )
        else:
            scope = "In pregnancy only."
        if spec.when_unknown:
            scope += (
                " Also while pregnancy status is unknown or conflicting (reproductive age or "
                "age unknown)."
            )
        action: dict[str, Any] = {
            "id": spec.id,
            "title": spec.title,
            "description": spec.explanation,
            "textEquivalent": (
                f"Card indicator: {' or '.join(spec.severities)}. The card's source.topic is "
                f"{RULE} code {spec.id}."
            ),
            "code": [{"coding": [{"system": RULE, "code": spec.id, "display": spec.title}]}],
            "priority": PRIORITY[top],
            "documentation": [self._documentation(citation(spec.citation))],
            "trigger": [
                {"type": "named-event", "name": b.hook} for b in service.hooks if b.selects(spec)
            ],
            "condition": [
                {
                    "kind": "applicability",
                    "expression": {
                        "description": (
                            f"Rule {spec.id} ({spec.func.__module__}.{spec.func.__name__}); "
                            "evaluated by the prenatal-cds engine, stated here in words."
                        ),
                        "language": "text/plain",
                        "expression": f"{scope} {spec.explanation}",
                    },
                }
            ],
            "input": self._inputs(spec.all_needs()),
        }
        sub_actions = self._order_actions(spec)
        if sub_actions:
            action["selectionBehavior"] = "any"
            action["action"] = sub_actions
        return action

    def data_action(self, service: ServiceInfo) -> dict[str, Any]:
        return {
            "id": DATA_TOPIC_CODE,
            "title": DATA_TOPIC_TITLE,
            "description": (
                "One information card when some prefetched or FHIR-server data could not be "
                "retrieved: which kinds of data were unavailable, and that the advice uses only "
                "the data received (no patient details)."
            ),
            "code": [
                {"coding": [{"system": RULE, "code": DATA_TOPIC_CODE, "display": DATA_TOPIC_TITLE}]}
            ],
            "priority": "routine",
            "documentation": [self._documentation(citation("FHIROBS"))],
            "trigger": [{"type": "named-event", "name": b.hook} for b in service.hooks],
            "condition": [
                {
                    "kind": "applicability",
                    "expression": {
                        "language": "text/plain",
                        "expression": (
                            "A prefetch key or FHIR read returned an OperationOutcome, timed "
                            "out, was refused or was truncated."
                        ),
                    },
                }
            ],
        }

    def plan_definition(self, service: ServiceInfo) -> dict[str, Any]:
        rules = service.rules(self.registry)
        hooks = ", ".join(b.hook for b in service.hooks)
        cited: dict[str, Citation] = {}
        for spec in rules:
            cited.setdefault(spec.citation, citation(spec.citation))
        resource: dict[str, Any] = {
            **self._header("PlanDefinition", service.id, service.title),
            "type": {
                "coding": [
                    {"system": PLAN_DEFINITION_TYPE, "code": "eca-rule", "display": "ECA Rule"}
                ]
            },
            "description": f"{service.description} {_DRAFT_NOTE}",
            "purpose": (
                f"Implemented by the CDS Hooks service '{service.id}' (hook: {hooks}); every "
                f"card carries source.topic = {RULE} code of the action that produced it."
            ),
            "library": [self.url("Library", LIBRARY_ID)],
            "action": [*(self.rule_action(spec, service) for spec in rules)],
        }
        if service.usage:
            resource["usage"] = service.usage
        if cited:
            resource["relatedArtifact"] = [self._documentation(c) for c in cited.values()]
        resource["action"].append(self.data_action(service))
        return resource

    # ---- library ----

    def library(self) -> dict[str, Any]:
        policy = policy_fields()
        thresholds = module_thresholds(self.registry)
        document = {
            "policy": {
                "source": "cds_service/knowledge/policy.py",
                "description": "Deployment policy: configurable, with these safe defaults.",
                "fields": [{"name": p.name, "default": p.value, "note": p.note} for p in policy],
            },
            "thresholds": [
                {
                    "module": m.module,
                    "families": list(m.families),
                    "rules": list(m.rules),
                    "constants": [
                        {"name": t.name, "value": t.value, "note": t.note} for t in m.constants
                    ],
                }
                for m in thresholds
            ],
            "scope": _THRESHOLD_SCOPE,
        }
        markdown = _library_markdown(policy, thresholds)
        return {
            **self._header("Library", LIBRARY_ID, "prenatal-cds thresholds and deployment policy"),
            "type": {
                "coding": [
                    {
                        "system": LIBRARY_TYPE,
                        "code": "asset-collection",
                        "display": "Asset Collection",
                    }
                ]
            },
            "description": (
                "Every deployment-policy field (knowledge/policy.py) with its default value, as "
                "input parameters, and the numeric thresholds each rule module declares as a "
                f"named constant, with the source note written next to it. {_THRESHOLD_SCOPE} "
                "The attached JSON holds the same data for machines, the markdown for people. "
                + _DRAFT_NOTE
            ),
            "parameter": [
                {
                    "name": p.name,
                    "use": "in",
                    "min": 0,
                    "max": "1",
                    "documentation": f"Default: {_literal(p.value)}. {p.note}".strip(),
                    "type": _fhir_type(p.value),
                }
                for p in policy
            ],
            "content": [
                _attachment(
                    "application/json",
                    "Policy defaults and rule thresholds (JSON)",
                    json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                ),
                _attachment("text/markdown", "Policy defaults and rule thresholds", markdown),
            ],
        }


_THRESHOLD_SCOPE = (
    "Thresholds are the module-level UPPER_CASE numeric constants of each rule module; numbers "
    "written inline in rule code (for example R24's key-result table) are not listed here, and "
    "each rule's condition text in the PlanDefinitions states its thresholds in words."
)


def _literal(value: int | float | bool | str) -> str:
    return json.dumps(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _library_markdown(policy: Sequence[PolicyField], thresholds: Sequence[ModuleThresholds]) -> str:
    lines = [
        "# prenatal-cds thresholds and deployment policy",
        "",
        "## Deployment policy (cds_service/knowledge/policy.py)",
        "",
        "| Field | Default | Note |",
        "|---|---|---|",
    ]
    lines += [f"| `{p.name}` | `{_literal(p.value)}` | {_cell(p.note)} |" for p in policy]
    lines += ["", "## Rule thresholds (module-level constants)", "", _THRESHOLD_SCOPE]
    for module in thresholds:
        lines += [
            "",
            f"### {module.module} ({', '.join(module.rules)})",
            "",
        ]
        if not module.constants:
            lines.append("No module-level numeric constants.")
            continue
        lines += ["| Constant | Value | Note |", "|---|---|---|"]
        lines += [f"| `{t.name}` | `{t.value:g}` | {_cell(t.note)} |" for t in module.constants]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Validation, assembly and writing
# ---------------------------------------------------------------------------------------

_STATUS = frozenset({"draft", "active", "retired", "unknown"})


def validate_resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Validate with the fhir.resources R4B model of its type; return the model's JSON."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type.isalpha():
        raise KnowledgeExportError(f"not a FHIR resource: resourceType={resource_type!r}")
    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not _RESOURCE_ID.match(resource_id):
        raise KnowledgeExportError(f"{resource_type} id {resource_id!r} is not a valid FHIR id")
    if "status" in resource and resource["status"] not in _STATUS:
        raise KnowledgeExportError(f"{resource_type}/{resource_id}: bad status")
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    model_class = getattr(module, resource_type)
    try:
        model = model_class.model_validate(dict(resource))
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise KnowledgeExportError(f"{resource_type}/{resource_id} is invalid: {exc}") from exc
    dumped: dict[str, Any] = json.loads(model.model_dump_json())
    return dumped


def _canonical_references(value: object) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("definitionCanonical", "valueSet") and isinstance(item, str):
                yield item
            elif key == "library" and isinstance(item, list):
                yield from (i for i in item if isinstance(i, str))
            else:
                yield from _canonical_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _canonical_references(item)


@dataclass(frozen=True)
class KnowledgeExport:
    """The validated resources, in file order, and what could not be derived."""

    canonical_base: str
    resources: tuple[dict[str, Any], ...]
    unresolved_orders: Mapping[str, tuple[str, ...]]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.resources:
            kind = resource["resourceType"]
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def full_url(self, resource: Mapping[str, Any]) -> str:
        return f"{self.canonical_base}/{resource['resourceType']}/{resource['id']}"

    def bundle(self) -> dict[str, Any]:
        return validate_resource(
            {
                "resourceType": "Bundle",
                "id": BUNDLE_ID,
                "type": "collection",
                "entry": [{"fullUrl": self.full_url(r), "resource": r} for r in self.resources],
            }
        )


def build_export(
    services: Sequence[ServiceInfo],
    *,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    registry: Mapping[str, RuleSpec] | None = None,
) -> KnowledgeExport:
    """Every artifact, built from the registries and validated (not yet written)."""
    base = canonical_base.rstrip("/")
    if not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", base):
        raise KnowledgeExportError(f"canonical base {canonical_base!r} must be an http(s) URL")
    rules = load_registry() if registry is None else registry
    orders = {spec.id: rule_orders(spec) for spec in rules.values()}
    builder = _Builder(base, rules, services, orders)
    raw: list[dict[str, Any]] = [
        *(builder.plan_definition(s) for s in services),
        *(builder.activity_definition(item) for item in ORDER_ITEMS.values()),
        finding_code_system(),
        builder.rule_code_system(),
        builder.override_reason_code_system(),
        *builder.value_sets(),
        builder.library(),
    ]
    resources = tuple(validate_resource(r) for r in raw)
    keys = [(r["resourceType"], r["id"]) for r in resources]
    if len(set(keys)) != len(keys):
        raise KnowledgeExportError("two exported resources share a type and id")
    canonicals = {r["url"] for r in resources if "url" in r}
    dangling = sorted(set(_canonical_references(list(resources))) - canonicals)
    if dangling:
        raise KnowledgeExportError(f"references to resources not exported: {dangling[:5]}")
    unresolved = {rid: o.problems for rid, o in orders.items() if o.problems}
    return KnowledgeExport(base, resources, unresolved)


def file_name(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def dump_json(resource: Mapping[str, Any]) -> str:
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    files: tuple[str, ...]
    counts: Mapping[str, int]
    unresolved_orders: Mapping[str, tuple[str, ...]]

    def text(self) -> str:
        lines = [f"Wrote {len(self.files)} files to {self.directory}:"]
        lines += [f"  {kind:<20} {n}" for kind, n in sorted(self.counts.items())]
        for rule_id, problems in self.unresolved_orders.items():
            lines.append(f"  warning: {rule_id} orders not derived: {'; '.join(problems)}")
        return "\n".join(lines)


def export_knowledge(
    directory: Path,
    services: Sequence[ServiceInfo],
    *,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    registry: Mapping[str, RuleSpec] | None = None,
) -> ExportSummary:
    """Build, validate and write every artifact, the index Bundle and a README.md.

    Files left by an earlier export into the same directory (named in its index Bundle)
    that this export no longer produces are removed; other files are never touched.
    """
    export = build_export(services, canonical_base=canonical_base, registry=registry)
    bundle = export.bundle()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written: list[str] = []
        for resource in (*export.resources, bundle):
            name = file_name(resource)
            (directory / name).write_text(dump_json(resource), encoding="utf-8")
            written.append(name)
        _remove_stale(directory, set(written))
        (directory / "README.md").write_text(_readme(export, bundle), encoding="utf-8")
    except OSError as exc:
        raise KnowledgeExportError(f"cannot write to {directory}: {exc.strerror}") from exc
    written.append("README.md")
    counts = export.counts()
    counts["Bundle"] = counts.get("Bundle", 0) + 1
    return ExportSummary(directory, tuple(written), counts, export.unresolved_orders)


def _remove_stale(directory: Path, keep: set[str]) -> None:
    """Remove the files the previous export's README listed that are no longer produced."""
    readme = directory / "README.md"
    if not readme.is_file():
        return
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| \[([A-Za-z]+-[A-Za-z0-9\-.]+\.json)\]", line)
        if match and match.group(1) not in keep:
            (directory / match.group(1)).unlink(missing_ok=True)


def _readme(export: KnowledgeExport, bundle: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(export.counts().items()))
    lines = [
        "# prenatal-cds knowledge artifacts (FHIR R4)",
        "",
        f"Generated by `cds-service knowledge export` from prenatal-cds {__version__}; "
        "regenerate rather than edit. Every file validates with the `fhir.resources` R4B models.",
        "",
        f"* Canonical base: `{export.canonical_base}` (PlanDefinition, ActivityDefinition, "
        "ValueSet, Library); the CodeSystems' canonical URLs are the code system URIs the "
        f"service reads and writes (`{FINDING}`, `{RULE}`, `{OVERRIDE_REASON}`).",
        f"* {_DRAFT_NOTE}",
        f"* A card's `source.topic` (`{RULE}` + rule id) is the `code` (and `id`) of an action "
        "in the PlanDefinition of the service that sent it.",
        f"* Contents: {counts}, and the index Bundle `{file_name(bundle)}` (type collection).",
        "",
        "| File | Resource | Canonical URL | Title |",
        "|---|---|---|---|",
    ]
    for resource in export.resources:
        name = file_name(resource)
        lines.append(
            f"| [{name}]({name}) | {resource['resourceType']} | `{resource.get('url', '')}` | "
            f"{_cell(str(resource.get('title', '')))} |"
        )
    name = file_name(bundle)
    lines.append(f"| [{name}]({name}) | Bundle | | Index of every resource above |")
    return "\n".join(lines) + "\n"
