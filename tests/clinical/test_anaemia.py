"""R9 anaemia in pregnancy: WHO 2011 severity, trimester cut-offs (WHO vs BSH policy),
ferritin, the BSH >34-week note, and the optional postpartum cut-off."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cds_service.knowledge.policy import DEFAULT_POLICY
from tests.clinical.builders import (
    ago,
    cards_for,
    lab,
    medication,
    one,
    postpartum,
    pregnancy_status,
    pregnant,
    rule_of,
)

Resource = dict[str, Any]
BSH = replace(DEFAULT_POLICY, anaemia_t3_standard="BSH")
POSTPARTUM_ON = replace(DEFAULT_POLICY, anaemia_postpartum_enabled=True)


def hb(value: float, unit: str = "g/L", **kw: Any) -> Resource:
    return lab("haemoglobin", value, unit, **kw)


def test_hb_6_5_g_dl_is_critical() -> None:
    finding = one([*pregnant(32), hb(6.5, "g/dL")], "R9")
    assert finding is not None and finding.indicator == "critical"
    assert finding.headline.startswith("Hb 6.5 g/dL (65 g/L): severe anaemia")


def test_hb_69_g_l_is_critical() -> None:
    finding = one([*pregnant(20), hb(69)], "R9")
    assert finding is not None and finding.indicator == "critical"


def test_hb_exactly_70_g_l_is_warning() -> None:
    finding = one([*pregnant(20), hb(70)], "R9")
    assert finding is not None and finding.indicator == "warning"


def test_hb_99_g_l_is_warning() -> None:
    finding = one([*pregnant(20), hb(99)], "R9")
    assert finding is not None and finding.indicator == "warning"


@pytest.mark.parametrize(("value", "unit"), [(95, "g/L"), (9.5, "g/dL"), (0.95 * 6.2, "mmol/L")])
def test_hb_in_g_l_g_dl_and_mmol_l_grade_the_same(value: float, unit: str) -> None:
    finding = one([*pregnant(24), hb(value, unit)], "R9")
    assert finding is not None and finding.indicator == "warning"


def test_hb_over_25_without_unit_is_not_graded() -> None:
    unitless = lab("haemoglobin", 95, None, no_code=True)
    assert one([*pregnant(24), unitless], "R9") is None


def test_hb_exactly_100_g_l_in_third_trimester_is_info() -> None:
    finding = one([*pregnant(30), hb(100)], "R9")
    assert finding is not None and finding.indicator == "info"


def test_hb_104_g_l_third_trimester_is_info_with_ferritin() -> None:
    resources = [*pregnant(30), hb(104, when=ago(days=2))]
    finding = one(resources, "R9")
    assert finding is not None and finding.indicator == "info"
    assert finding.orders == ("ferritin",)
    card = next(c for c in cards_for(resources) if rule_of(c) == "R9")
    codes = {
        a.resource["code"]["coding"][0]["code"]
        for s in card.suggestions or []
        for a in s.actions or []
        if a.resource
    }
    assert codes == {"2276-4"}


def test_ferritin_within_4_weeks_is_not_suggested_again() -> None:
    resources = [
        *pregnant(30),
        hb(104, when=ago(days=2)),
        lab("ferritin", 45, "ug/L", when=ago(days=20)),
    ]
    card = next(c for c in cards_for(resources) if rule_of(c) == "R9")
    assert card.suggestions is None


def test_hb_109_g_l_third_trimester_is_info_under_who_and_silent_under_bsh() -> None:
    resources = [*pregnant(30), hb(109)]
    who = one(resources, "R9")
    assert who is not None and who.indicator == "info"
    assert one(resources, "R9", policy=BSH) is None


def test_hb_exactly_110_g_l_third_trimester_gives_no_card() -> None:
    assert cards_for([*pregnant(30), hb(110)]) == []


def test_hb_exactly_105_g_l_second_trimester_gives_no_card() -> None:
    assert one([*pregnant(20), hb(105)], "R9") is None


def test_hb_104_g_l_second_trimester_is_info() -> None:
    finding = one([*pregnant(20), hb(104)], "R9")
    assert finding is not None and finding.indicator == "info"


def test_hb_108_g_l_first_trimester_is_info() -> None:
    finding = one([*pregnant(10), hb(108)], "R9")
    assert finding is not None and finding.indicator == "info"


def test_hb_112_g_l_gives_no_card() -> None:
    assert cards_for([*pregnant(28), hb(112)]) == []


def test_hb_below_100_after_34_weeks_adds_the_bsh_note() -> None:
    finding = one([*pregnant(36), hb(98)], "R9")
    assert finding is not None and finding.indicator == "warning"
    assert any("After 34 weeks" in n for n in finding.notes)


def test_hb_below_100_at_exactly_34_weeks_has_no_late_note() -> None:
    finding = one([*pregnant(34), hb(98)], "R9")
    assert finding is not None
    assert not any("After 34 weeks" in n for n in finding.notes)


def test_low_ferritin_is_named_as_iron_deficiency() -> None:
    finding = one([*pregnant(30), hb(96), lab("ferritin", 12, "ug/L", when=ago(days=3))], "R9")
    assert finding is not None
    assert any("below 30 ug/L" in n for n in finding.notes)


def test_on_iron_the_card_asks_for_the_repeat_fbc() -> None:
    iron = medication(
        rxnorm="24947", atc="B03AA07", display="Ferrous sulfate 200 mg", start=ago(days=10)
    )
    finding = one([*pregnant(30), hb(96), iron], "R9")
    assert finding is not None
    assert any("repeat the FBC 2-3 weeks" in n for n in finding.notes)


def test_hb_measured_before_iron_started_three_weeks_ago_is_stale() -> None:
    iron = medication(rxnorm="24947", display="Ferrous sulfate", start=ago(days=22))
    assert one([*pregnant(30), hb(96, when=ago(days=25)), iron], "R9") is None


def test_stale_hb_is_never_graded() -> None:
    assert one([*pregnant(30), hb(65, when=ago(days=29))], "R9") is None


def test_preliminary_hb_65_is_capped_at_warning() -> None:
    finding = one([*pregnant(30), hb(65, status="preliminary")], "R9")
    assert finding is not None and finding.indicator == "warning"


def test_unknown_gestation_uses_the_110_cut_off_and_says_so() -> None:
    resources = [pregnancy_status("LA15173-0", when=ago(days=10)), hb(107)]
    finding = one(resources, "R9")
    assert finding is not None and finding.indicator == "info"
    assert finding.gaps


def test_postpartum_anaemia_is_silent_by_default() -> None:
    assert one([*postpartum(5), hb(85)], "R9") is None


def test_postpartum_anaemia_below_100_when_enabled_is_warning() -> None:
    finding = one([*postpartum(5), hb(85)], "R9", policy=POSTPARTUM_ON)
    assert finding is not None and finding.indicator == "warning"
    assert one([*postpartum(5), hb(100)], "R9", policy=POSTPARTUM_ON) is None


def test_severe_anaemia_card_is_critical_with_overrides_and_iron_studies() -> None:
    cards = [c for c in cards_for([*pregnant(32), hb(6.5, "g/dL")]) if rule_of(c) == "R9"]
    assert len(cards) == 1 and cards[0].indicator == "critical"
    assert cards[0].override_reasons
    assert "WHO <7.0" in cards[0].summary and "32+0w" in cards[0].summary
