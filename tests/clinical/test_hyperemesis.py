"""R7 vomiting/hyperemesis with dehydration or metabolic signs; ketonuria never grades."""

from __future__ import annotations

from typing import Any

from cds_service.knowledge.systems import LOINC
from tests.clinical.builders import (
    ago,
    bp,
    cards_for,
    condition,
    lab,
    observation,
    one,
    postpartum,
    pregnant,
    rule_of,
    symptom,
)

Resource = dict[str, Any]


def vomiting(**kw: Any) -> Resource:
    return symptom("vomiting", when=kw.pop("when", ago(hours=3)), **kw)


def heart_rate(value: float) -> Resource:
    return lab("heart_rate", value, "/min")


def ketones(grade_text: str) -> Resource:
    res = observation(LOINC, "2514-8", display="Ketones [Presence] in Urine by Test strip")
    res["valueCodeableConcept"] = {"text": grade_text}
    return res


def test_hyperemesis_with_shock_is_critical() -> None:
    resources = [*pregnant(9), vomiting(), bp(84, 50), heart_rate(122)]
    finding = one(resources, "R7")
    assert finding is not None and finding.indicator == "critical"
    assert "HR 122" in finding.headline and "BP 84/50" in finding.headline


def test_hyperemesis_condition_with_shock_is_critical() -> None:
    resources = [
        *pregnant(10),
        condition("hyperemesis-severe", onset=ago(days=5)),
        bp(86, 48),
        heart_rate(118),
    ]
    finding = one(resources, "R7")
    assert finding is not None and finding.indicator == "critical"


def test_vomiting_with_confusion_is_critical() -> None:
    finding = one([*pregnant(11), vomiting(), symptom("confusion")], "R7")
    assert finding is not None and finding.indicator == "critical"
    assert any("Wernicke" in n for n in finding.notes)


def test_vomiting_with_k_2_4_is_critical() -> None:
    finding = one([*pregnant(11), vomiting(), lab("potassium", 2.4, "mmol/L")], "R7")
    assert finding is not None and finding.indicator == "critical"


def test_vomiting_with_k_exactly_2_5_is_warning() -> None:
    finding = one([*pregnant(11), vomiting(), lab("potassium", 2.5, "mmol/L")], "R7")
    assert finding is not None and finding.indicator == "warning"


def test_vomiting_with_seizure_is_critical() -> None:
    finding = one([*pregnant(11), vomiting(), symptom("seizure", when=ago(hours=1))], "R7")
    assert finding is not None and finding.indicator == "critical"


def test_vomiting_with_low_k_and_na_is_warning() -> None:
    resources = [
        *pregnant(10),
        vomiting(),
        lab("potassium", 3.1, "mmol/L"),
        lab("sodium", 131, "mmol/L"),
        heart_rate(96),
        bp(108, 68),
    ]
    finding = one(resources, "R7")
    assert finding is not None and finding.indicator == "warning"
    assert "K 3.1" in finding.headline and "Na 131" in finding.headline


def test_hypotension_without_tachycardia_is_warning() -> None:
    finding = one([*pregnant(10), vomiting(), bp(88, 56), heart_rate(92)], "R7")
    assert finding is not None and finding.indicator == "warning"


def test_tachycardia_without_hypotension_is_warning() -> None:
    finding = one([*pregnant(10), vomiting(), bp(110, 70), heart_rate(112)], "R7")
    assert finding is not None and finding.indicator == "warning"


def test_heart_rate_exactly_100_is_not_a_sign() -> None:
    assert one([*pregnant(10), vomiting(), heart_rate(100)], "R7") is None


def test_systolic_exactly_90_is_not_a_sign() -> None:
    assert one([*pregnant(10), vomiting(), bp(90, 60)], "R7") is None


def test_sodium_exactly_135_and_k_3_5_are_not_signs() -> None:
    resources = [
        *pregnant(10),
        vomiting(),
        lab("sodium", 135, "mmol/L"),
        lab("potassium", 3.5, "mmol/L"),
    ]
    assert one(resources, "R7") is None


