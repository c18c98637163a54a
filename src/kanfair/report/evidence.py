"""How much a handful of numbers may claim, by one rule for every report.

verdict.md, tables.tex, scaling.md, pde.md and table.md all draw on this module, so that
each says "not tested" and "n/a" in the same cases:

- a comparison needs at least MIN_UNITS independent units (seeds, or repeats where the
  study was repeated) on each side; with fewer it is "not tested", whatever a p-value says
  (two seeds give Welch's test one degree of freedom: p < 0.05 from pure noise);
- an interval of a positive quantity (an error, a time) is computed on the log scale (a
  t-interval of the log values, exponentiated: the geometric mean's interval), so that it
  never reaches zero or below;
- an interval of a bounded metric (accuracy in %) is cut at its bounds;
- a spread from one unit is "n/a", never "± 0".
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import stats

MIN_UNITS = 3
LOG_SCALE_NOTE = ("Intervals of an error (RMSE, L2RE) are computed on the log scale (the geometric "
                  "mean's 95% interval), so that they stay above zero; those of an accuracy are cut at 0 and 100.")


def interval(values: np.ndarray, positive: bool,
             bounds: Optional[tuple[float, float]] = None) -> tuple[float, float]:
    """The 95% Student-t interval of the mean of `values` (of the geometric mean, on the
    log scale, when `positive`), cut at `bounds`; NaNs with fewer than MIN_UNITS values."""
    values = np.asarray(values, dtype=float)
    if len(values) < MIN_UNITS:
        return float("nan"), float("nan")
    if positive and (values > 0).all():
        low, high = interval(np.log(values), positive=False)
        return float(np.exp(low)), float(np.exp(high))
    if values.std() == 0:
        return float(values.mean()), float(values.mean())
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return float(low), float(high)


def spread(mean: float, std: float, units: int, digits: int = 4) -> str:
    """"mean ± std", or "mean ± n/a" from a single unit (no spread was measured)."""
    if units < 2 or std is None or np.isnan(std):
        return f"{mean:.{digits}g} ± n/a"
    return f"{mean:.{digits}g} ± {std:.2g}"


def not_tested_note(unit: str = "seeds") -> str:
    return f"not tested (fewer than {MIN_UNITS} {unit})"
