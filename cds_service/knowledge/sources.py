"""Guideline citations: one key per source (clinical.md 0.3), label + absolute URL.

A card names exactly one source (E.2 "one card = one source of truth"); its detail may
cite more by label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Citation:
    key: str
    label: str
    url: str


_CITATIONS: tuple[Citation, ...] = (
    Citation(
        "NG133", "NICE NG133 Hypertension in pregnancy", "https://www.nice.org.uk/guidance/ng133"
    ),
    Citation(
        "CG107",
        "NICE CG107 Hypertension in pregnancy (2010): proteinuria",
        "https://www.ncbi.nlm.nih.gov/books/NBK62656/",
    ),
    Citation(
        "DG49",
        "NICE DG49 PlGF-based testing for suspected pre-eclampsia",
        "https://www.nice.org.uk/guidance/dg49",
    ),
    Citation(
        "ACOG222",
        "ACOG Practice Bulletin 222 Gestational hypertension and preeclampsia",
        "https://www.acog.org/clinical/clinical-guidance/practice-bulletin/articles/2020/06/gestational-hypertension-and-preeclampsia",
    ),
    Citation(
        "ACOG767",
        "ACOG Committee Opinion 767 Acute-onset severe hypertension in pregnancy",
        "https://www.acog.org/clinical/clinical-guidance/committee-opinion/articles/2019/02/emergent-therapy-for-acute-onset-severe-hypertension-during-pregnancy-and-the-postpartum-period",
    ),
    Citation(
        "GTG37b",
        "RCOG Green-top Guideline 37b Thromboembolic disease in pregnancy and the puerperium: "
        "acute management",
        "https://www.rcog.org.uk/en/guidelines-research-services/guidelines/gtg37b/",
    ),
    Citation(
        "LEFt",
        "Chan WS et al. Ann Intern Med 2009;151:85-92 (LEFt rule)",
        "https://doi.org/10.7326/0003-4819-151-2-200907210-00006",
    ),
    Citation(
        "GTG69",
        "RCOG Green-top Guideline 69 Nausea and vomiting of pregnancy and hyperemesis gravidarum",
        "https://www.rcog.org.uk/en/guidelines-research-services/guidelines/gtg69/",
    ),
    Citation(
        "WHO2011",
        "WHO 2011 Haemoglobin concentrations for the diagnosis of anaemia",
        "https://www.who.int/publications/i/item/WHO-NMH-NHD-MNM-11.1",
    ),
    Citation(
        "WHO2024",
        "WHO 2024 Guideline on haemoglobin cutoffs to define anaemia",
        "https://www.who.int/publications/i/item/9789240088542",
    ),
    Citation(
        "BSH2020",
        "BSH 2020 Management of iron deficiency in pregnancy (Pavord et al.)",
        "https://doi.org/10.1111/bjh.16221",
    ),
    Citation(
        "IADPSG",
        "IADPSG 2010 Diagnosis of hyperglycemia in pregnancy",
        "https://doi.org/10.2337/dc09-1848",
    ),
    Citation(
        "ADAHYPO",
        "ADA Standards of Care in Diabetes: glycemic goals and hypoglycemia",
        "https://professional.diabetes.org/standards-of-care",
    ),
    Citation(
        "SFE",
        "Society for Endocrinology emergency guidance: acute hypocalcaemia",
        "https://doi.org/10.1530/EC-16-0056",
    ),
    Citation(
        "PAYNE",
        "Payne RB et al. BMJ 1973 (albumin-adjusted calcium)",
        "https://doi.org/10.1136/bmj.4.5893.643",
    ),
    Citation(
        "RCEMK",
        "RCEMLearning: hypokalaemia",
        "https://www.rcemlearning.co.uk/reference/hypokalaemia/",
    ),
    Citation(
        "MG",
        "NHS therapeutic guidance: hypomagnesaemia",
        "https://remedy.bnssg.icb.nhs.uk/adults/electrolytes/hypomagnesaemia/",
    ),
    Citation(
        "MGTOX",
        "Magnesium sulfate product information: toxicity monitoring",
        "https://www.medicines.org.uk/emc/search?q=magnesium%20sulfate%20injection",
    ),
    Citation(
        "VITD",
        "SACN 2016 Vitamin D and health",
        "https://www.gov.uk/government/publications/sacn-vitamin-d-and-health-report",
    ),
    Citation("CKS", "NICE CKS Leg cramps", "https://cks.nice.org.uk/topics/leg-cramps/"),
    Citation(
        "COCH",
        "Cochrane CD010655 Interventions for leg cramps in pregnancy",
        "https://doi.org/10.1002/14651858.CD010655.pub3",
    ),
    Citation(
        "WHOANC16",
        "WHO 2016 recommendations on antenatal care",
        "https://www.who.int/publications/i/item/9789241549912",
    ),
    Citation(
        "SHS",
        "Zhao P-S. Supine hypotensive syndrome: a comprehensive review "
        "(Transl Perioper Pain Med 2014)",
        "http://www.transpopmed.org/articles/tppm/tppm-2014-1-013.php",
    ),
    Citation(
        "MBRRACE",
        "MBRRACE-UK Saving Lives, Improving Mothers' Care",
        "https://www.npeu.ox.ac.uk/mbrrace-uk/reports",
    ),
    Citation("NG25", "NICE NG25 Preterm labour and birth", "https://www.nice.org.uk/guidance/ng25"),
    Citation(
        "FHIROBS",
        "HL7 FHIR R4 Observation (status, interpretation, units)",
        "https://hl7.org/fhir/R4/observation.html",
    ),
    Citation(
        "IPS",
        "HL7 IPS pregnancy status value set",
        "https://hl7.org/fhir/uv/ips/ValueSet-pregnancy-status-uv-ips.html",
    ),
)

CITATIONS: Mapping[str, Citation] = MappingProxyType({c.key: c for c in _CITATIONS})


def citation(key: str) -> Citation:
    found = CITATIONS.get(key)
    if found is None:
        raise KeyError(f"unknown citation key {key!r}")
    return found
