"""R23 vitamin D deficiency (SACN 2016: <25 nmol/L = 10 ng/mL), info only."""

from __future__ import annotations

from typing import Any

from tests.clinical.builders import (
    ago,
    cards_for,
    lab,
    medication,
    one,
    postpartum,
    pregnant,
    rule_of,
)

Resource = dict[str, Any]


def vitamin_d(value: float, unit: str = "nmol/L", **kw: Any) -> Resource:
    return lab("vitamin_d", value, unit, code_index=2 if unit == "nmol/L" else 0, **kw)


def test_vitamin_d_18_nmol_l_is_info() -> None:
    finding = one([*pregnant(22), vitamin_d(18, when=ago(days=10))], "R23")
    assert finding is not None and finding.indicator == "info"
    assert finding.headline == "25-OH vitamin D 18 nmol/L (7.2 ng/mL)"


def test_vitamin_d_24_nmol_l_is_info() -> None:
    assert one([*pregnant(22), vitamin_d(24)], "R23") is not None


def test_vitamin_d_exactly_25_nmol_l_gives_no_card() -> None:
    assert cards_for([*pregnant(22), vitamin_d(25)]) == []


def test_vitamin_d_in_ng_ml_is_converted() -> None:
    low = one([*pregnant(16), vitamin_d(8, "ng/mL")], "R23")  # 20 nmol/L
    assert low is not None and low.indicator == "info"
    assert one([*pregnant(16), vitamin_d(12, "ng/mL")], "R23") is None  # 30 nmol/L


def test_vitamin_d_older_than_12_weeks_is_stale() -> None:
    assert one([*pregnant(30), vitamin_d(15, when=ago(days=85))], "R23") is None


def test_vitamin_d_11_weeks_old_still_counts() -> None:
    assert one([*pregnant(30), vitamin_d(15, when=ago(days=77))], "R23") is not None


def test_already_on_vitamin_d_is_mentioned() -> None:
    supplement = medication(rxnorm="2418", atc="A11CC05", display="Colecalciferol 400 units")
    finding = one([*pregnant(22), vitamin_d(18), supplement], "R23")
    assert finding is not None
    assert any("Already on Colecalciferol" in n for n in finding.notes)


def test_vitamin_d_card_is_pregnancy_only() -> None:
    assert one([*postpartum(10), vitamin_d(12)], "R23") is None


def test_vitamin_d_card_is_info_without_override_reasons() -> None:
    cards = [c for c in cards_for([*pregnant(22), vitamin_d(18)]) if rule_of(c) == "R23"]
    assert len(cards) == 1 and cards[0].indicator == "info"
    assert cards[0].override_reasons is None
    assert "below UK deficiency threshold" in cards[0].summary
