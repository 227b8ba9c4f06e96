"""One contract over every registered rule (STYLE.md "rules as units").

Each rule has a citation with a URL, a plain-words explanation, a positive fixture, and
data needs that every service running it covers with its prefetch; the registry refuses
bad entries at load time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.engine import check_data_needs, registry, select_rules, uncovered_needs
from cds_service.errors import ConfigurationError
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.knowledge.sources import CITATIONS
from cds_service.rules._registry import RegistryError, findings, rule
from cds_service.services import ServiceDeclaration, ServiceRegistry

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted(registry())


def _fixture_rules() -> dict[str, set[str]]:
    """rule id -> indicators it is expected at in some fixture."""
    out: dict[str, set[str]] = {}
    for expect in (ROOT / "fixtures").glob("*/expect.json"):
        for card in json.loads(expect.read_text(encoding="utf-8")).get("cards", []):
            out.setdefault(card["rule"], set()).add(card["indicator"])
    return out


FIXTURE_RULES = _fixture_rules()


def _services() -> list[ServiceDeclaration]:
    return list(
        ServiceRegistry.from_directory(ROOT / "hooks", expand_code_set).declarations.values()
    )


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_has_citation_explanation_and_needs(rule_id: str) -> None:
    spec = registry()[rule_id]
    assert spec.citation in CITATIONS and CITATIONS[spec.citation].url.startswith("http")
    assert len(spec.explanation) > 40
    assert spec.needs


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_has_a_positive_fixture(rule_id: str) -> None:
    assert rule_id in FIXTURE_RULES, f"{rule_id} has no fixture expecting its card"


@pytest.mark.parametrize("service", _services(), ids=lambda s: f"{s.id}:{s.hook}")
def test_every_service_covers_the_data_needs_of_its_rules(service: ServiceDeclaration) -> None:
    assert select_rules(service.rule_families, service.hook), "a service must run some rules"
    assert uncovered_needs(service) == []


def test_start_up_refuses_a_service_whose_prefetch_misses_a_rule_need() -> None:
    service = next(s for s in _services() if s.hook == "patient-view")
    trimmed = dict(service.prefetch)
    del trimmed["vitals"]
    broken = ServiceDeclaration(
        service.id,
        service.hook,
        service.title,
        service.description,
        trimmed,
        None,
        ("all",),
        service.source,
    )
    with pytest.raises(ConfigurationError, match="blood-pressure"):
        check_data_needs([broken])


def test_start_up_refuses_an_unknown_rule_family() -> None:
    service = next(s for s in _services() if s.hook == "patient-view")
    odd = ServiceDeclaration(
        service.id,
        service.hook,
        service.title,
        service.description,
        service.prefetch,
        None,
        ("astrology",),
        service.source,
    )
    with pytest.raises(ConfigurationError, match="unknown rule families"):
        check_data_needs([odd])


def test_registry_refuses_a_duplicate_id() -> None:
    with pytest.raises(RegistryError, match="duplicate"):

        @rule(
            id="R1", title="Imposter", family="seizure", citation="NG133", needs=findings("seizure")
        )
        def imposter(_: object) -> None:
            """A second R1 must not load."""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "X1"}, "rule id"),
        ({"citation": "NOPE"}, "citation"),
        ({"needs": ()}, "data needs"),
    ],
)
def test_registry_refuses_bad_entries(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "id": "R98",
        "title": "Test",
        "family": "test",
        "citation": "NG133",
        "needs": findings("seizure"),
    }
    base.update(kwargs)
    with pytest.raises(RegistryError, match=message):

        @rule(**base)  # type: ignore[arg-type]
        def bad(_: object) -> None:
            """A bad declaration."""


def test_a_rule_without_docstring_is_refused() -> None:
    with pytest.raises(RegistryError, match="docstring"):

        @rule(id="R97", title="Test", family="test", citation="NG133", needs=findings("seizure"))
        def undocumented(_: object) -> None:
            pass
