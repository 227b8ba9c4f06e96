"""Engine (scope gate, isolation) and cards (merging, wording, suggestions) behaviour."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.cards import build_cards
from cds_service.engine import registry, run_rules, select_rules
from cds_service.fhir.data import DataGap
from cds_service.knowledge.wording import FORBIDDEN_PHRASES
from cds_service.rules._registry import Finding, RuleSpec, findings
from tests.clinical.builders import (
    NOW,
    ago,
    bp,
    cards_for,
    delivery,
    facts_of,
    lab,
    patient,
    pregnancy_status,
    pregnant,
    rule_of,
    symptom,
)

SCENARIOS: list[list[dict[str, Any]]] = [
    [*pregnant(34), symptom("seizure"), bp(168, 114), lab("platelets", 90, "10*9/L")],
    [
        *pregnant(11),
        symptom("leg-swelling", side="left"),
        lab("spo2", 94, "%"),
        lab("d_dimer", 0.3, "mg/L"),
    ],
    [
        *pregnant(31),
        lab("contraction_frequency", 7, "/h"),
        symptom("back-pain"),
        symptom("left-arm-pain"),
    ],
    [*pregnant(30), bp(144, 92), symptom("headache"), symptom("supine-dizziness")],
    [*pregnant(22), symptom("regular-contractions"), lab("haemoglobin", 98, None)],
]


def test_cards_sorted_critical_warning_info() -> None:
    ranks = {"critical": 0, "warning": 1, "info": 2}
    for resources in SCENARIOS:
        cards = cards_for(resources)
        assert [ranks[c.indicator] for c in cards] == sorted(ranks[c.indicator] for c in cards)


@pytest.mark.parametrize("resources", SCENARIOS)
def test_card_contract(resources: list[dict[str, Any]]) -> None:
    for card in cards_for(resources):
        assert card.uuid and len(card.summary) < 140
        assert card.source.url and card.source.url.startswith("http")
        assert card.source.topic is not None and card.source.topic.system == "urn:prenatal-cds:rule"
        text = f"{card.summary} {card.detail}".lower()
        for phrase in FORBIDDEN_PHRASES:
            assert phrase not in text
        if card.indicator in ("warning", "critical"):
            assert card.override_reasons and len(card.override_reasons) == 4
            assert all(r.display for r in card.override_reasons)
        else:
            assert not card.override_reasons
        assert len(card.suggestions or []) <= 3
        if card.suggestions:
            assert card.selection_behavior in ("any", "at-most-one")
        for suggestion in card.suggestions or []:
            assert suggestion.uuid
            for action in suggestion.actions or []:
                if action.type != "create":
                    continue
                resource = action.resource or {}
                ServiceRequest.model_validate(resource)
                assert resource["status"] == "draft" and resource["intent"] == "proposal"
                assert resource["subject"] == {"reference": "Patient/pat-1"}
                assert resource.get("reasonReference")


_DOSE = re.compile(r"\b\d+(\.\d+)?\s*(mg|g|mcg|micrograms?|units?|iu|ml|mmol)\b(?!/)", re.I)


@pytest.mark.parametrize("resources", SCENARIOS)
def test_no_drug_doses_in_rule_text_cautions_or_notes(resources: list[dict[str, Any]]) -> None:
    from tests.clinical.builders import run

    for finding in run(resources).findings:
        for text in (finding.rule_text, finding.action, *finding.cautions, *finding.notes):
            assert not _DOSE.search(text), text


def test_every_uuid_is_unique() -> None:
    cards = cards_for(SCENARIOS[0]) + cards_for(SCENARIOS[0])
    ids = [c.uuid for c in cards] + [s.uuid for c in cards for s in c.suggestions or []]
    assert len(ids) == len(set(ids))


def test_order_already_resulted_within_window_is_not_suggested() -> None:
    resources = [
        *pregnant(34),
        bp(165, 112),
        lab("platelets", 250, "10*9/L", when=ago(hours=2)),
        lab("creatinine", 60, "umol/L", when=ago(hours=2)),
    ]
    card = cards_for(resources)[0]
    codes = {
        a.resource["code"]["coding"][0]["code"]
        for s in card.suggestions or []
        for a in s.actions or []
    }
    assert "58410-2" not in codes and "24362-6" not in codes
    assert "24325-3" in codes


def test_order_in_hook_draft_orders_is_not_suggested() -> None:
    draft = {
        "resourceType": "ServiceRequest",
        "id": "d1",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": "Patient/pat-1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2890-2"}]},
    }
    card = cards_for([*pregnant(34), bp(165, 112)], hook="order-select", drafts=[draft])
    codes = {
        a.resource["code"]["coding"][0]["code"]
        for c in card
        for s in c.suggestions or []
        for a in s.actions or []
    }
    assert "2890-2" not in codes


def test_non_pregnant_patient_gets_no_cards() -> None:
    resources = [pregnancy_status("LA26683-5", when=ago(days=3)), bp(170, 115), symptom("seizure")]
    assert cards_for(resources) == []


def test_postpartum_keeps_only_p_rules() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=5)),
        symptom("supine-dizziness"),
        symptom("leg-swelling", side="left"),
    ]
    rules = {rule_of(c) for c in cards_for(resources)}
    assert "R5" in rules and "R15" not in rules


def test_postpartum_summary_names_the_day() -> None:
    resources = [
        pregnancy_status("LA15173-0", when=ago(days=200)),
        delivery(ago(days=5)),
        bp(170, 112),
    ]
    assert "postpartum day 5" in cards_for(resources)[0].summary


def test_unknown_status_over_55_drops_critical_cards() -> None:
    resources = [
        patient(birth="1960-01-01"),
        pregnancy_status("LA4489-6", when=ago(days=1)),
        symptom("seizure"),
    ]
    assert cards_for(resources) == []


def test_failing_rule_yields_info_card_and_the_call_still_answers() -> None:
    def broken(_: Any) -> Finding | None:
        """Always fails."""
        raise ZeroDivisionError

    spec = RuleSpec(
        id="R99",
        title="Broken check",
        family="test",
        citation="NG133",
        needs=findings("seizure"),
        func=broken,
        explanation="x",
        postpartum=True,
    )
    facts = facts_of([*pregnant(30), bp(165, 112)])
    result = run_rules(facts, [spec, *select_rules(("all",), "patient-view")])
    cards = build_cards(result)
    assert {rule_of(c) for c in cards} >= {"R99", "R2"}
    failure = next(c for c in cards if rule_of(c) == "R99")
    assert failure.indicator == "info" and "could not run" in failure.summary


def test_data_gap_adds_one_info_card_without_phi() -> None:
    cards = cards_for(
        [*pregnant(30)], gaps=[DataGap("labs", "timeout"), DataGap("vitals", "timeout")]
    )
    data_cards = [c for c in cards if rule_of(c) == "DATA"]
    assert len(data_cards) == 1
    assert "laboratory results" in (data_cards[0].detail or "")
    assert "pat-1" not in (data_cards[0].detail or "")


def test_data_gap_for_non_pregnant_patient_is_silent() -> None:
    assert (
        cards_for(
            [pregnancy_status("LA26683-5", when=ago(days=3))], gaps=[DataGap("labs", "timeout")]
        )
        == []
    )


def test_order_hook_services_select_only_their_families() -> None:
    selected = select_rules(("seizure",), "order-sign")
    assert {s.id for s in selected} == {"R1"}


def test_registry_ids_are_unique_and_sorted() -> None:
    ids = list(registry())
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids, key=lambda i: registry()[i].sort_key)


def test_facts_are_frozen() -> None:
    facts = facts_of(pregnant(30))
    with pytest.raises(AttributeError):
        facts.now = NOW + timedelta(days=1)  # type: ignore[misc]
