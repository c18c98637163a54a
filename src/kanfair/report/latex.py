"""Paper-ready LaTeX: booktabs tables of a report's comparison and of its verdict.

Rendered by pandas' Styler (escaping, booktabs rules, caption and label), so that a table
goes into a paper as it is: `\\usepackage{booktabs}` is all it needs. The numbers are the
report's own (table.csv's best configuration per family, verdict.csv's tests), so a table
never disagrees with table.md or verdict.md.

Marks: the best family per data set in bold; in the verdict table a dagger on a family
that the verdict calls significantly worse than the best (Welch's t-test, Holm-corrected,
p < 0.05); no mark is a tie with the best.
"""
from __future__ import annotations

import math
from typing import Optional

import pandas as pd

from kanfair.report.evidence import LOG_SCALE_NOTE, MIN_UNITS
from kanfair.report.sections import section_title

TEXT_COLUMNS = ("budget", "data set", "model", "metric", "hidden", "settings")
DAGGER = r"$^\dagger$"
METRIC_NAMES = {"accuracy": "test accuracy (%)", "rmse": "test RMSE", "kanbefair_rmse": "test RMSE (KANbeFair's)"}
SHORT_METRIC_NAMES = {"accuracy": "acc. (%)", "rmse": "RMSE", "kanbefair_rmse": "RMSE (paper)"}


def _number(value: float, digits: int = 4) -> str:
    """`digits` significant digits, in math mode for exponents (1.5e-03 -> 1.5\\times10^{-3})."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.{digits}g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"${mantissa}\\times10^{{{int(exponent)}}}$"


def _mean_std(mean: float, std: float, seeds: int) -> str:
    if seeds < 2 or std is None or pd.isna(std):
        return f"{_number(mean)} $\\pm$ n/a"  # one unit: no spread measured
    return f"{_number(mean)} $\\pm$ {_number(std, 2)}"  # as table.md and verdict.md


def _caption_text(text: str) -> str:
    """A caption's own words, escaped (Styler escapes cells, not captions)."""
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                          ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                          ("^", r"\textasciicircum{}")):
        text = text.replace(char, escaped)
    return text


def _render(table: pd.DataFrame, bold: pd.Series, caption: str, label: str, column_format: str) -> str:
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    styles.loc[bold.to_numpy(), "mean ± std"] = "textbf:--rwrap;"
    text_columns = [c for c in TEXT_COLUMNS if c in table]
    styler = (table.style.hide(axis="index").format(escape="latex", subset=text_columns)
              .apply(lambda _: styles, axis=None))
    latex = styler.to_latex(hrules=True, caption=caption, label=label, position_float="centering",
                            column_format=column_format)
    return latex.replace("mean ± std", r"mean $\pm$ std").replace("\\centering\n", "\\centering\n\\small\n", 1)


def comparison_table(best: pd.DataFrame, budget: Optional[str] = None, label: str = "tab:kanfair-comparison") -> str:
    """The comparison at one budget (report.best_per_family's rows there: each family's best
    configuration per data set) as a booktabs table: mean ± std over seeds, the best family
    in bold; FLOPs name their convention in each cell where the rows hold several."""
    metrics = best.metric.unique()
    conventions = sorted(set(best.flops_convention.dropna()))
    table = pd.DataFrame({
        "data set": best.dataset, "model": best.model,
        **({"metric": best.metric.map(SHORT_METRIC_NAMES).fillna(best.metric)} if len(metrics) > 1 else {}),
        "mean ± std": [_mean_std(r.mean, r.std, r.seeds) for r in best.itertuples()],
        **({"seeds": best.seeds.astype(int)} if best.seeds.nunique() > 1 else {}),
        "hidden": best.hidden.astype(str), "settings": best.settings.fillna(""),
        "params": [f"{int(p):,}" for p in best.params],
        "FLOPs": ["" if pd.isna(f) else f"{f:,.0f}" + (f" ({c})" if len(conventions) > 1 else "")
                  for f, c in zip(best.flops, best.flops_convention)]})
    what = METRIC_NAMES.get(metrics[0], f"test {metrics[0]}") if len(metrics) == 1 else "test metric (the row's)"
    seeds = f"{int(best.seeds.iloc[0])} seeds" if best.seeds.nunique() == 1 else "seeds"
    caption = (f"{_caption_text(what[0].upper() + what[1:])}, mean $\\pm$ std over {seeds}, of each family's best "
               f"configuration; best family per data set in bold. "
               + f"{_caption_text(section_title(budget or 'none'))}. "
               + (f"FLOPs per sample, {_caption_text(conventions[0])} convention." if len(conventions) == 1 else
                  "FLOPs per sample, each in the convention it names." if conventions else ""))
    formats = {"mean ± std": "r", "seeds": "r", "params": "r", "FLOPs": "r"}
    latex = _render(table, best.best.astype(bool), caption, label, "".join(formats.get(c, "l") for c in table))
    return latex.replace("\\small\n", "\\footnotesize\n", 1)  # nine columns: a paper's column width


def verdict_table(verdict: pd.DataFrame, label: str = "tab:kanfair-verdict") -> str:
    """The verdict (verdict.csv's rows: each family against the best, per budget and data
    set) as a booktabs table: mean ± std, 95% CI, n, Welch's Holm-corrected p, P(best beats
    it); the best in bold, a dagger where the verdict says significantly worse."""
    worse = verdict.verdict == "significantly worse"
    budgets = list(dict.fromkeys(verdict.budget))
    table = pd.DataFrame({
        **({"budget": verdict.budget} if len(budgets) > 1 else {}), "data set": verdict.dataset,
        "model": verdict.model,
        "mean ± std": [_mean_std(r.mean, r.std, r.n) + (DAGGER if w else "")
                       for r, w in zip(verdict.itertuples(), worse)],
        "95\\% CI": [f"[{_number(r.ci_low, 3)}, {_number(r.ci_high, 3)}]" if not pd.isna(r.ci_low) else "n/a"
                     for r in verdict.itertuples()],
        "$n$": [f"{int(r.n)}" + (f" ({int(r.runs)})" if r.unit == "repeat" else "") for r in verdict.itertuples()],
        "Welch $p$ (Holm)": [_number(p) for p in verdict.welch_p],
        "$P$(best $>$)": ["" if pd.isna(r.p_best_beats) else
                          f"{r.p_best_beats:.2f} [{r.p_best_beats_low:.2f}, {r.p_best_beats_high:.2f}]"
                          for r in verdict.itertuples()]})
    repeated = (verdict.unit == "repeat").any()
    caption = ("Each family against the best per data set and budget: mean $\\pm$ std over "
               + ("repeats of the tuning study (each its mean over seeds; $n$: repeats, in brackets runs)"
                  if repeated else "seeds ($n$)")
               + ", 95\\% confidence interval (Student's $t$), Welch's $t$-test against the best, "
               "Holm-corrected, and the chance that a run of the best beats a run of the family with its "
               "95\\% bootstrap interval. Bold: the best; $^\\dagger$: significantly worse than the best "
               f"($p < 0.05$); unmarked: a tie with the best (no $p$: not tested, fewer than {MIN_UNITS} per side). "
               + _caption_text(LOG_SCALE_NOTE)
               + (f" Budget: {_caption_text(budgets[0])}." if len(budgets) == 1 else ""))
    return _render(table, verdict.verdict == "best", caption, label, "l" * (len(table.columns) - 3) + "rrr")


def document(*tables: str) -> str:
    """A minimal standalone document around the tables (what the tests compile)."""
    return ("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
            + "\n".join(tables) + "\\end{document}\n")
