"""Prefetch templates and answers: token parser/renderer, flatten, next_link, dedupe.

Example-based tests pin the spec's cases (R-8, R-12…R-15); hypothesis properties cover the
parsers on arbitrary input.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_service.fhir.data import DataGap
from cds_service.fhir.prefetch import (
    USER_TOKENS,
    dedupe,
    flatten,
    is_valid_token,
    next_link,
    render_template,
    template_tokens,
)
from cds_service.knowledge.prefetch_sets import expand_code_set
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from tests.fhir._fhir import bundle, observation, outcome, patient

# --- strategies

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True)
token_names = st.one_of(
    st.sampled_from(sorted(USER_TOKENS)),
    names.map(lambda n: f"context.{n}"),
    names,
)
# Literal template text: anything without braces (braces get their own properties below).
literals = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20)
# Values may look like tokens: they must be inserted verbatim, never expanded again.
values = st.one_of(
    st.from_regex(r"[A-Za-z0-9\-./|,:]{0,20}", fullmatch=True),
    st.just("{{context.patientId}}"),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
resource_types = st.sampled_from(["Patient", "Observation", "Condition", "OperationOutcome"])
resources = st.fixed_dictionaries(
    {"resourceType": resource_types},
    optional={"id": st.sampled_from(["a", "b", "c", "1"]), "status": st.just("final")},
)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A template interleaving literals and tokens; returns (template, literals, tokens)."""
    tokens = draw(st.lists(token_names, max_size=5))
    texts = draw(st.lists(literals, min_size=len(tokens) + 1, max_size=len(tokens) + 1))
    spaced = draw(st.lists(st.sampled_from(["", " ", "  "]), min_size=len(tokens) * 2 + 1))
    parts = [texts[0]]
    for i, token in enumerate(tokens):
        parts.append("{{" + spaced[2 * i] + token + spaced[2 * i + 1] + "}}" + texts[i + 1])
    return "".join(parts), texts, tokens


# --- token parser and renderer


@given(templates(), st.data())
def test_render_fills_every_token_verbatim(
    case: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    template, texts, tokens = case
    mapping = {t: data.draw(values, label=t) for t in tokens}
    expected = texts[0] + "".join(mapping[t] + texts[i + 1] for i, t in enumerate(tokens))
    assert render_template(template, mapping) == expected


@given(templates())
def test_tokens_are_found_in_order(case: tuple[str, list[str], list[str]]) -> None:
    template, _, tokens = case
    assert template_tokens(template) == tokens


@given(templates(), st.data())
def test_a_missing_token_value_means_the_template_cannot_be_filled(
    case: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    template, _, tokens = case
    if not tokens:
        return
    dropped = data.draw(st.sampled_from(tokens))
    mapping = {t: "x" for t in tokens if t != dropped}
    assert render_template(template, mapping) is None


@given(st.text(max_size=40).filter(lambda s: "{{" not in s), st.dictionaries(names, values))
def test_text_without_double_braces_is_left_alone(text: str, mapping: dict[str, str]) -> None:
    assert template_tokens(text) == []
    assert render_template(text, mapping) == text


@given(st.text(max_size=40), st.dictionaries(token_names, values, max_size=4))
def test_render_never_raises_and_leaves_no_known_token(text: str, mapping: dict[str, str]) -> None:
    rendered = render_template(text, mapping)
    if rendered is not None:
        for name in template_tokens(text):
            assert name in mapping


@given(names)
def test_root_level_context_fields_are_valid_tokens(name: str) -> None:
    assert is_valid_token(f"context.{name}")


@given(names, names)
def test_nested_context_paths_are_not_2_0_tokens(head: str, tail: str) -> None:
    assert not is_valid_token(f"context.{head}.{tail}")  # {{context.medication.id}}


@given(names.filter(lambda n: n not in USER_TOKENS))
def test_bare_names_other_than_the_user_tokens_are_invalid(name: str) -> None:
    assert not is_valid_token(name)


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        ("context.patientId", True),
        ("context.userId", True),
        ("context.encounterId", True),
        ("userPractitionerId", True),
        ("userPractitionerRoleId", True),
        ("userPatientId", True),
        ("userRelatedPersonId", True),
        ("user", False),  # the sandbox's pre-2.0 {{user}}
        ("context", False),
        ("context.", False),
        ("context.medication.id", False),
        ("patient.id", False),
    ],
)
def test_the_2_0_token_list(token: str, valid: bool) -> None:
    assert is_valid_token(token) is valid


