"""The FHIR knowledge export (issue 6 section 3): every artifact validates, is derived from the
registries, and resolves what the cards carry."""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service import cli
from cds_service.cards import DATA_RULE_ID, build_cards
from cds_service.engine import evaluate, select_rules
from cds_service.export import (
    DATA_TOPIC_CODE,
    DEFAULT_CANONICAL_BASE,
    KnowledgeExportError,
    ServiceInfo,
    activity_definition_id,
    build_export,
    dump_json,
    export_knowledge,
    finding_code_system,
    rule_orders,
    services_from_declarations,
    validate_resource,
    value_set_id,
)
from cds_service.fhir.data import Evaluation
from cds_service.knowledge.codes import Concept
from cds_service.knowledge.orders import ORDER_ITEMS
from cds_service.knowledge.policy import DEFAULT_POLICY
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.knowledge.systems import FINDING, RULE
from cds_service.knowledge.value_sets import VALUE_SETS
from cds_service.rules._registry import Finding, RuleSpec, findings, load_registry
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from cds_service.wire import Card
from tests.conftest import ROOT

COMMITTED_FINDING_CODE_SYSTEM = ROOT / "docs" / "fhir" / "CodeSystem-prenatal-cds-finding.json"
FIXTURES = ROOT / "fixtures"
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

# clinical.md section F: every project code the service must ship.
SECTION_F_CODES = (
    "calf-circumference-difference",
    "contraction-frequency",
    "puqe-score",
    "carpopedal-spasm",
    "chvostek-sign",
    "trousseau-sign",
    "tetany",
    "trismus",
    "visual-disturbance",
    "left-arm-pain",
    "haemoptysis",
    "confusion",
    "reflexes-absent",
    "supine-dizziness",
    "reduced-fetal-movements",
)


@pytest.fixture(scope="module")
def declarations() -> ServiceRegistry:
    return ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)


@pytest.fixture(scope="module")
def services(declarations: ServiceRegistry) -> tuple[ServiceInfo, ...]:
    return services_from_declarations(declarations.declarations.values())


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory, services: tuple[ServiceInfo, ...]) -> Path:
    directory = tmp_path_factory.mktemp("knowledge")
    summary = export_knowledge(directory, services)
    assert summary.unresolved_orders == {}, summary.unresolved_orders
    return directory


@pytest.fixture(scope="module")
def resources(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Every exported JSON file by file name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in out_dir.glob("*.json")}


def _of_type(resources: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources.values() if r["resourceType"] == kind]


def _plan(resources: dict[str, dict[str, Any]], service_id: str) -> dict[str, Any]:
    return resources[f"PlanDefinition-{service_id}.json"]


def _model(kind: str) -> Any:
    return getattr(importlib.import_module(f"fhir.resources.R4B.{kind.lower()}"), kind)


