"""UCUM unit handling: spelling normalisation and linear conversions (clinical.md 1.4).

Conversion is chosen by the *unit*, never by the LOINC code: Hb 718-7 and albumin
1751-7 arrive in g/dL and g/L under one code, and mass codes are sometimes sent with
molar units. A value whose unit is missing or not convertible is never graded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_ANNOTATION = re.compile(r"\{[^}]*\}")

# Lower-cased spellings seen in real feeds -> UCUM code. UCUM itself is case-sensitive,
# but `Quantity.unit` is free text, so both are folded through this table.
_ALIASES: dict[str, str] = {
    "g/dl": "g/dL",
    "g/l": "g/L",
    "mg/dl": "mg/dL",
    "mg/l": "mg/L",
    "ug/dl": "ug/dL",
    "mcg/dl": "ug/dL",
    "ug/l": "ug/L",
    "mcg/l": "ug/L",
    "ng/ml": "ng/mL",
    "ng/l": "ng/L",
    "pg/ml": "pg/mL",
    "ug/ml": "ug/mL",
    "mg/ml": "mg/mL",
    "mmol/l": "mmol/L",
    "mmol/mol": "mmol/mol",
    "umol/l": "umol/L",
    "mcmol/l": "umol/L",
    "nmol/l": "nmol/L",
    "pmol/l": "pmol/L",
    "meq/l": "meq/L",
    "mequiv/l": "meq/L",
    "mg/mmol": "mg/mmol",
    "g/mmol": "g/mmol",
    "mg/mg": "mg/mg",
    "g/g": "g/g",
    "mg/g": "mg/g",
    "10*9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "x10^9/l": "10*9/L",
    "x10*9/l": "10*9/L",
    "x10e9/l": "10*9/L",
    "10e9/l": "10*9/L",
    "gi/l": "10*9/L",
    "/nl": "10*9/L",
    "10*3/ul": "10*3/uL",
    "10^3/ul": "10*3/uL",
    "x10^3/ul": "10*3/uL",
    "k/ul": "10*3/uL",
    "/ul": "/uL",
    "%": "%",
    "l/l": "L/L",
    "fl": "fL",
    "pg": "pg",
    "u/l": "U/L",
    "iu/l": "U/L",
    "[iu]/l": "U/L",
    "ukat/l": "ukat/L",
    "miu/l": "m[IU]/L",
    "m[iu]/l": "m[IU]/L",
    "uiu/ml": "m[IU]/L",
    "u[iu]/ml": "m[IU]/L",
    "s": "s",
    "sec": "s",
    "mm[hg]": "mm[Hg]",
    "mmhg": "mm[Hg]",
    "kpa": "kPa",
    "/min": "/min",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "cel": "Cel",
    "°c": "Cel",
    "degc": "Cel",
    "[degf]": "[degF]",
    "°f": "[degF]",
    "degf": "[degF]",
    "kg": "kg",
    "g": "g",
    "[lb_av]": "[lb_av]",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "cm": "cm",
    "mm": "mm",
    "/h": "/h",
    "/hr": "/h",
    "/10.min": "/10.min",
    "/10min": "/10.min",
    "/20.min": "/20.min",
    "/20min": "/20.min",
    "wk": "wk",
    "wks": "wk",
    "week": "wk",
    "weeks": "wk",
    "d": "d",
    "day": "d",
    "days": "d",
    "1": "1",
    "ratio": "1",
    "score": "1",
}


@lru_cache(maxsize=4096)  # a pure function of two short strings, called per value read
@lru_cache(maxsize=2048)  # bounded (the strings come from requests); a chart repeats few units
def normalise_unit(code: str | None, unit: str | None = None) -> str | None:
    """The UCUM code for a Quantity's ``code`` (preferred) or its human ``unit``.

    Curly-brace annotations (``{beats}/min``, ``mg/mmol{creat}``, ``ug/mL{FEU}``) carry no
    dimension in UCUM and are dropped. ``None`` means "no usable unit".
    """
    for raw in (code, unit):
        if raw is None:
            continue
        text = _ANNOTATION.sub("", raw.strip()).replace("µ", "u").replace("μ", "u").strip()
        if text == "" and "{" in raw:
            text = "1"  # a bare annotation such as "{score}" is dimensionless
        if not text:
            continue
        found = _ALIASES.get(text.lower())
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Linear:
    """canonical = value * scale + offset (offset only for temperature and HbA1c)."""

    scale: float
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.scale + self.offset

    def from_canonical(self, value: float) -> float:
        return (value - self.offset) / self.scale


IDENTITY = Linear(1.0)
