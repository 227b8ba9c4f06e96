"""The order catalogue (clinical.md section C) and the bundles the cards suggest.

Every orderable carries the exact section C display; the cards layer copies these
codings into draft ``ServiceRequest`` resources. Where section C lists a US (mass) and
an SI (molar) code for the same test, the SI code is the default order code, because the
thresholds the service applies are the UK/SI ones (NICE, RCOG, BSH); an EHR's own
catalogue mapping may differ. Codes marked UNVERIFIED in clinical.md (CTG, coagulation
panel, OGTT panel, laterality-specific duplex) are never put in a suggestion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cds_service.knowledge.codes import Concept, loinc, sct


@dataclass(frozen=True)
class OrderItem:
    """One orderable test or procedure.

    ``analytes`` are the results that show it was done (for "resulted within its
    freshness window"); an item with no analytes is only de-duplicated against orders.
    """

    key: str
    label: str
    codings: tuple[Concept, ...]
    analytes: tuple[str, ...] = ()

    @property
    def primary(self) -> Concept:
        return self.codings[0]


@dataclass(frozen=True)
class OrderBundle:
    """A coherent suggestion. ``alternatives``: the items exclude each other (at-most-one)."""

    key: str
    label: str
    items: tuple[str, ...]
    alternatives: bool = False


def _i(key: str, label: str, *codings: Concept, analytes: tuple[str, ...] = ()) -> OrderItem:
    return OrderItem(key, label, codings, analytes)


_ITEMS: tuple[OrderItem, ...] = (
    _i(
        "cbc",
        "CBC",
        loinc("58410-2", "CBC panel - Blood by Automated count"),
        sct("26604007", "Complete blood count (procedure)"),
        analytes=("haemoglobin", "platelets"),
    ),
    _i(
        "ferritin",
        "Ferritin",
        loinc("2276-4", "Ferritin [Mass/volume] in Serum or Plasma"),
        analytes=("ferritin",),
    ),
    _i(
        "iron",
        "Serum iron",
        loinc("2498-4", "Iron [Mass/volume] in Serum or Plasma"),
        analytes=("iron",),
    ),
    _i(
        "tibc",
        "Iron binding capacity",
        loinc("2500-7", "Iron binding capacity [Mass/volume] in Serum or Plasma"),
        analytes=("tibc",),
    ),
    _i(
        "tsat",
        "Transferrin saturation",
        loinc("2502-3", "Iron saturation [Mass Fraction] in Serum or Plasma"),
        analytes=("tsat",),
    ),
    _i(
        "transferrin",
        "Transferrin",
        loinc("3034-6", "Transferrin [Mass/volume] in Serum or Plasma"),
        analytes=("transferrin",),
    ),
    _i(
        "calcium",
        "Calcium",
        loinc("2000-8", "Calcium [Moles/volume] in Serum or Plasma"),
        analytes=("calcium_total", "calcium_adjusted"),
    ),
    _i(
        "calcium_ionised",
        "Ionised calcium",
        loinc("1995-0", "Calcium.ionized [Moles/volume] in Serum or Plasma"),
        analytes=("calcium_ionised",),
    ),
    _i(
        "albumin",
        "Albumin",
        loinc("1751-7", "Albumin [Mass/volume] in Serum or Plasma"),
        analytes=("albumin",),
    ),
    _i(
        "magnesium",
        "Magnesium",
        loinc("2601-3", "Magnesium [Moles/volume] in Serum or Plasma"),
        analytes=("magnesium",),
    ),
    _i(
        "potassium",
        "Potassium",
        loinc("2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
        analytes=("potassium",),
    ),
    _i(
        "sodium",
        "Sodium",
        loinc("2951-2", "Sodium [Moles/volume] in Serum or Plasma"),
        analytes=("sodium",),
    ),
    _i(
        "chloride",
        "Chloride",
        loinc("2075-0", "Chloride [Moles/volume] in Serum or Plasma"),
        analytes=("chloride",),
    ),
    _i(
        "electrolytes",
        "Electrolytes panel",
        loinc("24326-1", "Electrolytes 1998 panel - Serum or Plasma"),
        analytes=("sodium", "potassium"),
    ),
    _i(
        "phosphate",
        "Phosphate",
        loinc("14879-1", "Phosphate [Moles/volume] in Serum or Plasma"),
        analytes=("phosphate",),
    ),
    _i(
        "glucose",
        "Glucose",
        loinc("2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
        analytes=("glucose",),
    ),
    _i(
        "glucose_fasting",
        "Fasting glucose",
        loinc("1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma"),
        sct("67096006", "Plasma fasting glucose measurement (procedure)"),
        analytes=("glucose_fasting",),
    ),
    _i(
        "ogtt",
        "75 g OGTT",
        sct("113076002", "Glucose tolerance test (procedure)"),
        analytes=("glucose_ogtt_2h",),
    ),
    _i(
        "hba1c",
        "HbA1c",
        loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        analytes=("hba1c",),
    ),
    _i(
        "urine_dipstick",
        "Urine dipstick",
        loinc("24357-6", "Urinalysis macro (dipstick) panel - Urine"),
        sct("167226008", "Urine dipstick test (procedure)"),
        analytes=("urine_protein_dipstick",),
    ),
    _i(
        "upcr",
        "Urine protein/creatinine ratio",
        loinc("2890-2", "Protein/Creatinine [Mass Ratio] in Urine"),
        analytes=("upcr",),
    ),
    _i(
        "uacr",
        "Urine albumin/creatinine ratio",
        loinc("9318-7", "Albumin/Creatinine [Mass Ratio] in Urine"),
        analytes=("uacr",),
    ),
    _i(
        "renal_panel",
        "Renal panel",
        loinc("24362-6", "Renal function 2000 panel - Serum or Plasma"),
        analytes=("creatinine",),
    ),
    _i(
        "creatinine",
        "Creatinine",
        loinc("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
        analytes=("creatinine",),
    ),
    _i(
        "hepatic_panel",
        "Liver panel",
        loinc("24325-3", "Hepatic function 2000 panel - Serum or Plasma"),
        analytes=("alt", "ast"),
    ),
    _i(
        "ldh",
        "LDH",
        loinc("2532-0", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma"),
        analytes=("ldh",),
    ),
    _i(
        "pt",
        "Prothrombin time",
        loinc("5902-2", "Prothrombin time (PT) in Platelet poor plasma by Coagulation assay"),
        analytes=("pt",),
    ),
    _i(
        "inr",
        "INR",
        loinc("6301-6", "INR in Platelet poor plasma by Coagulation assay"),
        analytes=("inr",),
    ),
    _i(
        "aptt",
        "aPTT",
        loinc(
            "14979-9",
            "Activated partial thromboplastin time (aPTT) in Platelet poor plasma "
            "by Coagulation assay",
        ),
        analytes=("aptt",),
    ),
    _i(
        "fibrinogen",
        "Fibrinogen",
        loinc("3255-7", "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay"),
        analytes=("fibrinogen",),
    ),
    _i(
        "pth",
        "PTH",
        loinc("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma"),
        analytes=("pth",),
    ),
    _i(
        "vitamin_d",
        "25-OH vitamin D",
        loinc(
            "62292-8", "25-Hydroxyvitamin D3+25-Hydroxyvitamin D2 [Mass/volume] in Serum or Plasma"
        ),
        analytes=("vitamin_d",),
    ),
    _i(
        "tsh",
        "TSH",
        loinc("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
        analytes=("tsh",),
    ),
    # PlGF 74755-0 is single-source in clinical.md (partially verified): suggested only for
    # suspected preterm pre-eclampsia at 20+0-36+6 weeks (NICE DG49).
    _i(
        "plgf",
        "PlGF-based test",
        loinc("74755-0", "Placental growth factor [Mass/volume] in Serum"),
        analytes=("plgf",),
    ),
    _i(
        "venous_duplex_bilateral",
        "Bilateral lower-limb venous duplex",
        loinc("39420-5", "US.doppler Lower extremity vein - bilateral"),
    ),
    _i(
        "venous_duplex",
        "Lower-limb venous duplex",
        loinc("30881-7", "US.doppler Lower extremity vein"),
    ),
    _i(
        "obstetric_ultrasound",
        "Obstetric ultrasound",
        loinc("11525-3", "US Pelvis Fetus for pregnancy"),
        sct("268445003", "Ultrasound scan - obstetric (procedure)"),
    ),
    _i("ecg", "ECG", sct("29303009", "Electrocardiographic procedure")),
    _i(
        "troponin_i",
        "Troponin I",
        loinc("10839-9", "Troponin I.cardiac [Mass/volume] in Serum or Plasma"),
    ),
)

ORDER_ITEMS: Mapping[str, OrderItem] = MappingProxyType({i.key: i for i in _ITEMS})


_BUNDLES: tuple[OrderBundle, ...] = (
    # clinical.md C "Core cramp work-up (info)".
    OrderBundle(
        "cramp-workup",
        "Cramp work-up bloods",
        (
            "cbc",
            "ferritin",
            "calcium",
            "albumin",
            "magnesium",
            "potassium",
            "sodium",
            "phosphate",
            "glucose",
            "vitamin_d",
        ),
    ),
    # clinical.md C "Pre-eclampsia bundle".
    OrderBundle(
        "pre-eclampsia-bloods",
        "Pre-eclampsia bloods",
        ("cbc", "renal_panel", "hepatic_panel", "ldh"),
    ),
    OrderBundle("coagulation", "Coagulation screen", ("pt", "inr", "aptt", "fibrinogen")),
    OrderBundle("urine-protein", "Quantify proteinuria (uPCR)", ("upcr",)),
    OrderBundle(
        "urine-protein-or-acr", "Quantify proteinuria", ("upcr", "uacr"), alternatives=True
    ),
    OrderBundle("plgf", "PlGF-based test (suspected preterm pre-eclampsia)", ("plgf",)),
    # R1: after stabilisation, other seizure causes (hypoglycaemia, hypocalcaemia, hyponatraemia).
    OrderBundle(
        "seizure-cause-bloods",
        "Glucose, Ca, Mg, Na",
        ("glucose", "calcium", "albumin", "magnesium", "sodium"),
    ),
    OrderBundle(
        "eclampsia-bloods",
        "Pre-eclampsia bloods and coagulation",
        ("cbc", "renal_panel", "hepatic_panel", "ldh", "pt", "aptt", "fibrinogen"),
    ),
    # clinical.md C "VTE: venous duplex only"; bilateral vs single-leg are alternatives.
    OrderBundle(
        "venous-duplex",
        "Lower-limb venous compression duplex",
        ("venous_duplex_bilateral", "venous_duplex"),
        alternatives=True,
    ),
    OrderBundle("cardiac", "ECG and troponin", ("ecg", "troponin_i")),
    OrderBundle("ecg", "ECG", ("ecg",)),
    OrderBundle("obstetric-ultrasound", "Obstetric ultrasound", ("obstetric_ultrasound",)),
    # clinical.md C "Hyperemesis bundle".
    OrderBundle(
        "hyperemesis-bloods",
        "Hyperemesis bloods",
        (
            "sodium",
            "potassium",
            "chloride",
            "renal_panel",
            "magnesium",
            "calcium",
            "albumin",
            "phosphate",
            "glucose",
            "cbc",
            "hepatic_panel",
        ),
    ),
    OrderBundle("thyroid", "TSH", ("tsh",)),
    # R10 / R12 / R11 / R16 / R17 follow-up sets.
    OrderBundle(
        "potassium-followup", "K, Mg and renal function", ("potassium", "magnesium", "renal_panel")
    ),
    OrderBundle("magnesium-followup", "K and Ca", ("potassium", "calcium", "albumin")),
    OrderBundle(
        "calcium-workup",
        "Calcium work-up",
        (
            "calcium_ionised",
            "calcium",
            "albumin",
            "magnesium",
            "phosphate",
            "pth",
            "vitamin_d",
            "renal_panel",
        ),
    ),
    OrderBundle(
        "diuretic-electrolytes",
        "K, Na, Mg, Ca",
        ("potassium", "sodium", "magnesium", "calcium", "albumin"),
    ),
    OrderBundle("magnesium-level", "Magnesium level", ("magnesium",)),
    # Order hooks: a loop/thiazide diuretic draft without recent K/Mg/Na (clinical.md A.4).
    OrderBundle("diuretic-baseline", "K, Mg and Na", ("potassium", "magnesium", "sodium")),
    # R21: rule out a laboratory cause of focal spasms/paraesthesia before neurology.
    OrderBundle(
        "spasm-electrolytes",
        "K, Mg, Ca and albumin",
        ("potassium", "magnesium", "calcium", "albumin"),
    ),
    OrderBundle("glucose-repeat", "Repeat glucose", ("glucose",)),
    OrderBundle("anaemia", "CBC and ferritin", ("cbc", "ferritin")),
    OrderBundle("iron-studies", "Iron studies", ("iron", "tibc", "tsat", "transferrin")),
    OrderBundle("ferritin", "Ferritin", ("ferritin",)),
    OrderBundle("cbc", "CBC", ("cbc",)),
    OrderBundle("vitamin-d", "25-OH vitamin D", ("vitamin_d",)),
    OrderBundle("gdm-screen", "Fasting glucose and HbA1c", ("glucose_fasting", "hba1c")),
)

ORDER_BUNDLES: Mapping[str, OrderBundle] = MappingProxyType({b.key: b for b in _BUNDLES})


def _check() -> None:
    for b in _BUNDLES:
        for item in b.items:
            if item not in ORDER_ITEMS:
                raise AssertionError(f"bundle {b.key} names unknown order item {item}")
    clash = set(ORDER_ITEMS) & set(ORDER_BUNDLES)
    if clash - {"ecg", "cbc", "ferritin", "plgf"}:
        raise AssertionError(f"bundle keys clash with item keys: {clash}")


_check()


def bundle_for(key: str) -> OrderBundle:
    """A bundle by key; a bare item key is a one-item bundle with the item's label."""
    bundle = ORDER_BUNDLES.get(key)
    if bundle is not None:
        return bundle
    item = ORDER_ITEMS.get(key)
    if item is None:
        raise KeyError(f"unknown order key {key!r}")
    return OrderBundle(key, item.label, (key,))
