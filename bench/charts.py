"""Deterministic, realistic patient-view requests for a pregnant patient.

A chart of *n* resources is a Patient, the facts our rules read most (pregnancy status, EDD,
gestational age, the latest Hb, K, Na, Mg, Ca + albumin, glucose, BP panel, a few Conditions and
MedicationRequests) and then years of history walked backwards from "now": visits with vital
signs (BP panel, HR, weight, temperature, RR, SpO2, height/BMI) and lab draws (CBC, metabolic
panel, lipids, thyroid, liver, HbA1c, ferritin, vitamin D, urinalysis). Most of that history is
irrelevant to our rules, which is the point: a real EHR sends it and we must ignore it cheaply.

Everything is valid FHIR R4 JSON (Observation, Condition, MedicationRequest, Patient in
searchset Bundles), spread over the prenatal-cramps-convulsions service's prefetch keys, and
the same ``(n, seed, now)`` always gives byte-identical output.
"""

from __future__ import annotations

import functools
import random
import tomllib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SERVICE_ID = "prenatal-cramps-convulsions"
HOOK = "patient-view"
HOOKS_DIR = Path(__file__).resolve().parent.parent / "hooks"
# What the generator produces, by FHIR search; any other key the service declares gets an
# empty searchset Bundle (queried, nothing found: e.g. no delivery yet).
PREFETCH_KEYS = ("patient", "pregnancy", "vitals", "labs", "findings", "conditions", "medications")
SIZES = (30, 300, 3000)
GA_DAYS = 30 * 7 + 3  # the patient is 30+3 weeks pregnant "now"
FIXED_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT_ID = "bench-pat-1"
EHR_BASE = "https://ehr.example.org/fhir"
HOOK_INSTANCE_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(frozen=True)
class Analyte:
    code: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int = 1


