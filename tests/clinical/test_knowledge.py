"""Knowledge data: derived prefetch lists, the finding CodeSystem, order catalogue."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.codesystem import CodeSystem

from cds_service.errors import ConfigurationError
from cds_service.knowledge.codes import FINDINGS, MEDICATION_CLASSES
from cds_service.knowledge.codesystem import CODESYSTEM_FILE, finding_code_system
from cds_service.knowledge.orders import ORDER_BUNDLES, ORDER_ITEMS
from cds_service.knowledge.policy import DEFAULT_POLICY
from cds_service.knowledge.prefetch_sets import code_set_names, expand_code_set
from cds_service.knowledge.systems import ATC, FINDING, LOINC, RXNORM, SNOMED
from cds_service.knowledge.value_sets import PREFETCH_CODE_SETS, VALUE_SETS


def test_shipped_code_system_matches_the_knowledge_and_is_valid_fhir() -> None:
    shipped = json.loads(CODESYSTEM_FILE.read_text(encoding="utf-8"))
    assert shipped == finding_code_system()
    CodeSystem.model_validate(shipped)
    codes = {c["code"] for c in shipped["concept"]}
    # clinical.md section F table.
    assert {
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
    } <= codes


def test_prefetch_lists_are_derived_from_value_sets() -> None:
    labs = expand_code_set("lab-observations")
    assert f"{LOINC}|718-7" in labs and f"{LOINC}|59260-0" in labs
    conditions = expand_code_set("conditions")
    assert f"{SNOMED}|91175000" in conditions and f"{FINDING}|left-arm-pain" in conditions
    assert set(code_set_names()) == set(PREFETCH_CODE_SETS)


def test_unknown_code_set_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError):
        expand_code_set("nope")


def test_every_finding_code_is_in_the_observation_and_condition_prefetch() -> None:
    obs = PREFETCH_CODE_SETS["finding-observations"].codes
    cond = PREFETCH_CODE_SETS["conditions"].codes
    for finding in FINDINGS.values():
        for concept in finding.concepts:
            assert concept.key in obs and concept.key in cond


@pytest.mark.parametrize(
    ("item", "code", "display"),
    [
        ("cbc", "58410-2", "CBC panel - Blood by Automated count"),
        ("venous_duplex_bilateral", "39420-5", "US.doppler Lower extremity vein - bilateral"),
        ("upcr", "2890-2", "Protein/Creatinine [Mass Ratio] in Urine"),
        ("ecg", "29303009", "Electrocardiographic procedure"),
        ("troponin_i", "10839-9", "Troponin I.cardiac [Mass/volume] in Serum or Plasma"),
        ("hepatic_panel", "24325-3", "Hepatic function 2000 panel - Serum or Plasma"),
    ],
)
def test_order_catalogue_uses_section_c_displays(item: str, code: str, display: str) -> None:
    primary = ORDER_ITEMS[item].primary
    assert (primary.code, primary.display) == (code, display)


def test_d_dimer_esr_and_ctg_are_never_orderable() -> None:
    codes = {c.code for i in ORDER_ITEMS.values() for c in i.codings}
    assert "48065-7" not in codes  # D-dimer: never suggested (clinical.md C)
    assert "4537-7" not in codes  # ESR: not by default
    for bundle in ORDER_BUNDLES.values():
        assert "ctg" not in bundle.key


def test_quinine_is_matched_by_rxnorm_and_atc() -> None:
    quinine = MEDICATION_CLASSES["quinine"]
    assert quinine.matches(RXNORM, "9071") and quinine.matches(ATC, "P01BC01")
    assert not quinine.matches(SNOMED, "9071")


def test_value_sets_are_keyed_by_name() -> None:
    assert all(name == vs.name for name, vs in VALUE_SETS.items())


def test_policy_defaults_follow_clinical_md() -> None:
    assert DEFAULT_POLICY.postpartum_window_days == 42
    assert DEFAULT_POLICY.staleness_for("electrolyte") == 7
    assert DEFAULT_POLICY.staleness_for("haematology") == 28
    assert DEFAULT_POLICY.staleness_for("vitamin-d") == 84
    assert DEFAULT_POLICY.anaemia_t3_standard == "WHO"
