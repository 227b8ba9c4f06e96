"""Urine dipstick results as grades (0, 0.5 = trace, 1-4 = "+" count).

Dipstick protein arrives as a coded answer, as text ("2+", "trace") or as a quantity in g/L
(clinical.md Appendix 1: "Map 2+ ≈ 1 g/L only for the NICE dipstick criterion").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# SNOMED CT qualifier values for dipstick answers (several public sources agree).
ANSWER_GRADES: Mapping[str, float] = MappingProxyType(
    {
        "260385009": 0.0,  # Negative
        "260405006": 0.5,  # Trace
        "260347006": 1.0,  # +
        "260348001": 2.0,  # ++
        "260349009": 3.0,  # +++
        "260350009": 4.0,  # ++++
    }
)

# NICE CG107 equivalence, highest first: 3+ ~3 g/L, 2+ ~1 g/L, 1+ ~0.3 g/L, trace ~0.15 g/L.
G_PER_L_BANDS: tuple[tuple[float, float], ...] = ((3.0, 3.0), (1.0, 2.0), (0.3, 1.0), (0.15, 0.5))


def grade_from_g_per_l(g_per_l: float) -> float:
    for threshold, grade in G_PER_L_BANDS:
        if g_per_l >= threshold:
            return grade
    return 0.0
