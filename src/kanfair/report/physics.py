"""The report of physics-informed runs (protocol "physics"): pde.md and the error curves.

A PDE comparison is read per budget: the relative L2 error with its spread over seeds, the
squared L2 and H1 errors beside it, how many seeds diverged (a non-finite loss: the
anchors report KANs diverging for some seeds), what a step costs, and how the error falls
with steps and with time (each scored step of each record's history).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from kanfair.budget import label as budget_label
from kanfair.report.axes import readable_scale
from kanfair.report.evidence import spread
from kanfair.report.sections import file_tag, section_title


def physics_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per physics-informed record: its budget, family, status and errors."""
    rows = []
    for record in records:
        if record.get("protocol") != "physics":
            continue
        errors = record.get("test_metrics") or {}
        steps = record.get("epochs_run") or 0
        rows.append({"dataset": record["dataset"], "budget": budget_label(record.get("budget")),
                     "model": record["model"], "seed": record["seed"], "status": record["status"],
                     "hidden": "_".join(map(str, record["hidden"])), "params": record["params"],
                     "l2re": errors.get("l2re"), "mse": errors.get("mse"), "h1_sq": errors.get("h1_sq"),
                     "best_step": record.get("best_epoch"), "steps": record.get("epochs"),
                     "step_s": record["train_time_s"] / steps if steps else None})
    return pd.DataFrame(rows)


def physics_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data set, budget and family: runs, diverged (and failed) counts, and over the ok
    runs L2RE mean and std, MSE and H1^2 means, the median selected step and s per step."""
    keys = ["dataset", "budget", "model"]
    grouped = frame.groupby(keys, sort=False)
    counts = grouped.agg(runs=("seed", "size"), diverged=("status", lambda s: int((s == "diverged").sum())),
                         failed=("status", lambda s: int((s == "failed").sum())),
                         hidden=("hidden", lambda s: " / ".join(dict.fromkeys(s))),
                         params=("params", "median"))
    ok = frame[frame.status == "ok"].groupby(keys, sort=False).agg(
        l2re_mean=("l2re", "mean"), l2re_std=("l2re", "std"), mse=("mse", "mean"),
        h1_sq=("h1_sq", "mean"), best_step=("best_step", "median"), step_s=("step_s", "mean"))
    summary = counts.join(ok).reset_index()
    return summary.sort_values(["dataset", "budget", "l2re_mean"], kind="stable", na_position="last")


def physics_markdown(summary: pd.DataFrame) -> str:
    """pde.md: one table per data set and budget, best L2RE first."""
    lines = ["# Physics-informed runs", "",
             "L2RE: relative L2 error on the evaluation grid (mean ± std over the ok seeds); MSE and "
             "H1²: squared L2 and H1 errors (means). The reported step is the scored one of lowest "
             "physics loss; diverged: a non-finite loss. s/step: training seconds per step.", ""]
    for (dataset, budget), group in summary.groupby(["dataset", "budget"], sort=True):
        lines += [f"## {dataset}, {section_title(budget).lower()}", "",
                  "| model | hidden | params | L2RE | MSE | H1² | diverged | step (median) | s/step |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in group.itertuples():
            ok = row.runs - row.diverged - row.failed
            l2re = "n/a" if ok == 0 else spread(row.l2re_mean, row.l2re_std, ok, digits=3)
            mse, h1 = ("n/a", "n/a") if ok == 0 else (f"{row.mse:.3g}", f"{row.h1_sq:.3g}")
            failed = f", {row.failed} failed" if row.failed else ""
            step = "" if ok == 0 else f"{row.best_step:.0f}"
            step_s = "" if ok == 0 else f"{row.step_s:.3g}"
            lines.append(f"| {row.model} | {row.hidden} | {row.params:,.0f} | {l2re} | {mse} | {h1} | "
                         f"{row.diverged} of {row.runs}{failed} | {step} | {step_s} |")
        lines.append("")
    return "\n".join(lines)


def curves_plot(records: list[dict[str, Any]], dataset: str, budget: str, path: Path) -> None:
    """L2RE against step and against training time: one thin line per seed, and each
    family's median over its seeds at each scored step (log y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    chosen = [r for r in records if r.get("protocol") == "physics" and r["dataset"] == dataset
              and budget_label(r.get("budget")) == budget and r.get("history")]
    times = [pd.Series(dtype=float)]
    for index, model in enumerate(sorted({r["model"] for r in chosen})):
        color = f"C{index % 10}"
        curves = [pd.DataFrame(r["history"]) for r in chosen if r["model"] == model]
        for curve in curves:
            by_step.plot(curve.epoch, curve.test_l2re, color=color, alpha=0.25, linewidth=0.8)
            by_time.plot(curve.train_time_s, curve.test_l2re, color=color, alpha=0.25, linewidth=0.8)
        times += [curve.train_time_s for curve in curves]
        median = pd.concat(curves).groupby("epoch")[["test_l2re", "train_time_s"]].median()
        by_step.plot(median.index, median.test_l2re, color=color, linewidth=1.8, label=model)
        by_time.plot(median.train_time_s, median.test_l2re, color=color, linewidth=1.8)
    by_step.set(xlabel="step", ylabel="L2RE (evaluation grid), lower is better", yscale="log",
                title=f"{dataset}, {section_title(budget).lower()}")
    by_time.set(xlabel="training time (s)", title="the same runs against time")
    readable_scale(by_time, "x", pd.concat(times), log=True)
    by_step.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_physics(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """pde.md, pde.csv and curves_<dataset>_<budget>.png (e.g. curves_pde_poisson2d_300_params.png);
    returns the files written."""
    summary = physics_summary(physics_frame(records))
    written = [out / "pde.md", out / "pde.csv"]
    written[0].write_text(physics_markdown(summary))
    summary.to_csv(written[1], index=False)
    for (dataset, budget), _ in summary.groupby(["dataset", "budget"], sort=True):
        written.append(out / f"curves_{dataset}_{file_tag(budget)}.png")
        curves_plot(records, dataset, budget, written[-1])
    return written
