"""Small timing helpers shared by the benchmark parts."""

from __future__ import annotations

import statistics
from typing import Any


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of an unsorted sample (q in [0, 1])."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary_us(samples_ns: list[int]) -> dict[str, Any]:
    """Median, p90, min and count of nanosecond samples, in microseconds."""
    us = [s / 1000 for s in samples_ns]
    return {
        "median_us": statistics.median(us) if us else float("nan"),
        "p90_us": quantile(us, 0.90),
        "min_us": min(us) if us else float("nan"),
        "n": len(us),
    }
