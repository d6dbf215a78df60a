"""JSON shaping, kept at the edge of every answer: arrays become lists of plain floats rounded
to what a page shows (a probability to 5 digits, a confidence to 4), and a value with no
number (NaN, an infinity) becomes null, which JSON can carry."""

from __future__ import annotations

import numpy as np


def rounded(values, digits: int = 5) -> list[float]:
    """Every value as a float rounded to ``digits``."""
    return [round(float(v), digits) for v in values]


def nullable(values, digits: int = 4) -> list[float | None]:
    """Every value (flattened) rounded, or None where it is not finite."""
    return [round(float(v), digits) if np.isfinite(v) else None for v in np.ravel(values)]