def test_oliguria_with_vomiting_is_warning() -> None:
    finding = one([*pregnant(8), vomiting(), symptom("oliguria", when=ago(hours=2))], "R7")
    assert finding is not None and finding.indicator == "warning"


def test_puqe_13_is_warning_and_12_is_not_a_sign() -> None:
    severe = one([*pregnant(8), vomiting(), lab("puqe_score", 13, "{score}")], "R7")
    assert severe is not None and severe.indicator == "warning"
    assert one([*pregnant(8), vomiting(), lab("puqe_score", 12, "{score}")], "R7") is None


def test_weight_loss_over_5_percent_is_warning() -> None:
    resources = [
        *pregnant(10),
        vomiting(),
        lab("body_weight", 64.0, "kg", when=ago(days=40)),
        lab("body_weight", 60.0, "kg", when=ago(hours=2)),
    ]
    finding = one(resources, "R7")
    assert finding is not None and "weight loss 6%" in finding.headline


def test_weight_loss_of_exactly_5_percent_is_not_a_sign() -> None:
    resources = [
        *pregnant(10),
        vomiting(),
        lab("body_weight", 60.0, "kg", when=ago(days=40)),
        lab("body_weight", 57.0, "kg", when=ago(hours=2)),
    ]
    assert one(resources, "R7") is None


def test_ketonuria_alone_never_escalates() -> None:
    resources = [
        *pregnant(8),
        vomiting(),
        ketones("3+"),
        lab("urine_ketones", 80, "mg/dL"),
        bp(114, 72),
        heart_rate(84),
        lab("potassium", 4.0, "mmol/L"),
        lab("sodium", 138, "mmol/L"),
    ]
    assert one(resources, "R7") is None
    assert cards_for(resources) == []


def test_ketonuria_does_not_raise_a_warning_to_critical() -> None:
    resources = [*pregnant(8), vomiting(), ketones("4+"), heart_rate(108)]
    finding = one(resources, "R7")
    assert finding is not None and finding.indicator == "warning"
    assert any("ketonuria" in c.lower() for c in finding.cautions)


def test_dehydration_signs_without_vomiting_give_no_r7() -> None:
    assert one([*pregnant(10), bp(84, 50), heart_rate(122)], "R7") is None


def test_vomiting_reported_three_weeks_ago_is_not_current() -> None:
    resources = [*pregnant(12), vomiting(when=ago(days=21)), heart_rate(120)]
    assert one(resources, "R7") is None


def test_yesterdays_vital_signs_still_count_but_last_weeks_do_not() -> None:
    recent = [
        *pregnant(9),
        vomiting(),
        bp(84, 50, when=ago(days=1)),
        lab("heart_rate", 122, "/min", when=ago(days=1)),
    ]
    finding = one(recent, "R7")
    assert finding is not None and finding.indicator == "critical"
    old = [
        *pregnant(9),
        vomiting(),
        bp(84, 50, when=ago(days=6)),
        lab("heart_rate", 122, "/min", when=ago(days=6)),
    ]
    assert one(old, "R7") is None


def test_hyperemesis_is_pregnancy_only() -> None:
    assert one([*postpartum(5), vomiting(), bp(84, 50), heart_rate(122)], "R7") is None


def test_hyperemesis_card_suggests_the_hyperemesis_bloods() -> None:
    resources = [*pregnant(9), vomiting(), bp(84, 50), heart_rate(122)]
    card = next(c for c in cards_for(resources) if rule_of(c) == "R7")
    assert card.indicator == "critical" and card.override_reasons
    codes = {
        coding["code"]
        for s in card.suggestions or []
        for a in s.actions or []
        if a.resource
        for coding in a.resource["code"]["coding"]
    }
    assert {"2823-3", "2951-2", "2601-3", "58410-2"} <= codes
    assert "5797-6" not in codes and "2514-8" not in codes