# Lab panels (LOINC, UCUM). Relevant to our rules: Hb, K, Na, Mg, Ca, albumin, glucose,
# ferritin, vitamin D, platelets, creatinine; the rest is the noise every chart carries.
PANELS: dict[str, tuple[Analyte, ...]] = {
    "cbc": (
        Analyte("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 15.5),
        Analyte("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", 36, 46),
        Analyte(
            "777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 0
        ),
        Analyte("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11),
        Analyte(
            "789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", 4, 5.2, 2
        ),
        Analyte("787-2", "MCV [Entitic volume] by Automated count", "fL", 80, 100),
        Analyte("785-6", "MCH [Entitic mass] by Automated count", "pg", 27, 33),
        Analyte("786-4", "MCHC [Mass/volume] by Automated count", "g/dL", 32, 36),
        Analyte(
            "788-0", "Erythrocyte distribution width [Ratio] by Automated count", "%", 11.5, 14.5
        ),
    ),
    "differential": (
        Analyte("770-8", "Neutrophils/100 leukocytes in Blood by Automated count", "%", 40, 75),
        Analyte("736-9", "Lymphocytes/100 leukocytes in Blood by Automated count", "%", 20, 45),
        Analyte("5905-5", "Monocytes/100 leukocytes in Blood by Automated count", "%", 2, 10),
        Analyte("713-8", "Eosinophils/100 leukocytes in Blood by Automated count", "%", 0, 6),
        Analyte("706-2", "Basophils/100 leukocytes in Blood by Automated count", "%", 0, 2),
        Analyte("751-8", "Neutrophils [#/volume] in Blood by Automated count", "10*3/uL", 1.8, 7.7),
        Analyte("731-0", "Lymphocytes [#/volume] in Blood by Automated count", "10*3/uL", 1, 4.8),
    ),
    "haematinics": (
        Analyte(
            "2132-9",
            "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma",
            "pg/mL",
            200,
            900,
            0,
        ),
        Analyte("2284-8", "Folate [Mass/volume] in Serum or Plasma", "ng/mL", 3, 20),
    ),
    "inflammation": (
        Analyte("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", 0, 5),
    ),
    "metabolic": (
        Analyte("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145, 0),
        Analyte("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1),
        Analyte("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", 98, 107, 0),
        Analyte(
            "2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "mmol/L", 22, 29, 0
        ),
        Analyte("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 7, 20, 0),
        Analyte("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.5, 1.1, 2),
        Analyte("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, 0),
        Analyte("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.6, 10.3),
    ),
    "minerals": (
        Analyte("2601-3", "Magnesium [Moles/volume] in Serum or Plasma", "mmol/L", 0.7, 1.0, 2),
        Analyte("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", 3.5, 5.0),
        Analyte("2777-1", "Phosphate [Mass/volume] in Serum or Plasma", "mg/dL", 2.5, 4.5),
    ),
    "lipids": (
        Analyte("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 125, 200, 0),
        Analyte("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 40, 150, 0),
        Analyte(
            "2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 45, 80, 0
        ),
        Analyte(
            "13457-7",
            "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation",
            "mg/dL",
            60,
            130,
            0,
        ),
    ),
    "thyroid": (
        Analyte("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", 0.4, 4.0, 2),
        Analyte(
            "3024-7", "Thyroxine (T4) free [Mass/volume] in Serum or Plasma", "ng/dL", 0.8, 1.8, 2
        ),
    ),
    "liver": (
        Analyte(
            "1742-6",
            "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            7,
            35,
            0,
        ),
        Analyte(
            "1920-8",
            "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            10,
            35,
            0,
        ),
        Analyte(
            "6768-6",
            "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            35,
            105,
            0,
        ),
        Analyte("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.1, 1.2),
    ),
    "glycaemia": (Analyte("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6),),
    "iron": (
        Analyte("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ng/mL", 30, 150, 0),
        Analyte("2498-4", "Iron [Mass/volume] in Serum or Plasma", "ug/dL", 60, 170, 0),
    ),
    "vitamin_d": (
        Analyte(
            "62292-8",
            "25-Hydroxyvitamin D3+25-Hydroxyvitamin D2 [Mass/volume] in Serum or Plasma",
            "ng/mL",
            30,
            80,
            0,
        ),
    ),
    "urine": (
        Analyte("5811-5", "Specific gravity of Urine by Test strip", "1", 1.005, 1.030, 3),
        Analyte("5803-2", "pH of Urine by Test strip", "[pH]", 5.0, 8.0),
    ),
}
# Each lab draw picks panels with these weights (a CBC and a metabolic panel are the usual).
PANEL_WEIGHTS: dict[str, float] = {
    "cbc": 0.8,
    "differential": 0.7,
    "haematinics": 0.1,
    "inflammation": 0.15,
    "metabolic": 0.7,
    "minerals": 0.25,
    "lipids": 0.3,
    "thyroid": 0.3,
    "liver": 0.3,
    "glycaemia": 0.2,
    "iron": 0.2,
    "vitamin_d": 0.1,
    "urine": 0.4,
}

VITALS: tuple[Analyte, ...] = (
    Analyte("8867-4", "Heart rate", "/min", 62, 96, 0),
    Analyte("29463-7", "Body weight", "kg", 60, 72, 1),
    Analyte("8310-5", "Body temperature", "Cel", 36.3, 37.2, 1),
    Analyte("9279-1", "Respiratory rate", "/min", 12, 18, 0),
    Analyte("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 96, 100, 0),
)
# Coded results: (LOINC, display, SNOMED answer, answer display).
NEGATIVE = ("260385009", "Negative")
DIPSTICK: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("5804-0", "Protein [Mass/volume] in Urine by Test strip", NEGATIVE),
    ("5792-7", "Glucose [Mass/volume] in Urine by Test strip", NEGATIVE),
    ("5799-2", "Leukocyte esterase [Presence] in Urine by Test strip", NEGATIVE),
    ("5802-4", "Nitrite [Presence] in Urine by Test strip", NEGATIVE),
    ("5794-3", "Hemoglobin [Presence] in Urine by Test strip", NEGATIVE),
)
BOOKING_SEROLOGY: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("882-1", "ABO and Rh group [Type] in Blood", ("278149003", "Blood group A Rh(D) positive")),
    ("890-4", "Blood group antibody screen [Presence] in Serum or Plasma", NEGATIVE),
    ("5196-1", "Hepatitis B virus surface Ag [Presence] in Serum by Immunoassay", NEGATIVE),
    ("20507-0", "Reagin Ab [Presence] in Serum by RPR", NEGATIVE),
    ("5334-8", "Rubella virus IgG Ab [Presence] in Serum", ("10828004", "Positive")),
    ("56888-1", "HIV 1+2 Ab+HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay", NEGATIVE),
)
FUNDAL_HEIGHT = Analyte("11881-0", "Uterus Fundal height by Tape measure", "cm", 20, 34, 0)
FETAL_HEART_RATE = Analyte("55283-6", "Fetal heart rate", "/min", 120, 160, 0)
PAIN_SCORE = Analyte(
    "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}", 0, 3, 0
)
HEIGHT = Analyte("8302-2", "Body height", "cm", 164, 166, 0)
BMI = Analyte("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 22, 26, 1)


class ChartBuilder:
    """Builds one patient's resources; all randomness from one seeded ``random.Random``."""

    def __init__(self, seed: int, now: datetime, patient_id: str = PATIENT_ID) -> None:
        self.rng = random.Random(seed)
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.patient_id = patient_id
        self.counter = 0

    # -- primitives -----------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:05d}"

    @staticmethod
    def _instant(when: datetime) -> str:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def _quantity(value: float, unit: str) -> dict[str, Any]:
        return {"value": value, "unit": unit, "system": UCUM, "code": unit}

    def _value(self, analyte: Analyte, bias: float = 0.0) -> float:
        span = analyte.high - analyte.low
        value = self.rng.gauss(analyte.low + span * (0.5 + bias), span / 5)
        return round(value, analyte.decimals) if analyte.decimals else float(round(value))

    def _observation(
        self, category: str, code: dict[str, Any], when: datetime, prefix: str
    ) -> dict[str, Any]:
        category_display = {
            "laboratory": "Laboratory",
            "vital-signs": "Vital Signs",
            "exam": "Exam",
            "social-history": "Social History",
            "survey": "Survey",
        }[category]
        profile = {
            "laboratory": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab",
            "vital-signs": "http://hl7.org/fhir/StructureDefinition/vitalsigns",
        }.get(category, "http://hl7.org/fhir/StructureDefinition/Observation")
        issued = when + timedelta(minutes=self.rng.randint(5, 240))
        return {
            "resourceType": "Observation",
            "id": self._id(prefix),
            "meta": {"versionId": "1", "lastUpdated": self._instant(issued), "profile": [profile]},
            "identifier": [
                {
                    "system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268",
                    "value": str(self.rng.randint(10**8, 10**9 - 1)),
                }
            ],
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": OBS_CATEGORY, "code": category, "display": category_display}
                    ],
                    "text": category_display,
                }
            ],
            "code": code,
            "subject": {"reference": f"Patient/{self.patient_id}"},
            "encounter": {"reference": f"Encounter/enc-{when:%Y%m%d}"},
            "effectiveDateTime": self._instant(when),
            "issued": self._instant(issued),
            "performer": [{"reference": "Organization/lab-1", "display": "Central Laboratory"}]
            if category == "laboratory"
            else [{"reference": "Practitioner/midwife-7", "display": "Community Midwife"}],
        }

    @staticmethod
    def _code(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
        return {
            "coding": [{"system": system, "code": code, "display": display}],
            "text": text or display,
        }

    def lab(self, analyte: Analyte, when: datetime, value: float | None = None) -> dict[str, Any]:
        obs = self._observation(
            "laboratory", self._code(LOINC, analyte.code, analyte.display), when, "lab"
        )
        result = self._value(analyte) if value is None else value
        flag = "L" if result < analyte.low else "H" if result > analyte.high else "N"
        obs["valueQuantity"] = self._quantity(result, analyte.unit)
        obs["interpretation"] = [
            {
                "coding": [
                    {
                        "system": INTERPRETATION,
                        "code": flag,
                        "display": {"L": "Low", "H": "High", "N": "Normal"}[flag],
                    }
                ]
            }
        ]
        obs["referenceRange"] = [
            {
                "low": self._quantity(analyte.low, analyte.unit),
                "high": self._quantity(analyte.high, analyte.unit),
                "text": f"{analyte.low}-{analyte.high} {analyte.unit}",
            }
        ]
        return obs

    def coded_lab(
        self, code: str, display: str, answer: tuple[str, str], when: datetime
    ) -> dict[str, Any]:
        obs = self._observation("laboratory", self._code(LOINC, code, display), when, "lab")
        obs["valueCodeableConcept"] = self._code(SNOMED, answer[0], answer[1])
        return obs

    def vital(self, analyte: Analyte, when: datetime, value: float | None = None) -> dict[str, Any]:
        obs = self._observation(
            "vital-signs", self._code(LOINC, analyte.code, analyte.display), when, "vit"
        )
        obs["valueQuantity"] = self._quantity(
            self._value(analyte) if value is None else value, analyte.unit
        )
        return obs

    def blood_pressure(
        self, when: datetime, systolic: float | None = None, diastolic: float | None = None
    ) -> dict[str, Any]:
        obs = self._observation(
            "vital-signs",
            self._code(
                LOINC,
                "85354-9",
                "Blood pressure panel with all children optional",
                "Blood pressure",
            ),
            when,
            "bp",
        )
        sbp = systolic if systolic is not None else float(round(self.rng.gauss(114, 8)))
        dbp = diastolic if diastolic is not None else float(round(self.rng.gauss(72, 6)))
        obs["component"] = [
            {
                "code": self._code(LOINC, "8480-6", "Systolic blood pressure"),
                "valueQuantity": self._quantity(sbp, "mm[Hg]"),
            },
            {
                "code": self._code(LOINC, "8462-4", "Diastolic blood pressure"),
                "valueQuantity": self._quantity(dbp, "mm[Hg]"),
            },
        ]
        obs["bodySite"] = self._code(SNOMED, "368209003", "Right upper arm structure")
        return obs

    def condition(
        self, code: str, display: str, onset: datetime, active: bool = True
    ) -> dict[str, Any]:
        status = "active" if active else "resolved"
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id("cond"),
            "meta": {"versionId": "1", "lastUpdated": self._instant(onset)},
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": status}]},
            "verificationStatus": {
                "coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": CONDITION_CATEGORY,
                            "code": "problem-list-item",
                            "display": "Problem List Item",
                        }
                    ]
                }
            ],
            "code": self._code(SNOMED, code, display),
            "subject": {"reference": f"Patient/{self.patient_id}"},
            "onsetDateTime": self._instant(onset),
            "recordedDate": self._instant(onset + timedelta(hours=2)),
        }
        if not active:
            resource["abatementDateTime"] = self._instant(onset + timedelta(days=21))
        return resource

    def medication(self, code: str, display: str, authored: datetime, dose: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": self._id("medrx"),
            "meta": {"versionId": "1", "lastUpdated": self._instant(authored)},
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": self._code(RXNORM, code, display),
            "subject": {"reference": f"Patient/{self.patient_id}"},
            "authoredOn": self._instant(authored),
            "requester": {"reference": "Practitioner/obstetrician-3", "display": "Obstetrician"},
            "dosageInstruction": [
                {
                    "text": dose,
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                }
            ],
        }

    def patient(self) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "id": self.patient_id,
            "meta": {"versionId": "3", "lastUpdated": self._instant(self.now - timedelta(days=40))},
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "000-00-0000"}],
            "active": True,
            "name": [{"use": "official", "family": "Bench", "given": ["Patient"]}],
            "gender": "female",
            "birthDate": (self.now - timedelta(days=int(32.4 * 365.25))).date().isoformat(),
            "address": [{"city": "Springfield", "country": "GB"}],
        }

    # -- the chart -----------------------------------------------------------------------
    def core(self) -> dict[str, list[dict[str, Any]]]:
        """What a prenatal rule set reads first: pregnancy, the latest labs, BP, problems."""
        now = self.now
        ga_days = GA_DAYS
        edd = now + timedelta(days=280 - ga_days)
        visit = now - timedelta(days=2, hours=3)
        draw = now - timedelta(days=3, hours=1)
        pregnancy = [
            self._observation(
                "social-history", self._code(LOINC, "82810-3", "Pregnancy status"), visit, "preg"
            )
            | {"valueCodeableConcept": self._code(LOINC, "LA15173-0", "Pregnant")},
            self._observation(
                "exam",
                self._code(LOINC, "11778-8", "Delivery date Estimated"),
                now - timedelta(days=ga_days - 84),
                "preg",
            )
            | {"valueDateTime": edd.date().isoformat()},
            self._observation(
                "exam", self._code(LOINC, "49051-6", "Gestational age in weeks"), visit, "preg"
            )
            | {"valueQuantity": self._quantity(round((ga_days - 2) / 7, 1), "wk")},
        ]
        by_code = {a.code: a for panel in PANELS.values() for a in panel}
        latest = {
            "718-7": 10.1,
            "2823-3": 3.9,
            "2951-2": 137.0,
            "2601-3": 0.68,
            "17861-6": 8.5,
            "1751-7": 3.1,
            "2345-7": 84.0,
        }
        labs = [self.lab(by_code[code], draw, value) for code, value in latest.items()]
        vitals = [self.blood_pressure(visit, 118.0, 74.0), self.vital(VITALS[1], visit, 71.4)]
        findings = [
            self._observation(
                "exam", self._code(SNOMED, "449918009", "Cramp in lower leg"), visit, "find"
            )
            | {"valueBoolean": True},
        ]
        conditions = [
            self.condition("77386006", "Pregnancy (finding)", now - timedelta(days=ga_days - 49)),
            self.condition("449918009", "Cramp in lower leg", now - timedelta(days=9)),
            self.condition("128060009", "Venous varices (disorder)", now - timedelta(days=400)),
        ]
        medications = [
            self.medication("4511", "folic acid", now - timedelta(days=ga_days), "400 mcg daily"),
            self.medication(
                "24947", "ferrous sulfate", now - timedelta(days=20), "one tablet daily"
            ),
            self.medication(
                "7417", "nifedipine", now - timedelta(days=6), "one tablet twice daily"
            ),
        ]
        return {
            "patient": [self.patient()],
            "pregnancy": pregnancy,
            "vitals": vitals,
            "labs": labs,
            "findings": findings,
            "conditions": conditions,
            "medications": medications,
        }

    def history(self, count: int) -> dict[str, list[dict[str, Any]]]:
        """``count`` older resources, newest first: visits every 1-5 weeks going back years."""
        out: dict[str, list[dict[str, Any]]] = {key: [] for key in PREFETCH_KEYS}
        made = 0
        when = self.now - timedelta(days=5)
        visit_number = 0
        booked = False
        while made < count:
            when -= timedelta(days=self.rng.randint(7, 35), minutes=self.rng.randint(0, 600))
            visit_number += 1
            ga_days = GA_DAYS - (self.now - when).days  # gestation at this visit, if pregnant
            batch: list[tuple[str, dict[str, Any]]] = [("vitals", self.blood_pressure(when))]
            batch += [("vitals", self.vital(a, when)) for a in VITALS]
            if self.rng.random() < 0.3:
                batch.append(("vitals", self.vital(PAIN_SCORE, when)))
            if ga_days >= 8 * 7:  # a prenatal visit: urine dipstick, and from 12 weeks the fetus
                batch += [
                    ("labs", self.coded_lab(code, display, answer, when))
                    for code, display, answer in DIPSTICK
                ]
                if ga_days >= 12 * 7:
                    batch.append(("vitals", self.vital(FETAL_HEART_RATE, when)))
                if ga_days >= 20 * 7:
                    batch.append(("vitals", self.vital(FUNDAL_HEIGHT, when, float(ga_days // 7))))
            elif not booked and ga_days < 8 * 7 and visit_number > 1:
                booked = True  # booking bloods, drawn just before the first prenatal visit
                draw = when + timedelta(hours=1)
                batch += [
                    ("labs", self.coded_lab(code, display, answer, draw))
                    for code, display, answer in BOOKING_SEROLOGY
                ]
            if visit_number % 6 == 0:
                batch += [("vitals", self.vital(HEIGHT, when)), ("vitals", self.vital(BMI, when))]
            if visit_number % 17 == 0:
                batch.append(
                    (
                        "findings",
                        self._observation(
                            "social-history",
                            self._code(LOINC, "72166-2", "Tobacco smoking status"),
                            when,
                            "find",
                        )
                        | {
                            "valueCodeableConcept": self._code(
                                SNOMED, "266919005", "Never smoked tobacco (finding)"
                            )
                        },
                    )
                )
            if visit_number % 40 == 0:
                batch.append(
                    (
                        "conditions",
                        self.condition(
                            "195662009", "Acute viral pharyngitis (disorder)", when, active=False
                        ),
                    )
                )
            if self.rng.random() < 0.6:
                draw = when + timedelta(hours=1)
                for panel, weight in PANEL_WEIGHTS.items():
                    if self.rng.random() < weight:
                        batch += [("labs", self.lab(a, draw)) for a in PANELS[panel]]
            for key, resource in batch:
                if made == count:
                    break
                out[key].append(resource)
                made += 1
        return out


def _bundle(key: str, resources: list[dict[str, Any]], patient_id: str) -> dict[str, Any]:
    query = {
        "pregnancy": "Observation?patient={p}&code=pregnancy",
        "vitals": "Observation?patient={p}&category=vital-signs",
        "labs": "Observation?patient={p}&category=laboratory",
        "findings": "Observation?patient={p}&category=exam",
        "conditions": "Condition?patient={p}",
        "medications": "MedicationRequest?patient={p}&status=active",
    }.get(key, key + "?patient={p}").format(p=patient_id)
    return {
        "resourceType": "Bundle",
        "id": f"bench-{key}",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": f"{EHR_BASE}/{query}"}],
        "entry": [
            {
                "fullUrl": f"{EHR_BASE}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def chart(
    n_resources: int, seed: int = 0, now: datetime = FIXED_NOW, patient_id: str = PATIENT_ID
) -> dict[str, list[dict[str, Any]]]:
    """The patient's resources grouped by prefetch key; ``n_resources`` in total."""
    builder = ChartBuilder(seed, now, patient_id)
    core = builder.core()
    core_count = sum(len(v) for v in core.values())
    if n_resources < core_count:
        raise ValueError(f"a chart needs at least {core_count} resources")
    older = builder.history(n_resources - core_count)
    return {key: core[key] + older[key] for key in PREFETCH_KEYS}


@functools.cache
def declared_prefetch_keys(service_id: str = SERVICE_ID, hook: str = HOOK) -> tuple[str, ...]:
    """The prefetch keys ``hooks/*.toml`` declares for the service, in declaration order."""
    for path in sorted(HOOKS_DIR.glob("*.toml")):
        service = tomllib.loads(path.read_text(encoding="utf-8")).get("service", {})
        if service.get("id") == service_id and service.get("hook") == hook:
            return tuple(service.get("prefetch") or {})
    raise LookupError(f"no declaration for {service_id} ({hook}) in {HOOKS_DIR}")


def prefetch(
    resources: dict[str, list[dict[str, Any]]], patient_id: str = PATIENT_ID
) -> dict[str, Any]:
    """A value for every declared key; fails if the service stopped declaring one we fill."""
    declared = declared_prefetch_keys()
    undeclared = [k for k in PREFETCH_KEYS if k not in declared and resources.get(k)]
    if undeclared:
        raise LookupError(f"{SERVICE_ID} no longer declares prefetch key(s) {undeclared}")
    out: dict[str, Any] = {}
    for key in declared:
        if key == "patient":
            out[key] = resources["patient"][0]
        else:
            out[key] = _bundle(key, resources.get(key, []), patient_id)
    return out


def patient_view_request(
    n_resources: int,
    seed: int = 0,
    now: datetime = FIXED_NOW,
    *,
    with_prefetch: bool = True,
    hook_instance: str | None = None,
) -> dict[str, Any]:
    """A complete, postable patient-view request for the patient-view service."""
    body: dict[str, Any] = {
        "hookInstance": hook_instance
        or str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)),
        "hook": "patient-view",
        "context": {"userId": "Practitioner/obstetrician-3", "patientId": PATIENT_ID},
    }
    if with_prefetch:
        body["prefetch"] = prefetch(chart(n_resources, seed, now))
    return body


def request_bytes(n_resources: int, seed: int = 0, now: datetime = FIXED_NOW) -> bytes:
    return orjson.dumps(patient_view_request(n_resources, seed, now))


def split_on_hook_instance(body: dict[str, Any]) -> tuple[bytes, bytes]:
    """The body serialised around its hookInstance, so each call can carry a fresh one."""
    raw = orjson.dumps(body | {"hookInstance": HOOK_INSTANCE_PLACEHOLDER})
    head, sep, tail = raw.partition(HOOK_INSTANCE_PLACEHOLDER.encode())
    assert sep, "placeholder must appear once"
    return head, tail


def resource_count(body: dict[str, Any]) -> int:
    total = 0
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            total += len(value.get("entry") or [])
        elif isinstance(value, dict):
            total += 1
    return total
