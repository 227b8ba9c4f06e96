"""Every measured quantity the rules read: codes, canonical unit, conversions, sanity range.

One :class:`AnalyteDef` per clinical quantity (``"haemoglobin"``, ``"potassium"``,
``"systolic_bp"``...). Mass and molar LOINC codes of the same quantity share one analyte;
the unit on each result decides the conversion (clinical.md 1.4). Factors are the ones
in clinical.md 1.4 (MIR / arithmetic); the few added here are UCUM identities
(e.g. ng/mL = ug/L) or textbook constants noted inline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from cds_service.knowledge.codes import CodeKey, Concept, ValueSet, loinc
from cds_service.knowledge.systems import FINDING
from cds_service.knowledge.units import IDENTITY, Linear

Kind = Literal["quantity", "ordinal", "record"]
# Which staleness window applies (knowledge.policy.Policy.staleness_days).
Freshness = Literal[
    "electrolyte",
    "glucose",
    "renal",
    "haematology",
    "iron",
    "vitamin-d",
    "pth",
    "liver",
    "urine",
    "coagulation",
    "thyroid",
    "hba1c",
    "vital",
    "bedside",
    "other",
]


@dataclass(frozen=True)
class AnalyteDef:
    """A measured quantity: its codes, canonical unit and how to reach it from other units.

    ``plausible`` is the range (canonical units) outside which a value is treated as a
    unit error and not graded (clinical.md 1.4 sanity checks).
    ``ambiguous_below`` (stated units, mass codes only) marks values that are either a
    dangerous result or a molar value sent under a mass code (glucose 2345-7 < 35 mg/dL).
    """

    key: str
    label: str
    concepts: tuple[Concept, ...]
    canonical_unit: str
    display_unit: str
    conversions: Mapping[str, Linear]
    freshness: Freshness
    plausible: tuple[float, float] | None = None
    kind: Kind = "quantity"
    unitless_ok: bool = False
    ambiguous_below: Mapping[str, float] = field(default_factory=dict)
    decimals: int = 1

    @property
    def value_set(self) -> ValueSet:
        return ValueSet(f"analyte:{self.key}", self.label, self.concepts)

    def to_canonical(self, value: float, ucum: str) -> float | None:
        conv = self.conversions.get(ucum)
        return None if conv is None else conv.to_canonical(value)

    def from_canonical(self, value: float, ucum: str) -> float | None:
        conv = self.conversions.get(ucum)
        return None if conv is None else conv.from_canonical(value)


def L(scale: float, offset: float = 0.0) -> Linear:
    return Linear(scale, offset)


def _p(m: dict[str, Linear]) -> Mapping[str, Linear]:
    return MappingProxyType(m)


_GLUCOSE_UNITS = _p({"mmol/L": IDENTITY, "mg/dL": L(1 / 18.02), "g/L": L(100 / 18.02)})
_GLUCOSE_AMBIGUOUS = MappingProxyType({"mg/dL": 35.0})
_CA_UNITS = _p({"mmol/L": IDENTITY, "mg/dL": L(0.2495), "meq/L": L(0.5)})
_U_PER_L = _p({"U/L": IDENTITY, "ukat/L": L(60.0)})

_ANALYTES: tuple[AnalyteDef, ...] = (
    # ---- haematology (L1-L4) ----
    AnalyteDef(
        "haemoglobin",
        "Hb",
        (
            loinc("718-7", "Hemoglobin [Mass/volume] in Blood"),
            loinc("59260-0", "Hemoglobin [Moles/volume] in Blood"),
        ),
        "g/L",
        "g/L",
        _p({"g/L": IDENTITY, "g/dL": L(10.0), "mg/dL": L(0.01), "mmol/L": L(16.1)}),
        "haematology",
        (20.0, 250.0),
        decimals=0,
    ),
    AnalyteDef(
        "haematocrit",
        "Hct",
        (
            loinc("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count"),
            loinc("20570-8", "Hematocrit [Volume Fraction] of Blood"),
        ),
        "%",
        "%",
        _p({"%": IDENTITY, "L/L": L(100.0)}),
        "haematology",
        (5.0, 75.0),
    ),
    AnalyteDef(
        "mcv",
        "MCV",
        (loinc("787-2", "MCV [Entitic volume] by Automated count"),),
        "fL",
        "fL",
        _p({"fL": IDENTITY}),
        "haematology",
        (40.0, 150.0),
    ),
    AnalyteDef(
        "mch",
        "MCH",
        (loinc("785-6", "MCH [Entitic mass] by Automated count"),),
        "pg",
        "pg",
        _p({"pg": IDENTITY}),
        "haematology",
        (10.0, 50.0),
    ),
    AnalyteDef(
        "mchc",
        "MCHC",
        (loinc("786-4", "MCHC [Mass/volume] by Automated count"),),
        "g/L",
        "g/L",
        _p({"g/L": IDENTITY, "g/dL": L(10.0)}),
        "haematology",
        (200.0, 450.0),
        decimals=0,
    ),
    AnalyteDef(
        "platelets",
        "platelets",
        (
            loinc("777-3", "Platelets [#/volume] in Blood by Automated count"),
            loinc("26515-7", "Platelets [#/volume] in Blood"),
        ),
        "10*9/L",
        "×10⁹/L",
        _p({"10*9/L": IDENTITY, "10*3/uL": IDENTITY, "/uL": L(0.001)}),
        "haematology",
        (1.0, 2000.0),
        decimals=0,
    ),
    # ---- iron (L6, L7) ----
    AnalyteDef(
        "ferritin",
        "ferritin",
        (
            loinc("2276-4", "Ferritin [Mass/volume] in Serum or Plasma"),
            loinc("14723-1", "Ferritin [Moles/volume] in Serum or Plasma"),
        ),
        "ug/L",
        "µg/L",
        _p({"ug/L": IDENTITY, "ng/mL": IDENTITY, "pmol/L": L(0.445)}),
        "iron",
        (0.5, 100000.0),
        decimals=0,
    ),
    AnalyteDef(
        "iron",
        "serum iron",
        (
            loinc("2498-4", "Iron [Mass/volume] in Serum or Plasma"),
            loinc("14798-3", "Iron [Moles/volume] in Serum or Plasma"),
        ),
        "umol/L",
        "µmol/L",
        _p({"umol/L": IDENTITY, "ug/dL": L(1 / 5.587)}),
        "iron",
        (0.5, 200.0),
    ),
    AnalyteDef(
        "tibc",
        "TIBC",
        (
            loinc("2500-7", "Iron binding capacity [Mass/volume] in Serum or Plasma"),
            loinc("14800-7", "Iron binding capacity [Moles/volume] in Serum or Plasma"),
        ),
        "umol/L",
        "µmol/L",
        _p({"umol/L": IDENTITY, "ug/dL": L(1 / 5.587)}),
        "iron",
        (5.0, 300.0),
    ),
    AnalyteDef(
        "tsat",
        "transferrin saturation",
        (
            loinc("2502-3", "Iron saturation [Mass Fraction] in Serum or Plasma"),
            loinc("14801-5", "Iron saturation [Molar fraction] in Serum or Plasma"),
        ),
        "%",
        "%",
        _p({"%": IDENTITY}),
        "iron",
        (0.0, 100.0),
        decimals=0,
    ),
    AnalyteDef(
        "transferrin",
        "transferrin",
        (loinc("3034-6", "Transferrin [Mass/volume] in Serum or Plasma"),),
        "g/L",
        "g/L",
        _p({"g/L": IDENTITY, "mg/dL": L(0.01)}),
        "iron",
        (0.2, 10.0),
        decimals=2,
    ),
    # ---- calcium, albumin, magnesium, electrolytes (L8-L15) ----
    AnalyteDef(
        "calcium_total",
        "total Ca",
        (
            loinc("17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
            loinc("2000-8", "Calcium [Moles/volume] in Serum or Plasma"),
        ),
        "mmol/L",
        "mmol/L",
        _CA_UNITS,
        "electrolyte",
        (1.0, 5.0),
        decimals=2,
    ),
    AnalyteDef(
        "calcium_adjusted",
        "adjusted Ca",
        (loinc("29265-6", "Calcium [Moles/volume] corrected for albumin in Serum or Plasma"),),
        "mmol/L",
        "mmol/L",
        _CA_UNITS,
        "electrolyte",
        (1.0, 5.0),
        decimals=2,
    ),
    AnalyteDef(
        "calcium_ionised",
        "ionised Ca",
        (
            loinc("1994-3", "Calcium.ionized [Moles/volume] in Blood"),
            loinc("1995-0", "Calcium.ionized [Moles/volume] in Serum or Plasma"),
            loinc("17863-2", "Calcium.ionized [Mass/volume] in Serum or Plasma"),
            loinc("38230-9", "Calcium.ionized [Mass/volume] in Blood"),
        ),
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "mg/dL": L(0.25), "meq/L": L(0.5)}),
        "electrolyte",
        (0.3, 3.0),
        decimals=2,
    ),
    AnalyteDef(
        "albumin",
        "albumin",
        (loinc("1751-7", "Albumin [Mass/volume] in Serum or Plasma"),),
        "g/L",
        "g/L",
        _p({"g/L": IDENTITY, "g/dL": L(10.0)}),
        "electrolyte",
        (5.0, 70.0),
        decimals=0,
    ),
    AnalyteDef(
        "magnesium",
        "Mg",
        (
            loinc("19123-9", "Magnesium [Mass/volume] in Serum or Plasma"),
            loinc("2601-3", "Magnesium [Moles/volume] in Serum or Plasma"),
        ),
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "mg/dL": L(0.4114), "meq/L": L(0.5)}),
        "electrolyte",
        (0.1, 10.0),
        decimals=2,
    ),
    AnalyteDef(
        "potassium",
        "K",
        (
            loinc("2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
            loinc("6298-4", "Potassium [Moles/volume] in Blood"),
        ),
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "meq/L": IDENTITY}),
        "electrolyte",
        (1.0, 10.0),
    ),
    AnalyteDef(
        "sodium",
        "Na",
        (loinc("2951-2", "Sodium [Moles/volume] in Serum or Plasma"),),
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "meq/L": IDENTITY}),
        "electrolyte",
        (90.0, 200.0),
        decimals=0,
    ),
    AnalyteDef(
        "chloride",
        "Cl",
        (loinc("2075-0", "Chloride [Moles/volume] in Serum or Plasma"),),
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "meq/L": IDENTITY}),
        "electrolyte",
        (50.0, 160.0),
        decimals=0,
    ),
    AnalyteDef(
        "phosphate",
        "phosphate",
        (
            loinc("2777-1", "Phosphate [Mass/volume] in Serum or Plasma"),
            loinc("14879-1", "Phosphate [Moles/volume] in Serum or Plasma"),
        ),
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "mg/dL": L(1 / 3.097)}),
        "electrolyte",
        (0.1, 6.0),
        decimals=2,
    ),
    # ---- glucose (L16-L18) ----
    AnalyteDef(
        "glucose",
        "glucose",
        (
            loinc("2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
            loinc("14749-6", "Glucose [Moles/volume] in Serum or Plasma"),
            loinc("2339-0", "Glucose [Mass/volume] in Blood"),
            loinc("15074-8", "Glucose [Moles/volume] in Blood"),
            loinc("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),
            loinc("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer"),
        ),
        "mmol/L",
        "mmol/L",
        _GLUCOSE_UNITS,
        "glucose",
        (0.5, 60.0),
        ambiguous_below=_GLUCOSE_AMBIGUOUS,
    ),
    AnalyteDef(
        "glucose_fasting",
        "fasting glucose",
        (
            loinc("1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma"),
            loinc("14771-0", "Fasting glucose [Moles/volume] in Serum or Plasma"),
        ),
        "mmol/L",
        "mmol/L",
        _GLUCOSE_UNITS,
        "glucose",
        (0.5, 60.0),
        ambiguous_below=_GLUCOSE_AMBIGUOUS,
    ),
    AnalyteDef(
        "glucose_ogtt_1h",
        "1 h OGTT glucose",
        (
            loinc(
                "1507-3", "Glucose [Mass/volume] in Serum or Plasma --1 hour post 75 g glucose PO"
            ),
        ),
        "mmol/L",
        "mmol/L",
        _GLUCOSE_UNITS,
        "glucose",
        (0.5, 60.0),
    ),
    AnalyteDef(
        "glucose_ogtt_2h",
        "2 h OGTT glucose",
        (
            loinc(
                "1518-0", "Glucose [Mass/volume] in Serum or Plasma --2 hours post 75 g glucose PO"
            ),
            loinc(
                "14995-5",
                "Glucose [Moles/volume] in Serum or Plasma --2 hours post 75 g glucose PO",
            ),
        ),
        "mmol/L",
        "mmol/L",
        _GLUCOSE_UNITS,
        "glucose",
        (0.5, 60.0),
    ),
    AnalyteDef(
        "hba1c",
        "HbA1c",
        (
            loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
            loinc("17856-6", "Hemoglobin A1c/Hemoglobin.total in Blood by HPLC"),
        ),
        "%",
        "%",
        _p({"%": IDENTITY, "mmol/mol": L(1 / 10.929, 2.15)}),
        "hba1c",
        (3.0, 20.0),
    ),
    # ---- renal, liver (L23, L24) ----
    AnalyteDef(
        "creatinine",
        "creatinine",
        (
            loinc("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
            loinc("14682-9", "Creatinine [Moles/volume] in Serum or Plasma"),
        ),
        "umol/L",
        "µmol/L",
        _p({"umol/L": IDENTITY, "mg/dL": L(88.4), "mmol/L": L(1000.0)}),
        "renal",
        (10.0, 2500.0),
        decimals=0,
    ),
    AnalyteDef(
        "urea",
        "urea",
        (loinc("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma"),),
        # BUN mg/dL x 0.357 = urea mmol/L (N2 28.02 g/mol).
        "mmol/L",
        "mmol/L",
        _p({"mmol/L": IDENTITY, "mg/dL": L(0.357)}),
        "renal",
        (0.3, 100.0),
    ),
    AnalyteDef(
        "alt",
        "ALT",
        (
            loinc(
                "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma"
            ),
        ),
        "U/L",
        "U/L",
        _U_PER_L,
        "liver",
        (1.0, 20000.0),
        decimals=0,
    ),
    AnalyteDef(
        "ast",
        "AST",
        (
            loinc(
                "1920-8",
                "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            ),
        ),
        "U/L",
        "U/L",
        _U_PER_L,
        "liver",
        (1.0, 20000.0),
        decimals=0,
    ),
    AnalyteDef(
        "ldh",
        "LDH",
        (loinc("2532-0", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma"),),
        "U/L",
        "U/L",
        _U_PER_L,
        "liver",
        (10.0, 50000.0),
        decimals=0,
    ),
    AnalyteDef(
        "bilirubin",
        "bilirubin",
        (
            loinc("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma"),
            loinc("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma"),
        ),
        "umol/L",
        "µmol/L",
        _p({"umol/L": IDENTITY, "mg/dL": L(1 / 0.0585)}),
        "liver",
        (0.5, 1000.0),
        decimals=0,
    ),
    AnalyteDef(
        "urate",
        "urate",
        (
            loinc("3084-1", "Urate [Mass/volume] in Serum or Plasma"),
            loinc("14933-6", "Urate [Moles/volume] in Serum or Plasma"),
        ),
        "umol/L",
        "µmol/L",
        _p({"umol/L": IDENTITY, "mg/dL": L(1 / 0.0168)}),
        "renal",
        (20.0, 2000.0),
        decimals=0,
    ),
    AnalyteDef(
        "total_protein",
        "total protein",
        (loinc("2885-2", "Protein [Mass/volume] in Serum or Plasma"),),
        "g/L",
        "g/L",
        _p({"g/L": IDENTITY, "g/dL": L(10.0)}),
        "liver",
        (20.0, 150.0),
        decimals=0,
    ),
    # ---- urine (L19-L22) ----
    AnalyteDef(
        "upcr",
        "uPCR",
        (loinc("2890-2", "Protein/Creatinine [Mass Ratio] in Urine"),),
        # creatinine 113.12 g/mol: mg/mg x 113.1 = mg/mmol (clinical.md 1.4).
        "mg/mmol",
        "mg/mmol",
        _p(
            {
                "mg/mmol": IDENTITY,
                "g/mmol": L(1000.0),
                "mg/mg": L(113.1),
                "g/g": L(113.1),
                "mg/g": L(0.1131),
            }
        ),
        "urine",
        (0.0, 5000.0),
        decimals=0,
    ),
    AnalyteDef(
        "uacr",
        "uACR",
        (
            loinc("9318-7", "Albumin/Creatinine [Mass Ratio] in Urine"),
            loinc("14959-1", "Microalbumin/Creatinine [Mass ratio] in Urine"),
        ),
        "mg/mmol",
        "mg/mmol",
        _p({"mg/mmol": IDENTITY, "mg/g": L(1 / 8.84), "mg/mg": L(113.1), "g/g": L(113.1)}),
        "urine",
        (0.0, 5000.0),
    ),
    AnalyteDef(
        "urine_protein_dipstick",
        "urine protein (dipstick)",
        (
            loinc("5804-0", "Protein [Mass/volume] in Urine by Test strip"),
            loinc("20454-5", "Protein [Presence] in Urine by Test strip"),
            loinc("2888-6", "Protein [Mass/volume] in Urine"),
        ),
        # Canonical: dipstick grade 0, 0.5 (trace), 1..4 ("+" count). See facts.measurements.
        "{grade}",
        "+",
        _p({"g/L": IDENTITY, "mg/dL": L(0.01)}),
        "urine",
        kind="ordinal",
    ),
    AnalyteDef(
        "urine_ketones",
        "urine ketones",
        (
            loinc("5797-6", "Ketones [Mass/volume] in Urine by Test strip"),
            loinc("2514-8", "Ketones [Presence] in Urine by Test strip"),
            loinc("22702-5", "Ketones [Moles/volume] in Urine by Test strip"),
            loinc("33903-6", "Ketones [Presence] in Urine"),
        ),
        # Recorded only: ketonuria never grades hyperemesis (RCOG GTG69 2024, Grade A).
        "{grade}",
        "+",
        _p({}),
        "urine",
        kind="record",
    ),
    AnalyteDef(
        "urine_glucose",
        "urine glucose",
        (loinc("5792-7", "Glucose [Mass/volume] in Urine by Test strip"),),
        "{grade}",
        "+",
        _p({}),
        "urine",
        kind="record",
    ),
    # ---- endocrine, vitamin D (L28-L30) ----
    AnalyteDef(
        "pth",
        "PTH",
        (
            loinc("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma"),
            loinc("14866-8", "Parathyrin.intact [Moles/volume] in Serum or Plasma"),
        ),
        "pmol/L",
        "pmol/L",
        _p({"pmol/L": IDENTITY, "pg/mL": L(1 / 9.43), "ng/L": L(1 / 9.43)}),
        "pth",
        (0.05, 300.0),
    ),
    AnalyteDef(
        "vitamin_d",
        "25-OH vitamin D",
        (
            loinc(
                "62292-8",
                "25-Hydroxyvitamin D3+25-Hydroxyvitamin D2 [Mass/volume] in Serum or Plasma",
            ),
            loinc("1989-3", "25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma"),
            loinc("14635-7", "Calcidiol [Moles/volume] in Serum or Plasma"),
        ),
        "nmol/L",
        "nmol/L",
        _p({"nmol/L": IDENTITY, "ng/mL": L(2.496), "ug/L": L(2.496)}),
        "vitamin-d",
        (2.0, 600.0),
        decimals=0,
    ),
    AnalyteDef(
        "tsh",
        "TSH",
        (
            loinc("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
            loinc(
                "11580-8",
                "Thyrotropin [Units/volume] in Serum or Plasma by Detection limit <= 0.005 mIU/L",
            ),
        ),
        "m[IU]/L",
        "mIU/L",
        _p({"m[IU]/L": IDENTITY}),
        "thyroid",
        (0.001, 500.0),
        decimals=2,
    ),
    # ---- coagulation, D-dimer, PlGF (L26, L27, L33): context only ----
    AnalyteDef(
        "inr",
        "INR",
        (
            loinc("6301-6", "INR in Platelet poor plasma by Coagulation assay"),
            loinc("34714-6", "INR in Blood by Coagulation assay"),
        ),
        "1",
        "",
        _p({"1": IDENTITY}),
        "coagulation",
        (0.5, 20.0),
        unitless_ok=True,
    ),
    AnalyteDef(
        "pt",
        "PT",
        (loinc("5902-2", "Prothrombin time (PT) in Platelet poor plasma by Coagulation assay"),),
        "s",
        "s",
        _p({"s": IDENTITY}),
        "coagulation",
        (5.0, 200.0),
    ),
    AnalyteDef(
        "aptt",
        "aPTT",
        (
            loinc(
                "14979-9",
                "Activated partial thromboplastin time (aPTT) in Platelet poor plasma "
                "by Coagulation assay",
            ),
            loinc("3173-2", "aPTT in Blood by Coagulation assay"),
        ),
        "s",
        "s",
        _p({"s": IDENTITY}),
        "coagulation",
        (10.0, 300.0),
    ),
    AnalyteDef(
        "fibrinogen",
        "fibrinogen",
        (loinc("3255-7", "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay"),),
        "g/L",
        "g/L",
        _p({"g/L": IDENTITY, "mg/dL": L(0.01)}),
        "coagulation",
        (0.1, 15.0),
    ),
    AnalyteDef(
        "d_dimer",
        "D-dimer",
        (loinc("48065-7", "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma"),),
        # Never used to grade or down-grade anything (RCOG GTG37b); recorded for the card text.
        "mg/L",
        "mg/L FEU",
        _p({"mg/L": IDENTITY, "ug/mL": IDENTITY, "ng/mL": L(0.001), "ug/L": L(0.001)}),
        "coagulation",
        (0.0, 100.0),
        decimals=2,
    ),
    AnalyteDef(
        "plgf",
        "PlGF",
        (loinc("74755-0", "Placental growth factor [Mass/volume] in Serum"),),
        "pg/mL",
        "pg/mL",
        _p({"pg/mL": IDENTITY, "ng/L": IDENTITY}),
        "other",
        (0.0, 10000.0),
        decimals=0,
    ),
    # ---- vital signs (A.2) ----
    AnalyteDef(
        "systolic_bp",
        "systolic BP",
        (loinc("8480-6", "Systolic blood pressure"),),
        "mm[Hg]",
        "mmHg",
        _p({"mm[Hg]": IDENTITY, "kPa": L(7.50062)}),
        "vital",
        (40.0, 300.0),
        decimals=0,
    ),
    AnalyteDef(
        "diastolic_bp",
        "diastolic BP",
        (loinc("8462-4", "Diastolic blood pressure"),),
        "mm[Hg]",
        "mmHg",
        _p({"mm[Hg]": IDENTITY, "kPa": L(7.50062)}),
        "vital",
        (15.0, 200.0),
        decimals=0,
    ),
    AnalyteDef(
        "heart_rate",
        "HR",
        (loinc("8867-4", "Heart rate"),),
        "/min",
        "/min",
        _p({"/min": IDENTITY}),
        "vital",
        (20.0, 260.0),
        decimals=0,
    ),
    AnalyteDef(
        "respiratory_rate",
        "RR",
        (loinc("9279-1", "Respiratory rate"),),
        "/min",
        "/min",
        _p({"/min": IDENTITY}),
        "vital",
        (2.0, 80.0),
        decimals=0,
    ),
    AnalyteDef(
        "spo2",
        "SpO2",
        (
            loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            # 2708-6 is the FHIR core vital-signs profile's SpO2 code (not in clinical.md).
            loinc("2708-6", "Oxygen saturation in Arterial blood", "public"),
        ),
        "%",
        "%",
        _p({"%": IDENTITY}),
        "vital",
        (40.0, 100.0),
        decimals=0,
    ),
    AnalyteDef(
        "temperature",
        "temperature",
        (loinc("8310-5", "Body temperature"),),
        "Cel",
        "°C",
        _p({"Cel": IDENTITY, "[degF]": L(1 / 1.8, -32 / 1.8)}),
        "vital",
        (30.0, 45.0),
    ),
    AnalyteDef(
        "body_weight",
        "weight",
        (loinc("29463-7", "Body weight"),),
        "kg",
        "kg",
        _p({"kg": IDENTITY, "g": L(0.001), "[lb_av]": L(0.45359237)}),
        "bedside",
        (20.0, 350.0),
    ),
    # ---- bedside findings with project codes (clinical.md F) ----
    AnalyteDef(
        "calf_circumference_difference",
        "calf circumference difference",
        (
            Concept(
                FINDING,
                "calf-circumference-difference",
                "Calf circumference difference between legs",
                "local",
            ),
        ),
        "cm",
        "cm",
        _p({"cm": IDENTITY, "mm": L(0.1)}),
        "bedside",
        (0.0, 25.0),
    ),
    AnalyteDef(
        "contraction_frequency",
        "contractions",
        (Concept(FINDING, "contraction-frequency", "Uterine contractions per hour", "local"),),
        "/h",
        "/h",
        _p({"/h": IDENTITY, "/min": L(60.0), "/10.min": L(6.0), "/20.min": L(3.0)}),
        "bedside",
        (0.0, 120.0),
        decimals=0,
    ),
    AnalyteDef(
        "puqe_score",
        "PUQE-24 score",
        (Concept(FINDING, "puqe-score", "PUQE-24 score", "local"),),
        "1",
        "",
        _p({"1": IDENTITY}),
        "bedside",
        (3.0, 15.0),
        unitless_ok=True,
        decimals=0,
    ),
)

ANALYTES: Mapping[str, AnalyteDef] = MappingProxyType({a.key: a for a in _ANALYTES})


def _index() -> Mapping[CodeKey, str]:
    out: dict[CodeKey, str] = {}
    for a in _ANALYTES:
        for c in a.concepts:
            if c.key in out:
                raise AssertionError(f"{c.key} belongs to {out[c.key]} and {a.key}")
            out[c.key] = a.key
    return MappingProxyType(out)


ANALYTE_BY_CODE: Mapping[CodeKey, str] = _index()

# The BP panel carries 8480-6 / 8462-4 as components (clinical.md A.2 V1).
BP_PANEL = loinc("85354-9", "Blood pressure panel with all children optional")

LAB_ANALYTES = tuple(a.key for a in _ANALYTES if a.freshness not in ("vital", "bedside"))
VITAL_ANALYTES = tuple(a.key for a in _ANALYTES if a.freshness == "vital")
BEDSIDE_ANALYTES = tuple(a.key for a in _ANALYTES if a.freshness == "bedside")