def _walk_actions(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for action in actions:
        yield action
        yield from _walk_actions(action.get("action", []))


# ---- every file is valid FHIR ------------------------------------------------------------


def test_every_file_parses_and_validates_with_fhir_resources(
    resources: dict[str, dict[str, Any]],
) -> None:
    assert len(resources) > 100
    for name, resource in resources.items():
        kind = resource["resourceType"]
        _model(kind).model_validate(resource)  # raises on any invalid element
        assert FHIR_ID.match(resource["id"]), name
        assert name == f"{kind}-{resource['id']}.json"
        if kind != "Bundle":
            assert resource["status"] == "draft", name
            assert resource["experimental"] is True, name


def test_counts_follow_the_registries(
    resources: dict[str, dict[str, Any]], services: tuple[ServiceInfo, ...]
) -> None:
    assert len(_of_type(resources, "PlanDefinition")) == len(services) == 3
    assert len(_of_type(resources, "ActivityDefinition")) == len(ORDER_ITEMS)
    assert len(_of_type(resources, "ValueSet")) == len(VALUE_SETS)
    assert {r["url"] for r in _of_type(resources, "CodeSystem")} == {
        FINDING,
        RULE,
        "urn:prenatal-cds:override-reason",
    }
    assert len(_of_type(resources, "Library")) == 1


def test_index_bundle_and_readme_list_every_file(
    out_dir: Path, resources: dict[str, dict[str, Any]]
) -> None:
    bundle = resources["Bundle-prenatal-cds-knowledge.json"]
    assert bundle["type"] == "collection"
    entries = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    others = {(r["resourceType"], r["id"]) for r in resources.values() if r is not bundle}
    assert entries == others
    for entry in bundle["entry"]:
        resource = entry["resource"]
        expected = f"{DEFAULT_CANONICAL_BASE}/{resource['resourceType']}/{resource['id']}"
        assert entry["fullUrl"] == expected
    readme = (out_dir / "README.md").read_text(encoding="utf-8")
    for name in resources:
        assert f"[{name}]({name})" in readme


def test_every_canonical_reference_resolves(resources: dict[str, dict[str, Any]]) -> None:
    urls = {r["url"] for r in resources.values() if "url" in r}
    for plan in _of_type(resources, "PlanDefinition"):
        assert set(plan["library"]) <= urls
        for action in _walk_actions(plan["action"]):
            if "definitionCanonical" in action:
                assert action["definitionCanonical"] in urls
            for requirement in action.get("input", []):
                for code_filter in requirement.get("codeFilter", []):
                    assert code_filter["valueSet"] in urls


# ---- rules as PlanDefinition actions -------------------------------------------------------


def test_every_rule_is_an_action_of_each_service_that_runs_it(
    resources: dict[str, dict[str, Any]], declarations: ServiceRegistry
) -> None:
    registry = load_registry()
    expected: dict[str, dict[str, set[str]]] = {}  # service -> rule -> hooks
    for declaration in declarations.declarations.values():
        families, hook = declaration.rule_families, declaration.hook
        rules = expected.setdefault(declaration.id, {})
        for spec in registry.values():
            # the service's families ("all" = every family); a rule may limit itself to hooks
            if ("all" in families or spec.family in families) and spec.runs_on(hook):
                rules.setdefault(spec.id, set()).add(hook)
        engine_selection = {s.id for s in select_rules(families, hook, registry)}
        assert engine_selection == {r for r, hooks in rules.items() if hook in hooks}
    in_some_plan: set[str] = set()
    for service_id, rules in expected.items():
        actions = {a["id"]: a for a in _plan(resources, service_id)["action"]}
        assert set(actions) - {DATA_TOPIC_CODE} == set(rules)
        for rule_id, hooks in rules.items():
            spec = registry[rule_id]
            action = actions[rule_id]
            assert action["code"] == [
                {"coding": [{"system": RULE, "code": rule_id, "display": spec.title}]}
            ]
            assert action["title"] == spec.title
            assert action["description"] == spec.explanation
            assert {t["name"] for t in action["trigger"]} == hooks
            assert all(t["type"] == "named-event" for t in action["trigger"])
            assert action["condition"][0]["kind"] == "applicability"
            assert spec.explanation in action["condition"][0]["expression"]["expression"]
            top = max(spec.severities, key=["info", "warning", "critical"].index)
            assert action["priority"] == {"info": "routine", "warning": "urgent"}.get(top, "stat")
            assert action["documentation"][0]["label"] == spec.citation
            in_some_plan.add(rule_id)
    assert in_some_plan == set(registry), "a registered rule runs in no service"


def test_every_rule_is_a_concept_of_the_rule_code_system(
    resources: dict[str, dict[str, Any]],
) -> None:
    code_system = resources["CodeSystem-prenatal-cds-rule.json"]
    assert code_system["url"] == RULE
    concepts = {c["code"]: c for c in code_system["concept"]}
    registry = load_registry()
    assert set(concepts) == set(registry) | {DATA_TOPIC_CODE}
    for rule_id, spec in registry.items():
        assert concepts[rule_id]["display"] == spec.title
        assert concepts[rule_id]["definition"] == spec.explanation
    assert code_system["count"] == len(concepts)


def test_data_topic_matches_the_cards_layer() -> None:
    assert DATA_TOPIC_CODE == DATA_RULE_ID


# ---- orders ---------------------------------------------------------------------------------


def test_every_order_a_rule_may_suggest_has_an_activity_definition(
    resources: dict[str, dict[str, Any]],
) -> None:
    registry = load_registry()
    referenced: set[str] = set()
    for spec in registry.values():
        orders = rule_orders(spec)
        assert orders.problems == (), (spec.id, orders.problems)
        referenced.update(orders.items())
    assert referenced, "no rule suggests an order"
    for key in referenced:
        item = ORDER_ITEMS[key]
        activity = resources[f"ActivityDefinition-{activity_definition_id(key)}.json"]
        assert activity["kind"] == "ServiceRequest"
        assert activity["intent"] == "proposal"
        assert activity["code"]["coding"] == [
            {"system": c.system, "code": c.code, "display": c.display} for c in item.codings
        ]


def test_rule_actions_reference_the_activity_definitions_of_their_orders(
    resources: dict[str, dict[str, Any]],
) -> None:
    plan = _plan(resources, "prenatal-cramps-convulsions")
    actions = {a["id"]: a for a in plan["action"]}
    # R5 suggests the venous duplex (bilateral or single leg: one of the two).
    duplex = next(a for a in actions["R5"]["action"] if a["id"] == "R5.venous-duplex")
    assert duplex["selectionBehavior"] == "at-most-one"
    assert [a["definitionCanonical"].rsplit("/", 1)[1] for a in duplex["action"]] == [
        "order-venous-duplex-bilateral",
        "order-venous-duplex",
    ]
    for rule_id, action in actions.items():
        if rule_id == DATA_TOPIC_CODE:
            continue
        spec = load_registry()[rule_id]
        canonicals = {
            a["definitionCanonical"].rsplit("/", 1)[1]
            for a in _walk_actions(action.get("action", []))
            if "definitionCanonical" in a
        }
        assert canonicals == {activity_definition_id(k) for k in rule_orders(spec).items()}


# ---- the app's cards resolve to the artifacts (and the order reading misses nothing) ---------


class _Recorder:
    """The real engine and cards, recording each finding the rules produced."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def __call__(self, evaluation: Evaluation) -> list[Card]:
        result = evaluate(evaluation)
        self.findings.extend(result.findings)
        return build_cards(result)


def _fixture_cases() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if (p / "expect.json").is_file())


def test_fixture_cards_topics_resolve_and_findings_stay_within_exported_orders(
    resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    recorder = _Recorder()
    now: list[datetime] = [datetime.fromisoformat("2026-11-25T10:00:00+00:00")]
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    registry = load_registry()
    topics_seen = 0
    with TestClient(create_app_for(settings, recorder, now)) as client:
        for case in _fixture_cases():
            expect = json.loads((case / "expect.json").read_text(encoding="utf-8"))
            request = json.loads((case / "request.json").read_text(encoding="utf-8"))
            now[0] = datetime.fromisoformat(expect["asOf"].replace("Z", "+00:00"))
            response = client.post(f"/cds-services/{expect['service']}", json=request)
            assert response.status_code == 200, case.name
            actions = {
                a["code"][0]["coding"][0]["code"]: a
                for a in _plan(resources, expect["service"])["action"]
            }
            for card in response.json()["cards"]:
                topic = card["source"]["topic"]
                assert topic["system"] == RULE
                assert topic["code"] in actions, (case.name, topic)
                assert topic["display"] == actions[topic["code"]]["title"]
                topics_seen += 1
    assert topics_seen >= 20
    assert any(f.orders for f in recorder.findings)
    for finding in recorder.findings:
        orders = rule_orders(registry[finding.rule_id])
        assert set(finding.orders) <= set(orders.keys), (finding.rule_id, finding.orders)
        if finding.delete_orders:
            assert orders.deletes_drafts, finding.rule_id


def create_app_for(settings: Settings, advisor: _Recorder, now: list[datetime]) -> Any:
    from cds_service.api.app import create_app

    return create_app(settings, advisor=advisor, clock=lambda: now[0])


def test_a_critical_fixture_card_topic_is_a_plan_definition_action_code(
    resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from cds_service.api.app import create_app
    from cds_service.cards import advise

    case = FIXTURES / "anaemia-hb-6-5-g-dl-critical"
    expect = json.loads((case / "expect.json").read_text(encoding="utf-8"))
    as_of = datetime.fromisoformat(expect["asOf"].replace("Z", "+00:00"))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    with TestClient(create_app(settings, advisor=advise, clock=lambda: as_of)) as client:
        body = json.loads((case / "request.json").read_text(encoding="utf-8"))
        cards = client.post(f"/cds-services/{expect['service']}", json=body).json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["R9"]
    codes = {
        (coding["system"], coding["code"])
        for action in _plan(resources, expect["service"])["action"]
        for concept in action["code"]
        for coding in concept["coding"]
    }
    topic = cards[0]["source"]["topic"]
    assert (topic["system"], topic["code"]) in codes


# ---- code systems, value sets, library ------------------------------------------------------


def test_finding_code_system_has_every_section_f_code(
    resources: dict[str, dict[str, Any]],
) -> None:
    code_system = resources["CodeSystem-prenatal-cds-finding.json"]
    assert code_system["url"] == FINDING
    assert code_system["content"] == "complete"
    concepts = {c["code"]: c for c in code_system["concept"]}
    assert set(SECTION_F_CODES) <= set(concepts)
    for concept in concepts.values():
        assert concept["display"].strip()
        assert concept["definition"].strip()
    # every project code any value set holds is defined there
    local = {c.code for vs in VALUE_SETS.values() for c in vs.concepts if c.system == FINDING}
    assert set(concepts) == local
    assert concepts["calf-circumference-difference"]["property"] == [
        {"code": "kind", "valueCode": "measurement"}
    ]
    assert '"cm"' in concepts["calf-circumference-difference"]["definition"]
    assert concepts["tetany"]["property"] == [{"code": "kind", "valueCode": "symptom"}]


def test_committed_finding_code_system_equals_a_fresh_export(out_dir: Path) -> None:
    fresh = (out_dir / "CodeSystem-prenatal-cds-finding.json").read_text(encoding="utf-8")
    committed = COMMITTED_FINDING_CODE_SYSTEM.read_text(encoding="utf-8")
    assert committed == fresh, (
        "docs/fhir/CodeSystem-prenatal-cds-finding.json is out of date: run "
        "`cds-service knowledge export /tmp/kx && cp /tmp/kx/CodeSystem-prenatal-cds-finding.json "
        "docs/fhir/` (see docs/knowledge-artifacts.md)"
    )
    assert committed == dump_json(validate_resource(finding_code_system()))


def test_value_sets_hold_every_concept_with_its_display(
    resources: dict[str, dict[str, Any]],
) -> None:
    for name, value_set in VALUE_SETS.items():
        exported = resources[f"ValueSet-{value_set_id(name)}.json"]
        included = {
            (include["system"], concept["code"]): concept["display"]
            for include in exported["compose"]["include"]
            for concept in include["concept"]
        }
        assert included == {c.key: c.display for c in value_set.concepts}, name
        assert exported["title"] == value_set.title


def test_library_lists_every_policy_default_and_rule_thresholds(
    resources: dict[str, dict[str, Any]],
) -> None:
    library = resources["Library-prenatal-cds-parameters.json"]
    assert library["type"]["coding"][0]["code"] == "asset-collection"
    parameters = {p["name"]: p for p in library["parameter"]}
    for field in dataclasses.fields(DEFAULT_POLICY):
        value = getattr(DEFAULT_POLICY, field.name)
        if isinstance(value, dict) or hasattr(value, "items"):
            for key, item in value.items():
                assert parameters[f"{field.name}.{key}"]["documentation"].startswith(
                    f"Default: {json.dumps(item)}."
                )
        else:
            assert parameters[field.name]["documentation"].startswith(
                f"Default: {json.dumps(value)}."
            )
    attachments = {a["contentType"]: a for a in library["content"]}
    document = json.loads(base64.b64decode(attachments["application/json"]["data"]))
    defaults = {f["name"]: f["default"] for f in document["policy"]["fields"]}
    assert defaults["postpartum_window_days"] == DEFAULT_POLICY.postpartum_window_days == 42
    electrolytes = next(
        m for m in document["thresholds"] if m["module"] == "cds_service.rules.electrolytes"
    )
    constants = {c["name"]: c for c in electrolytes["constants"]}
    assert constants["K_SEVERE_BELOW"]["value"] == 2.5
    assert "RCEMLearning" in constants["K_SEVERE_BELOW"]["note"]
    markdown = base64.b64decode(attachments["text/markdown"]["data"]).decode("utf-8")
    assert "| `K_SEVERE_BELOW` | `2.5` |" in markdown


# ---- the order reading on a synthetic rule module -------------------------------------------


def _synthetic_rule(tmp_path: Path, source: str, name: str) -> RuleSpec:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
    return RuleSpec(
        id="R90",
        title="Synthetic",
        family="synthetic",
        citation="CKS",
        needs=findings("leg-cramp"),
        func=module.rule_function,
        explanation="A synthetic rule.",
    )


def test_order_reading_follows_loops_helpers_and_appends(tmp_path: Path) -> None:
    spec = _synthetic_rule(
        tmp_path,
        """
        TABLE = (("haemoglobin", "cbc"), ("creatinine", "renal_panel"))

        def Finding(**kwargs):
            return kwargs

        def _helper(flag):
            picked = []
            for analyte, order in TABLE:
                if flag:
                    picked.append((analyte, order))
            orders = tuple(dict.fromkeys(o for _, o in picked))[:3]
            return Finding(rule_id="R90", orders=orders)

        def _other_rule():
            return Finding(rule_id="R91", orders=("thyroid",))

        def rule_function(facts):
            orders = ["ecg"] + (["venous-duplex"] if facts else [])
            orders.append("plgf")
            _other_rule()
            return [_helper(facts), Finding(rule_id="R90", orders=tuple(orders))]
        """,
        "synthetic_rule_module_ok",
    )
    orders = rule_orders(spec)
    assert orders.problems == ()
    # "creatinine" is an order item key too, but only the table's order column is read.
    assert orders.keys == ("cbc", "ecg", "plgf", "renal_panel", "venous-duplex")


def test_order_reading_reports_what_it_cannot_follow(tmp_path: Path) -> None:
    spec = _synthetic_rule(
        tmp_path,
        """
        def Finding(**kwargs):
            return kwargs

        def rule_function(facts):
            return Finding(rule_id="R90", orders=facts.chosen_orders)
        """,
        "synthetic_rule_module_dynamic",
    )
    orders = rule_orders(spec)
    assert orders.keys == ()
    assert orders.problems and "facts.chosen_orders" in orders.problems[0]
    typo = _synthetic_rule(
        tmp_path,
        """
        def Finding(**kwargs):
            return kwargs

        def rule_function(facts):
            return Finding(rule_id="R90", orders=("cbc", "no-such-bundle"))
        """,
        "synthetic_rule_module_typo",
    )
    assert rule_orders(typo).problems == ("'no-such-bundle' is not an order bundle or item key",)


# ---- guards and the CLI ---------------------------------------------------------------------


def test_invalid_resources_and_bases_are_refused(services: tuple[ServiceInfo, ...]) -> None:
    with pytest.raises(KnowledgeExportError, match="not a valid FHIR id"):
        validate_resource({"resourceType": "ValueSet", "id": "finding:seizure", "status": "draft"})
    with pytest.raises(KnowledgeExportError, match="is invalid"):
        validate_resource({"resourceType": "ValueSet", "id": "x", "status": "draft", "bad": 1})
    with pytest.raises(KnowledgeExportError, match="http"):
        build_export(services, canonical_base="urn:example")


def test_value_set_ids_are_fhir_ids() -> None:
    assert value_set_id("analyte:calcium_ionised") == "analyte-calcium-ionised"
    assert all(FHIR_ID.match(value_set_id(name)) for name in VALUE_SETS)
    assert Concept(FINDING, "tetany", "Tetany") in VALUE_SETS["finding:tetany"].concepts


def test_cli_knowledge_export_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifacts"
    base = "https://knowledge.example.test/fhir"
    assert cli.main(["knowledge", "export", str(out), "--canonical-base", base]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"PlanDefinition\s+3", printed)
    assert re.search(rf"ActivityDefinition\s+{len(ORDER_ITEMS)}", printed)
    plan = json.loads((out / "PlanDefinition-prenatal-visit.json").read_text(encoding="utf-8"))
    assert plan["url"] == f"{base}/PlanDefinition/prenatal-visit"
    assert plan["type"]["coding"][0]["code"] == "eca-rule"
    # a second export removes what the first wrote and no longer exists, and nothing else
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "ValueSet-retired.json").write_text("{}", encoding="utf-8")
    readme = out / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8") + "| [ValueSet-retired.json](ValueSet-retired.json) |\n",
        encoding="utf-8",
    )
    assert cli.main(["knowledge", "export", str(out)]) == 0
    assert not (out / "ValueSet-retired.json").exists()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_cli_knowledge_export_reports_an_unwritable_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert cli.main(["knowledge", "export", str(blocker / "sub")]) == 1
    assert "knowledge export failed" in capsys.readouterr().err
