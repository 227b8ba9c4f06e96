"""Clinical vocabulary as data: every code the engine reads, matched on (system, code).

Sources: ``/work/shared/clinical.md`` sections 1.1, A.1-A.4 and F. Displays are for
people and exports only; matching never looks at a display (clinical.md 0.1: public
repositories carry wrong code/display pairs, and code strings collide across systems).

``provenance`` on a concept says where its code/display pair was checked:

* ``clinical.md`` - verified there (single or multiple public sources);
* ``public`` - not in clinical.md; several independent public FHIR/terminology sources
  agree on the pair (checked while building this module);
* ``local`` - the project's own ``urn:prenatal-cds:finding`` code (clinical.md F);
* ``unverified`` - single source; accepted on input, never emitted on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from cds_service.knowledge.systems import ATC as ATC
from cds_service.knowledge.systems import FINDING as FINDING
from cds_service.knowledge.systems import LOINC as LOINC
from cds_service.knowledge.systems import RXNORM as RXNORM
from cds_service.knowledge.systems import SNOMED as SNOMED

Provenance = Literal["clinical.md", "public", "local", "unverified"]
CodeKey = tuple[str, str]


@dataclass(frozen=True)
class Concept:
    """One coded concept. Equality and matching use ``(system, code)`` only."""

    system: str
    code: str
    display: str = field(compare=False)
    provenance: Provenance = field(default="clinical.md", compare=False)

    @property
    def key(self) -> CodeKey:
        return (self.system, self.code)


def loinc(code: str, display: str, provenance: Provenance = "clinical.md") -> Concept:
    return Concept(LOINC, code, display, provenance)


def sct(code: str, display: str, provenance: Provenance = "clinical.md") -> Concept:
    return Concept(SNOMED, code, display, provenance)


def local(code: str, display: str) -> Concept:
    return Concept(FINDING, code, display, "local")


@dataclass(frozen=True)
class ValueSet:
    """A named set of concepts; ``key in value_set`` tests a ``(system, code)`` pair."""

    name: str
    title: str
    concepts: tuple[Concept, ...]

    @cached_property
    def codes(self) -> frozenset[CodeKey]:
        """Computed once per value set (knowledge tables are immutable)."""
        return frozenset(c.key for c in self.concepts)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, tuple) and item in self.codes

    def matches(self, keys: Iterable[CodeKey]) -> bool:
        codes = self.codes
        return any(k in codes for k in keys)


# --------------------------------------------------------------------------------------
# Pregnancy context (clinical.md 1.1, 1.2)
# --------------------------------------------------------------------------------------

PREGNANCY_STATUS = loinc("82810-3", "Pregnancy status")
PREGNANT_VALUES = ValueSet(
    "pregnant-values",
    "Pregnancy status answers meaning pregnant",
    (loinc("LA15173-0", "Pregnant"), sct("77386006", "Pregnancy (finding)")),
)
NOT_PREGNANT_VALUES = ValueSet(
    "not-pregnant-values",
    "Pregnancy status answers meaning not pregnant",
    (loinc("LA26683-5", "Not pregnant"), sct("60001007", "Not pregnant (finding)")),
)
# LA4489-6 means *unknown*, never "not pregnant" (clinical.md 1.1 item 2).
UNKNOWN_VALUES = ValueSet(
    "unknown-values", "Pregnancy status unknown", (loinc("LA4489-6", "Unknown"),)
)

EDD = ValueSet(
    "edd",
    "Estimated delivery date",
    (
        loinc("11778-8", "Delivery date Estimated"),
        loinc("11779-6", "Delivery date Estimated from last menstrual period"),
        loinc("11780-4", "Delivery date Estimated from ovulation date"),
    ),
)
# 11778-8 is the general (often ultrasound-revised) EDD; it wins over LMP/ovulation EDDs
# recorded at the same time (clinical.md 1.2: prefer the ultrasound-based EDD).
EDD_PREFERENCE: Mapping[CodeKey, int] = MappingProxyType(
    {(LOINC, "11778-8"): 0, (LOINC, "11780-4"): 1, (LOINC, "11779-6"): 2}
)
GESTATIONAL_AGE = ValueSet(
    "gestational-age",
    "Gestational age",
    (
        loinc("11884-4", "Gestational age Estimated"),
        loinc("11885-1", "Gestational age Estimated from last menstrual period"),
        loinc("18185-9", "Gestational age"),
        loinc("49051-6", "Gestational age in weeks"),
        loinc("49052-4", "Gestational age in days"),
    ),
)
# LOINC 8665-2 is not in clinical.md's tables; clinical.md 1.2 needs an LMP ("today - LMP").
LMP = loinc("8665-2", "Last menstrual period start date", "public")

PREGNANCY_CONDITIONS = ValueSet(
    "pregnancy-condition",
    "Active pregnancy (Condition)",
    (sct("77386006", "Pregnancy (finding)"),),
)
NOT_PREGNANT_CONDITIONS = ValueSet(
    "not-pregnant-condition",
    "Not pregnant (Condition)",
    (sct("60001007", "Not pregnant (finding)"),),
)
POSTPARTUM_CONDITIONS = ValueSet(
    "postpartum-condition",
    "Early postpartum state",
    (sct("16538005", "Early postpartum state (finding)"),),
)
DELIVERY_PROCEDURES = ValueSet(
    "delivery-procedure",
    "Delivery (Procedure)",
    (
        sct("236973005", "Delivery procedure (procedure)", "public"),
        sct("11466000", "Cesarean section (procedure)", "public"),
    ),
)

# --------------------------------------------------------------------------------------
# Symptoms, signs and conditions (clinical.md A.1 and F)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingDef:
    """A symptom, sign or condition the rules read, with every code that means it.

    ``label`` is the plain-words name used in card text ("loss of consciousness").
    """

    key: str
    label: str
    concepts: tuple[Concept, ...]

    @property
    def value_set(self) -> ValueSet:
        return ValueSet(f"finding:{self.key}", self.label, self.concepts)


def _f(key: str, label: str, *concepts: Concept) -> FindingDef:
    return FindingDef(key, label, concepts)


_FINDING_DEFS: tuple[FindingDef, ...] = (
    # A1 cramps
    _f("leg-cramp", "leg cramps", sct("449918009", "Cramp in lower leg")),
    _f("cramp", "muscle cramps", sct("55300003", "Cramp (finding)")),
    _f(
        "nocturnal-leg-cramps",
        "nocturnal leg cramps",
        local("nocturnal-leg-cramps", "Nocturnal leg cramps"),
    ),
    _f(
        "focal-spasms",
        "recurrent focal spasms",
        local("focal-spasms", "Recurrent focal muscle spasms"),
    ),
    # A2 / A4 seizure and consciousness
    _f("seizure", "seizure", sct("91175000", "Seizure (finding)")),
    _f(
        "eclampsia",
        "eclampsia",
        sct("15938005", "Eclampsia (disorder)"),
        sct("198992004", "Eclampsia in pregnancy (disorder)"),
    ),
    _f(
        "loss-of-consciousness",
        "loss of consciousness",
        sct("419045004", "Loss of consciousness (finding)"),
    ),
    _f("syncope", "syncope", sct("271594007", "Syncope")),
    _f("confusion", "confusion", local("confusion", "Confusion / altered mental status")),
    # A3 hypertensive disorders
    _f("pre-eclampsia", "pre-eclampsia", sct("398254007", "Pre-eclampsia (disorder)")),
    _f(
        "severe-pre-eclampsia",
        "severe pre-eclampsia",
        sct("46764007", "Severe pre-eclampsia (disorder)"),
    ),
    _f(
        "hellp",
        "HELLP syndrome",
        sct("95605009", "Hemolysis-elevated liver enzymes-low platelet count syndrome (disorder)"),
    ),
    _f(
        "gestational-hypertension",
        "pregnancy-induced hypertension",
        sct("48194001", "Pregnancy-induced hypertension (disorder)"),
    ),
    # A5 pre-eclampsia symptoms
    _f("headache", "headache", sct("25064002", "Headache (finding)")),
    _f(
        "visual-disturbance",
        "visual disturbance",
        local("visual-disturbance", "Visual disturbance"),
    ),
    _f("epigastric-pain", "epigastric pain", sct("79922009", "Epigastric pain (finding)")),
    _f("oedema", "oedema", sct("267038008", "Oedema (finding)")),
    _f(
        "pulmonary-oedema",
        "pulmonary oedema",
        sct("19242006", "Pulmonary edema (disorder)", "public"),
    ),
    # A6 vomiting / hyperemesis
    _f("vomiting", "vomiting", sct("422400008", "Vomiting (disorder)")),
    _f("nausea", "nausea", sct("422587007", "Nausea (finding)")),
    _f(
        "excessive-vomiting-in-pregnancy",
        "excessive vomiting in pregnancy",
        sct("14094001", "Excessive vomiting in pregnancy (disorder)"),
    ),
    _f(
        "hyperemesis-mild",
        "mild hyperemesis gravidarum",
        sct("19569008", "Mild hyperemesis gravidarum"),
    ),
    _f(
        "hyperemesis-moderate",
        "moderate hyperemesis gravidarum",
        sct("129597002", "Moderate hyperemesis gravidarum"),
    ),
    _f(
        "hyperemesis-severe",
        "severe hyperemesis gravidarum",
        sct("129598007", "Severe hyperemesis gravidarum"),
    ),
    _f(
        "hyperemesis-metabolic",
        "hyperemesis gravidarum with metabolic disturbance",
        sct("199025001", "Hyperemesis gravidarum with metabolic disturbance (disorder)"),
    ),
    # A7 dehydration signs
    _f("dehydration", "dehydration", sct("34095006", "Dehydration")),
    _f("oliguria", "oliguria", sct("83128009", "Oliguria (finding)")),
    _f("hypotension", "low blood pressure", sct("45007003", "Low blood pressure (disorder)")),
    _f("tachycardia", "tachycardia", sct("3424008", "Tachycardia (finding)")),
    _f("dizziness", "dizziness", sct("404640003", "Dizziness (finding)")),
    # A8 hypocalcaemia / tetany
    _f("hypocalcaemia", "hypocalcaemia", sct("5291005", "Hypocalcemia")),
    _f("hypoparathyroidism", "hypoparathyroidism", sct("36976004", "Hypoparathyroidism")),
    _f("paraesthesia", "paraesthesia", sct("91019004", "Paresthesia")),
    _f("carpopedal-spasm", "carpopedal spasm", local("carpopedal-spasm", "Carpopedal spasm")),
    _f("chvostek-sign", "Chvostek sign", local("chvostek-sign", "Chvostek sign")),
    _f("trousseau-sign", "Trousseau sign", local("trousseau-sign", "Trousseau sign")),
    _f("tetany", "tetany", local("tetany", "Tetany")),
    _f("trismus", "trismus", local("trismus", "Trismus")),
    _f("laryngospasm", "laryngospasm", local("laryngospasm", "Laryngospasm")),
    _f("arrhythmia", "arrhythmia", local("arrhythmia", "Cardiac arrhythmia or prolonged QT")),
    # A9 / A10 / A11 / A21 metabolic conditions
    _f("hypomagnesaemia", "hypomagnesaemia", sct("190855004", "Hypomagnesemia")),
    _f("hypokalaemia", "hypokalaemia", sct("43339004", "Hypokalemia")),
    _f("hyponatraemia", "hyponatraemia", sct("89627008", "Hyponatremia")),
    _f("hypoglycaemia", "hypoglycaemia", sct("302866003", "Hypoglycemia")),
    _f("gdm", "gestational diabetes", sct("11687002", "Gestational diabetes mellitus (disorder)")),
    _f(
        "iron-deficiency-anaemia",
        "iron-deficiency anaemia",
        sct("87522002", "Iron deficiency anemia (disorder)"),
    ),
    _f("anaemia", "anaemia", sct("271737000", "Anemia (disorder)")),
    _f(
        "anaemia-in-pregnancy",
        "anaemia in pregnancy",
        sct("199246003", "Anemia during pregnancy - baby not yet delivered (disorder)"),
    ),
    _f(
        "anaemia-postpartum",
        "anaemia after delivery",
        sct("199244000", "Anemia during pregnancy - baby delivered (disorder)"),
    ),
    _f("vitamin-d-deficiency", "vitamin D deficiency", sct("34713006", "Vitamin D deficiency")),
    # A12 / A13 / A14 / A15 venous
    _f(
        "varicose-veins",
        "varicose veins",
        sct("128060009", "Venous varices (disorder)"),
        sct("200204002", "Varicose veins of legs in pregnancy and the puerperium (disorder)"),
        sct("1144807000", "Varicose veins of bilateral lower limbs in pregnancy (disorder)"),
    ),
    _f(
        "thrombophlebitis",
        "superficial thrombophlebitis",
        sct("200222004", "Superficial thrombophlebitis in pregnancy and the puerperium (disorder)"),
        sct("1149472000", "Thrombophlebitis of bilateral lower limbs in pregnancy (disorder)"),
        sct("1148583001", "Phlebitis in pregnancy (disorder)"),
    ),
    _f(
        "dvt",
        "deep vein thrombosis",
        sct("128053003", "Deep venous thrombosis (disorder)"),
        sct("404223003", "Deep venous thrombosis of lower extremity (disorder)"),
        sct("1148584007", "Venous thrombosis in pregnancy (disorder)"),
        sct("111458008", "Venous thrombosis in puerperium (disorder)"),
    ),
    _f("leg-swelling", "leg swelling", sct("449615005", "Swelling of lower leg (finding)")),
    _f("leg-pain", "leg pain", sct("10601006", "Pain in lower limb (finding)", "public")),
    _f("leg-redness", "leg redness", local("leg-redness", "Redness of lower leg")),
    # A16 pulmonary embolism
    _f(
        "pe",
        "pulmonary embolism",
        sct("59282003", "Pulmonary embolism (disorder)"),
        sct("200284000", "Obstetric pulmonary embolism (disorder)"),
        sct("200299000", "Obstetric blood-clot pulmonary embolism (disorder)"),
    ),
    _f("dyspnoea", "breathlessness", sct("267036007", "Dyspnea (finding)")),
    _f("chest-pain", "chest pain", sct("29857009", "Chest pain (finding)")),
    _f("chest-tightness", "chest tightness", sct("23924001", "Tight chest (finding)", "public")),
    _f("haemoptysis", "haemoptysis", local("haemoptysis", "Haemoptysis")),
    # A17 supine hypotension
    _f(
        "maternal-hypotension-syndrome",
        "maternal hypotension syndrome",
        sct("88887003", "Maternal hypotension syndrome (disorder)"),
        sct("200113008", "Maternal hypotension syndrome with antenatal problem"),
    ),
    _f(
        "supine-dizziness",
        "dizziness when lying supine",
        local("supine-dizziness", "Dizziness or faintness when supine"),
    ),
    # A18 preterm labour
    _f(
        "preterm-labour",
        "preterm labour",
        sct("6383007", "Premature labor (finding)"),
        sct("199049003", "Threatened premature labor - not delivered (finding)"),
    ),
    _f(
        "contractions",
        "uterine contractions",
        sct("249123005", "Onset of contractions (observable entity)", "unverified"),
    ),
    _f(
        "regular-contractions",
        "regular contractions",
        local("regular-contractions", "Regular uterine contractions"),
    ),
    _f("vaginal-bleeding", "vaginal bleeding", sct("289530006", "Bleeding from vagina (finding)")),
    _f(
        "vaginal-discharge",
        "vaginal discharge",
        sct("271939006", "Vaginal discharge (finding)", "public"),
    ),
    _f(
        "vaginal-fluid-loss",
        "fluid loss per vagina",
        local("vaginal-fluid-loss", "Fluid loss per vagina"),
    ),
    _f("abdominal-pain", "abdominal pain", sct("21522001", "Abdominal pain (finding)")),
    _f("back-pain", "back pain", sct("161891005", "Backache (finding)", "public")),
    _f(
        "reduced-fetal-movements",
        "reduced fetal movements",
        local("reduced-fetal-movements", "Reduced fetal movements"),
    ),
    # A19 cardiac
    _f(
        "left-arm-pain",
        "left-arm pain",
        local("left-arm-pain", "Persistent left-arm pain or cramp"),
    ),
    _f("palpitations", "palpitations", sct("80313002", "Palpitations (finding)", "public")),
    # A20 neuropathy, A22 smoking
    _f("peripheral-neuropathy", "peripheral neuropathy", sct("302226006", "Peripheral neuropathy")),
    _f("smoker", "smoking", sct("77176002", "Smoker (finding)")),
    # L11 MgSO4 toxicity sign
    _f(
        "reflexes-absent",
        "absent tendon reflexes",
        local("reflexes-absent", "Absent deep tendon reflexes"),
    ),
)

FINDINGS: Mapping[str, FindingDef] = MappingProxyType({f.key: f for f in _FINDING_DEFS})

# Finding groups the rules share.
SEIZURE_FINDINGS = ("seizure", "eclampsia")
CONSCIOUSNESS_FINDINGS = ("loss-of-consciousness", "syncope")
PRE_ECLAMPSIA_CONDITIONS = (
    "pre-eclampsia",
    "severe-pre-eclampsia",
    "hellp",
    "gestational-hypertension",
)
PRE_ECLAMPSIA_SYMPTOMS = ("headache", "visual-disturbance", "epigastric-pain")
HYPEREMESIS_FINDINGS = (
    "excessive-vomiting-in-pregnancy",
    "hyperemesis-mild",
    "hyperemesis-moderate",
    "hyperemesis-severe",
    "hyperemesis-metabolic",
)
TETANY_SIGNS = (
    "carpopedal-spasm",
    "chvostek-sign",
    "trousseau-sign",
    "tetany",
    "trismus",
    "laryngospasm",
)
DVT_LEG_SIGNS = ("leg-swelling", "leg-pain", "leg-redness")
PE_SYMPTOMS = ("dyspnoea", "chest-pain", "haemoptysis")
COLLAPSE_FINDINGS = ("syncope", "loss-of-consciousness")
PRETERM_PAIN_BLEEDING = (
    "abdominal-pain",
    "back-pain",
    "vaginal-bleeding",
    "vaginal-discharge",
    "vaginal-fluid-loss",
)
CARDIAC_ACCOMPANYING = ("chest-pain", "chest-tightness", "dyspnoea", "syncope", "palpitations")
CRAMP_FINDINGS = ("leg-cramp", "cramp", "nocturnal-leg-cramps")

# Laterality (clinical.md F): SNOMED qualifiers in bodySite codings.
LATERALITY_LEFT = sct("7771000", "Left")
LATERALITY_RIGHT = sct("24028007", "Right")
# Finding present/absent answers (clinical.md F).
ANSWER_YES = sct("373066001", "Yes")
ANSWER_NO = sct("373067005", "No")

# --------------------------------------------------------------------------------------
# Medications (clinical.md A.4): RxNorm ingredients and ATC codes/classes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MedicationClass:
    """A drug class the rules ask about. ATC entries match as prefixes (class codes)."""

    key: str
    label: str
    rxnorm: tuple[Concept, ...] = ()
    atc: tuple[Concept, ...] = ()

    def matches(self, system: str, code: str) -> bool:
        if system == RXNORM:
            return any(c.code == code for c in self.rxnorm)
        if system == ATC:
            return any(code.startswith(c.code) for c in self.atc)
        return False


def rx(code: str, display: str, provenance: Provenance = "clinical.md") -> Concept:
    return Concept(RXNORM, code, display, provenance)


def atc(code: str, display: str) -> Concept:
    return Concept(ATC, code, display)


_MED_CLASSES: tuple[MedicationClass, ...] = (
    MedicationClass(
        "loop-diuretic",
        "loop diuretic",
        (rx("4603", "furosemide"), rx("1808", "bumetanide"), rx("38413", "torsemide")),
        (atc("C03C", "HIGH-CEILING DIURETICS"),),
    ),
    MedicationClass(
        "thiazide-diuretic",
        "thiazide or thiazide-like diuretic",
        (
            rx("5487", "hydrochlorothiazide"),
            rx("2409", "chlorthalidone"),
            rx("5764", "indapamide"),
            rx("6916", "metolazone"),
        ),
        (
            atc("C03A", "LOW-CEILING DIURETICS, THIAZIDES"),
            atc("C03B", "LOW-CEILING DIURETICS, EXCL. THIAZIDES"),
        ),
    ),
    MedicationClass(
        "magnesium-sulfate",
        "magnesium sulfate",
        (rx("6585", "magnesium sulfate"),),
        (atc("B05XA05", "magnesium sulfate (IV additive)"), atc("A12CC02", "magnesium sulfate")),
    ),
    MedicationClass(
        "magnesium-supplement",
        "magnesium supplement",
        (rx("6574", "magnesium"),),
        (atc("A12CC", "Magnesium"),),
    ),
    MedicationClass(
        "calcium-supplement",
        "calcium supplement",
        (rx("1897", "calcium carbonate"), rx("1895", "calcium")),
        (
            atc("A12AA", "Calcium"),
            atc("A12AX", "Calcium, combinations with vitamin D and/or other drugs"),
        ),
    ),
    MedicationClass(
        "iron",
        "iron",
        (rx("24947", "ferrous sulfate"), rx("90176", "iron")),
        (
            atc("B03AA", "Iron bivalent, oral preparations"),
            atc("B03AC", "Iron, parenteral preparations"),
            atc("B03AD", "Iron in combination with folic acid"),
        ),
    ),
    MedicationClass(
        "vitamin-d",
        "vitamin D",
        (rx("2418", "cholecalciferol"), rx("11253", "vitamin D")),
        (atc("A11CC", "Vitamin D and analogues"),),
    ),
    MedicationClass(
        "pyridoxine", "pyridoxine (vitamin B6)", (), (atc("A11HA02", "pyridoxine (vit B6)"),)
    ),
    MedicationClass(
        "potassium-chloride",
        "potassium chloride",
        (rx("8591", "potassium chloride"),),
        (atc("A12BA01", "potassium chloride"),),
    ),
    MedicationClass(
        "insulin",
        "insulin",
        (rx("311034", "insulin, regular, human 100 UNT/ML Injectable Solution"),),
        (atc("A10A", "INSULINS AND ANALOGUES"),),
    ),
    MedicationClass(
        "beta2-agonist",
        "beta-2 agonist",
        (rx("435", "albuterol"), rx("10368", "terbutaline")),
        (
            atc("R03AC", "Selective beta-2-adrenoreceptor agonists"),
            atc("R03CC", "Selective beta-2-adrenoreceptor agonists (systemic)"),
        ),
    ),
    MedicationClass(
        "nifedipine", "nifedipine", (rx("7417", "nifedipine"),), (atc("C08CA05", "nifedipine"),)
    ),
    MedicationClass(
        "antihypertensive",
        "antihypertensive",
        (
            rx("6185", "labetalol"),
            rx("6876", "methyldopa"),
            rx("5470", "hydralazine"),
            rx("7417", "nifedipine"),
        ),
        (
            atc("C07AG01", "labetalol"),
            atc("C02AB01", "methyldopa (levorotatory)"),
            atc("C02DB02", "hydralazine"),
            atc("C08CA05", "nifedipine"),
        ),
    ),
    MedicationClass(
        "anticoagulant",
        "heparin / LMWH",
        (rx("67108", "enoxaparin"), rx("5224", "heparin")),
        (atc("B01AB", "Heparin group"),),
    ),
    MedicationClass("quinine", "quinine", (rx("9071", "quinine"),), (atc("P01BC01", "quinine"),)),
    MedicationClass("corticosteroid", "glucocorticoid", (), (atc("H02AB", "Glucocorticoids"),)),
    MedicationClass("thiamine", "thiamine", (), (atc("A11DA01", "thiamine (vit B1)"),)),
)

MEDICATION_CLASSES: Mapping[str, MedicationClass] = MappingProxyType(
    {m.key: m for m in _MED_CLASSES}
)
DIURETIC_CLASSES = ("loop-diuretic", "thiazide-diuretic")

# Routes that make a magnesium sulfate order parenteral (R1 de-duplication, R12b).
ROUTE_INTRAVENOUS = sct("47625008", "Intravenous route", "public")
ROUTE_INTRAMUSCULAR = sct("78421000", "Intramuscular route", "public")
ROUTE_ORAL = sct("26643006", "Oral route", "public")
PARENTERAL_ROUTES = ValueSet(
    "parenteral-routes", "Parenteral routes", (ROUTE_INTRAVENOUS, ROUTE_INTRAMUSCULAR)
)
ORAL_ROUTES = ValueSet("oral-routes", "Oral route", (ROUTE_ORAL,))
# ATC B05XA05 is the IV additive; it alone proves a parenteral product.
PARENTERAL_MGSO4_ATC = "B05XA05"

# Observation.interpretation codes that are lab critical flags (clinical.md 1.3).
CRITICAL_INTERPRETATIONS = frozenset({"LL", "HH", "AA"})


def _check_unique() -> None:
    seen: dict[CodeKey, str] = {}
    for f in _FINDING_DEFS:
        for c in f.concepts:
            if c.key in seen:
                raise AssertionError(f"{c.key} is in both {seen[c.key]} and {f.key}")
            seen[c.key] = f.key


_check_unique()

FINDING_BY_CODE: Mapping[CodeKey, str] = MappingProxyType(
    {c.key: f.key for f in _FINDING_DEFS for c in f.concepts}
)