def test_spec_examples_render() -> None:
    tokens = {"context.patientId": "123", "userPractitionerRoleId": "r9"}
    assert render_template("Patient/{{context.patientId}}", tokens) == "Patient/123"
    assert (
        render_template(
            "PractitionerRole?_id={{userPractitionerRoleId}}&_include=PractitionerRole:practitioner",
            tokens,
        )
        == "PractitionerRole?_id=r9&_include=PractitionerRole:practitioner"
    )
    assert render_template("Encounter/{{context.encounterId}}", tokens) is None


# --- our own templates (hooks/*.toml)

_ALLOWED_PARAMS = {
    "patient",
    "subject",
    "code",
    "status",
    "category",
    "date",
    "_count",
    "_sort",
    "_include",  # used by the spec's own example (PractitionerRole:practitioner)
}
_TOKEN_LIST = re.compile(r"^[^,|\s]+\|[^,|\s]+(,[^,|\s]+\|[^,|\s]+)*$")


def _declared() -> list[tuple[str, str, str, str]]:
    registry = ServiceRegistry.from_directory(Settings().hooks_dir, expand_code_set)
    return [
        (d.id, d.hook, key, template)
        for d in registry.declarations.values()
        for key, template in d.prefetch.items()
    ]


@pytest.mark.parametrize(
    ("service", "hook", "key", "template"),
    _declared(),
    ids=[f"{d[0]}/{d[1]}/{d[2]}" for d in _declared()],
)
def test_declared_templates_are_tight_r14_queries(
    service: str, hook: str, key: str, template: str
) -> None:
    assert all(is_valid_token(t) for t in template_tokens(template))
    rendered = render_template(
        template,
        {
            "context.patientId": "pat-1",
            "context.userId": "Practitioner/u1",
            "context.encounterId": "e1",
        },
    )
    assert rendered is not None
    assert "{" not in rendered and "}" not in rendered and "$" not in rendered
    parts = urlsplit(rendered)
    segments = parts.path.split("/")
    assert segments[0][:1].isupper() and len(segments) in (1, 2)
    params = parse_qsl(parts.query, keep_blank_values=True)
    if len(segments) == 2:
        assert params == []  # instance read
        return
    assert {name for name, _ in params} <= _ALLOWED_PARAMS
    assert ("patient", "pat-1") in params  # always scoped to the patient
    for name, value in params:
        if name == "code":
            assert _TOKEN_LIST.match(value), value  # system|code, OR-ed by commas
        if name == "_sort":
            assert value in ("date", "-date")
        if name == "_include":
            assert re.fullmatch(segments[0] + r":[a-z][a-z\-]*", value), value
        if name == "_count":
            assert value.isdigit() and 0 < int(value) <= 1000


# --- flatten


def test_flatten_null_is_nothing_found() -> None:
    assert flatten("k", None) == ([], [])


def test_flatten_empty_searchset_is_nothing_found() -> None:
    assert flatten("k", bundle()) == ([], [])


def test_flatten_a_single_resource() -> None:
    assert flatten("k", patient()) == ([patient()], [])


def test_flatten_bundle_entries_in_order() -> None:
    found, gaps = flatten("k", bundle(observation("o1"), observation("o2")))
    assert [r["id"] for r in found] == ["o1", "o2"]
    assert gaps == []


def test_flatten_operation_outcome_is_a_gap() -> None:
    assert flatten("k", outcome("information")) == ([], [DataGap("k", "operation-outcome")])


@pytest.mark.parametrize(
    ("severity", "gap"),
    [("fatal", True), ("error", True), ("warning", False), ("information", False)],
)
def test_flatten_operation_outcome_entries_by_severity(severity: str, gap: bool) -> None:
    found, gaps = flatten("k", bundle(observation("o1"), outcome(severity)))
    assert [r["id"] for r in found] == ["o1"]
    assert gaps == ([DataGap("k", "operation-outcome")] if gap else [])


def test_flatten_an_issueless_operation_outcome_entry_is_a_gap() -> None:
    found, gaps = flatten("k", bundle({"resourceType": "OperationOutcome"}))
    assert (found, gaps) == ([], [DataGap("k", "operation-outcome")])


