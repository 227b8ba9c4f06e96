"""Order hooks: R18 quinine (delete suggestion), R17b diuretic without K/Mg/Na, R18b D-dimer
note; order-select looks only at the selected drafts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cds_service.cards import build_cards
from cds_service.engine import EngineResult, evaluate
from cds_service.wire import Card
from tests.clinical.builders import (
    ago,
    evaluation,
    lab,
    medication,
    patient,
    postpartum,
    pregnancy_status,
    pregnant,
    rule_of,
)

Resource = dict[str, Any]
FAMILIES = ("medications",)


def quinine_draft(ident: str = "mr-quinine-1") -> Resource:
    return medication(
        rxnorm="9071", atc="P01BC01", display="Quinine sulfate 200 mg", status="draft", ident=ident
    )


def paracetamol_draft(ident: str = "mr-paracetamol-1") -> Resource:
    return medication(
        rxnorm="161", atc="N02BE01", display="Paracetamol 500 mg", status="draft", ident=ident
    )


def furosemide_draft(ident: str = "mr-furosemide-1") -> Resource:
    return medication(
        rxnorm="4603", atc="C03CA01", display="Furosemide 20 mg", status="draft", ident=ident
    )


def d_dimer_draft(ident: str = "sr-ddimer-1") -> Resource:
    return {
        "resourceType": "ServiceRequest",
        "id": ident,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "48065-7"}]},
        "subject": {"reference": "Patient/pat-1"},
    }


def run_order(
    resources: list[Resource],
    drafts: Sequence[Resource],
    *,
    hook: str = "order-sign",
    selections: Sequence[str] = (),
) -> EngineResult:
    ev = evaluation(resources, hook=hook, families=FAMILIES, drafts=drafts)
    return evaluate(replace(ev, selections=tuple(selections)))


def rules(result: EngineResult) -> dict[str, str]:
    return {f.rule_id: f.indicator for f in result.findings}


def cards(result: EngineResult) -> list[Card]:
    return build_cards(result)


# ---- R18 quinine ----------------------------------------------------------------------------


def test_quinine_order_sign_in_pregnancy_is_warning_with_delete_suggestion() -> None:
    result = run_order(pregnant(28), [paracetamol_draft(), quinine_draft()])
    assert rules(result) == {"R18": "warning"}
    (card,) = cards(result)
    assert rule_of(card) == "R18" and card.indicator == "warning"
    (suggestion,) = card.suggestions or []
    (action,) = suggestion.actions or []
    assert action.type == "delete" and action.resource is None
    assert action.resource_id == "MedicationRequest/mr-quinine-1"
    assert card.override_reasons
    assert "Quinine ordered for a pregnant patient at 28+0w" in card.summary


def test_quinine_selected_on_order_select_is_warning() -> None:
    result = run_order(
        pregnant(28),
        [quinine_draft(), paracetamol_draft()],
        hook="order-select",
        selections=["MedicationRequest/mr-quinine-1"],
    )
    assert rules(result) == {"R18": "warning"}


def test_quinine_not_in_selections_gives_no_card_on_order_select() -> None:
    result = run_order(
        pregnant(28),
        [quinine_draft(), paracetamol_draft()],
        hook="order-select",
        selections=["MedicationRequest/mr-paracetamol-1"],
    )
    assert result.findings == ()


def test_absolute_selection_reference_matches_the_draft() -> None:
    result = run_order(
        pregnant(28),
        [quinine_draft()],
        hook="order-select",
        selections=["https://ehr.example.org/fhir/MedicationRequest/mr-quinine-1"],
    )
    assert rules(result) == {"R18": "warning"}


def test_quinine_identified_by_atc_only_is_caught() -> None:
    atc_only = medication(atc="P01BC01", display="Quinine", status="draft", ident="mr-q")
    assert rules(run_order(pregnant(20), [atc_only])) == {"R18": "warning"}


def test_quinine_for_a_non_pregnant_patient_gives_no_card() -> None:
    resources = [pregnancy_status("LA26683-5", when=ago(days=2))]
    result = run_order(resources, [quinine_draft()])
    assert cards(result) == []


def test_quinine_for_a_male_patient_without_pregnancy_evidence_gives_no_card() -> None:
    result = run_order([patient(gender="male")], [quinine_draft()])
    assert cards(result) == []


def test_quinine_postpartum_gives_no_r18() -> None:
    assert "R18" not in rules(run_order(postpartum(10), [quinine_draft()]))


def test_quinine_card_never_suggests_quinine_or_a_dose() -> None:
    result = run_order(pregnant(28), [quinine_draft()])
    (finding,) = result.findings
    own_words = " ".join(
        (finding.headline, finding.action, finding.rule_text, *finding.cautions, *finding.notes)
    ).lower()
    assert not re.search(r"\d\s*(mg|g|mmol|units?)\b", own_words)
    (card,) = cards(result)
    assert all(a.type == "delete" for s in card.suggestions or [] for a in s.actions or [])


def test_quinine_rule_does_not_run_on_patient_view() -> None:
    ev = evaluation(
        [*pregnant(28), medication(rxnorm="9071", display="Quinine")], hook="patient-view"
    )
    assert "R18" not in evaluate(ev).rules_run


# ---- R17b diuretic order --------------------------------------------------------------------


def test_diuretic_order_without_recent_electrolytes_suggests_k_mg_na() -> None:
    result = run_order(pregnant(31), [furosemide_draft()])
    assert rules(result) == {"R17b": "info"}
    (card,) = cards(result)
    codes = {
        coding["code"]
        for s in card.suggestions or []
        for a in s.actions or []
        if a.resource
        for coding in a.resource["code"]["coding"]
    }
    assert codes == {"2823-3", "2601-3", "2951-2"}
    assert len(card.suggestions or []) == 1


def test_diuretic_order_suggests_only_the_missing_electrolytes() -> None:
    resources = [*pregnant(31), lab("potassium", 4.0, "mmol/L", when=ago(days=2))]
    (card,) = cards(run_order(resources, [furosemide_draft()]))
    codes = {
        a.resource["code"]["coding"][0]["code"]
        for s in card.suggestions or []
        for a in s.actions or []
        if a.resource
    }
    assert codes == {"2601-3", "2951-2"}


def test_diuretic_order_with_fresh_k_mg_na_gives_no_card() -> None:
    resources = [
        *pregnant(31),
        lab("potassium", 4.0, "mmol/L", when=ago(days=6)),
        lab("magnesium", 0.8, "mmol/L", code_index=1, when=ago(days=6)),
        lab("sodium", 138, "mmol/L", when=ago(days=6)),
    ]
    assert run_order(resources, [furosemide_draft()]).findings == ()


def test_diuretic_order_with_8_day_old_potassium_suggests_it_again() -> None:
    resources = [
        *pregnant(31),
        lab("potassium", 4.0, "mmol/L", when=ago(days=8)),
        lab("magnesium", 0.8, "mmol/L", code_index=1, when=ago(days=1)),
        lab("sodium", 138, "mmol/L", when=ago(days=1)),
    ]
    finding = next(f for f in run_order(resources, [furosemide_draft()]).findings)
    assert finding.rule_id == "R17b" and "K" in finding.headline


def test_thiazide_order_is_checked_too() -> None:
    draft = medication(rxnorm="5487", display="Hydrochlorothiazide", status="draft", ident="mr-h")
    assert rules(run_order(pregnant(31), [draft])) == {"R17b": "info"}


def test_diuretic_order_for_a_non_pregnant_patient_gives_no_card() -> None:
    resources = [pregnancy_status("LA26683-5", when=ago(days=2))]
    assert run_order(resources, [furosemide_draft()]).findings == ()


def test_unselected_diuretic_on_order_select_gives_no_card() -> None:
    result = run_order(
        pregnant(31),
        [furosemide_draft(), paracetamol_draft()],
        hook="order-select",
        selections=["MedicationRequest/mr-paracetamol-1"],
    )
    assert result.findings == ()


# ---- R18b D-dimer ---------------------------------------------------------------------------


def test_d_dimer_order_gets_the_not_a_rule_out_note() -> None:
    result = run_order(
        pregnant(30),
        [d_dimer_draft()],
        hook="order-select",
        selections=["ServiceRequest/sr-ddimer-1"],
    )
    assert rules(result) == {"R18b": "info"}
    (card,) = cards(result)
    assert "not a stand-alone rule-out in pregnancy" in card.summary
    assert card.suggestions is None
    text = f"{card.summary} {card.detail}".lower()
    for phrase in ("excluded", "unlikely", "low risk"):
        assert phrase not in text


def test_d_dimer_order_postpartum_gets_the_note() -> None:
    assert rules(run_order(postpartum(7), [d_dimer_draft()])) == {"R18b": "info"}


def test_other_lab_orders_get_no_d_dimer_note() -> None:
    other = d_dimer_draft("sr-k")
    other["code"] = {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]}
    assert run_order(pregnant(30), [other]).findings == ()


def test_d_dimer_code_in_another_system_is_not_matched() -> None:
    other = d_dimer_draft("sr-x")
    other["code"] = {"coding": [{"system": "urn:oid:1.2.3", "code": "48065-7"}]}
    assert run_order(pregnant(30), [other]).findings == ()
