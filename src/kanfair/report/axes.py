"""Axes a reader can read: one rule for every report's plots (tables, physics)."""
from __future__ import annotations

from typing import Optional

import pandas as pd


def readable_scale(axes, axis: str, values: pd.Series, log: Optional[bool] = None) -> None:
    """Log scale where the values span a decade or more (or where `log` says so), else
    linear; plain tick labels (2,000 and 30, not 2x10^3 and 3x10^1), the minor ones only on
    a log axis of under two decades, so that every range stays legible."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    values = values[values > 0]
    if log is None:
        log = len(values) > 0 and values.max() / values.min() >= 10
    getattr(axes, f"set_{axis}scale")("log" if log else "linear")
    target = axes.xaxis if axis == "x" else axes.yaxis
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")
    target.set_major_formatter(plain)
    narrow = log and len(values) > 0 and values.max() / values.min() < 100  # under two decades: label the minor ticks
    target.set_minor_formatter(plain if narrow else NullFormatter())