@pytest.mark.parametrize("value", ["text", 3, [patient()], True])
def test_flatten_non_objects_are_fetch_errors(value: Any) -> None:
    assert flatten("k", value) == ([], [DataGap("k", "fetch-error")])


@pytest.mark.parametrize("entry", [5, "abc", {"resource": patient()}, True])
def test_flatten_a_bundle_with_a_malformed_entry_list_is_a_fetch_error(entry: Any) -> None:
    value = {"resourceType": "Bundle", "type": "searchset", "entry": entry}
    assert flatten("k", value) == ([], [DataGap("k", "fetch-error")])


def test_flatten_skips_entries_without_a_resource() -> None:
    value = bundle(patient())
    value["entry"] += [{"fullUrl": "urn:x"}, "junk", {"resource": "nope"}]
    assert flatten("k", value) == ([patient()], [])


@given(st.lists(resources, max_size=8))
def test_flatten_keeps_every_non_outcome_entry_in_order(items: list[dict[str, Any]]) -> None:
    found, gaps = flatten("k", bundle(*items))
    assert found == [r for r in items if r["resourceType"] != "OperationOutcome"]
    has_error_outcome = any(r["resourceType"] == "OperationOutcome" for r in items)  # no issues
    assert gaps == ([DataGap("k", "operation-outcome")] if has_error_outcome else [])


@given(json_values)
def test_flatten_never_raises_on_arbitrary_json(value: Any) -> None:
    found, gaps = flatten("k", value)
    assert all(isinstance(r, dict) for r in found)
    assert all(g.key == "k" for g in gaps)


@given(st.dictionaries(st.sampled_from(["resourceType", "entry", "link", "type"]), json_values))
def test_flatten_never_raises_on_bundle_like_json(value: dict[str, Any]) -> None:
    value["resourceType"] = "Bundle"
    found, _ = flatten("k", value)
    assert all(isinstance(r, dict) for r in found)


# --- next_link


def test_next_link_is_the_next_relation() -> None:
    value = bundle(next_url="https://ehr/fhir/Observation?page=2")
    value["link"].insert(0, {"relation": "self", "url": "https://ehr/fhir/Observation"})
    assert next_link(value) == "https://ehr/fhir/Observation?page=2"


@pytest.mark.parametrize(
    "links",
    [
        None,
        [],
        [{"relation": "self", "url": "x"}],
        [{"relation": "next"}],
        [{"relation": "next", "url": ""}],
        "next",
        5,
        {"relation": "next", "url": "x"},
    ],
)
def test_no_next_link(links: Any) -> None:
    assert next_link({"resourceType": "Bundle", "link": links}) is None


@given(json_values)
def test_next_link_never_raises(links: Any) -> None:
    result = next_link({"resourceType": "Bundle", "link": links})
    assert result is None or isinstance(result, str)


# --- dedupe


def test_dedupe_keeps_the_first_copy_and_idless_resources() -> None:
    first = observation("o1", value=1)
    again = observation("o1", value=2)
    idless = {"resourceType": "Observation"}
    assert dedupe([first, patient(), again, idless, idless]) == (first, patient(), idless, idless)


def test_dedupe_distinguishes_types_with_the_same_id() -> None:
    same_id = {"resourceType": "Condition", "id": "pat-1"}
    assert dedupe([patient(), same_id]) == (patient(), same_id)


@given(st.lists(resources, max_size=12))
def test_dedupe_properties(items: list[dict[str, Any]]) -> None:
    out = dedupe(items)
    assert dedupe(out) == out  # idempotent
    refs = [f"{r['resourceType']}/{r['id']}" for r in out if "id" in r]
    assert len(refs) == len(set(refs))  # no duplicate type/id
    assert [r for r in out if "id" not in r] == [r for r in items if "id" not in r]
    it = iter(items)
    assert all(any(r is x for x in it) for r in out)  # an order-preserving subsequence
    for r in items:  # the first copy of each type/id is the one kept
        if "id" in r:
            kept = next(
                x for x in out if x.get("id") == r["id"] and x["resourceType"] == r["resourceType"]
            )
            first = next(
                x
                for x in items
                if x.get("id") == r["id"] and x["resourceType"] == r["resourceType"]
            )
            assert kept is first
