"""Scaling laws: the exponent alpha of test RMSE ~ N^-alpha per family and task, fitted the
fair way (`kanfair-report --scaling`).

The KAN paper claims alpha = 4 for cubic-spline KANs while MLPs "plateau quickly", reading
its curves off the test set (a KAN's points are the stages of one grid-extension run, as
here: `stage_points`). Here N is the trainable parameter count (kanfair's
convention; the paper's "edges x G" sits beside it for the spline KAN), and the points
fitted are the family's frontier chosen on *validation* RMSE: a configuration is on it
when its mean validation RMSE over seeds is lower than that of every smaller one. alpha is
the negated least-squares slope of ln(mean test RMSE) on ln(N) over the frontier; its 95%
interval is a percentile bootstrap that resamples each configuration's seeds (the frontier
is chosen again in every resample). The frontier ends at the validation minimum: past it
(the paper's interpolation threshold, Fig 2.3: test error rises past G ≈ N_train / edges)
no point is fitted, and the threshold is found there, on validation, never on test. Beside
it stands the paper's rule: the frontier read off the test set (optimistic; it is what the
paper's curves show). Two families' alphas are compared by the bootstrap distribution of
their difference. A family with fewer than 3 seeds of some configuration
gets no interval and no comparison ("not tested", kanfair.report.evidence): resampling one
or two seeds measures nothing. Hand-written because no library fits a frontier chosen
on one split and scored on another; the statistics are numpy's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from kanfair.report.evidence import MIN_UNITS, not_tested_note
from kanfair.report.metrics import is_error

RESAMPLES = 2000
THEORY_ALPHA = 4.0  # cubic splines: the KAN paper's k + 1


def stage_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per grid-extension stage of a run (that stage's trainable parameters, its
    validation-selected val and test RMSE and its grid), as the KAN paper draws a KAN's
    curve from its stages; a run without stages stays one row."""
    if "stages" not in runs:
        return runs
    rows = []
    for run in runs.to_dict("records"):
        stages = run.get("stages")
        if not isinstance(stages, list) or not stages:
            rows.append(run)
            continue
        rows += [{**run, "params": stage["params"], "val_metric": stage["val_metric"],
                  "test_metric": stage["test_metric"], "grid_size": stage.get("grid_size", run.get("grid_size"))}
                 for stage in stages]
    return pd.DataFrame(rows)


def frontier(configurations: pd.DataFrame) -> pd.DataFrame:
    """The configurations (rows: params, val, test) whose validation RMSE beats every
    smaller configuration's, in order of params."""
    ordered = configurations.sort_values("params", kind="stable")
    best_before = ordered.val.cummin().shift(fill_value=np.inf)
    return ordered[ordered.val < best_before]


def fit_alpha(points: pd.DataFrame) -> float:
    """-slope of ln(test) on ln(params) (NaN with fewer than 2 points)."""
    if len(points) < 2:
        return float("nan")
    slope = np.polyfit(np.log(points.params.to_numpy(float)), np.log(points.test.to_numpy(float)), 1)[0]
    return float(-slope)


def _means(runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (its params): mean val and test RMSE, its edges, grid and training rows."""
    extra = {c: (c, "first") for c in ("edges", "grid_size", "n_train") if c in runs}
    return runs.groupby("params", sort=True).agg(val=("val_metric", "mean"), test=("test_metric", "mean"),
                                                 **extra).reset_index()


SPLINE_KANS = ("kan", "pykan")  # the families whose knob is the paper's grid G


def threshold(means: pd.DataFrame, model: str) -> dict:
    """The interpolation threshold found on validation (the configuration of lowest mean
    validation RMSE: its N and grid) and, for a spline KAN, the paper's prediction
    G ≈ N_train / edges (Sec 2.4: 1000 / 15 ≈ 67 for a [2,5,1] KAN)."""
    found = means.loc[means.val.idxmin()]
    known = model in SPLINE_KANS and {"n_train", "edges"} <= set(means) and pd.notna(found.n_train) and pd.notna(found.edges)
    predicted = float(found.n_train) / float(found.edges) if known else float("nan")
    grid = found.grid_size if model in SPLINE_KANS and "grid_size" in means else float("nan")
    return {"threshold_params": int(found.params), "threshold_grid": grid, "predicted_grid": predicted}


def paper_count(points: pd.DataFrame, model: str) -> str:
    """The KAN paper's parameter count, edges x G, of a spline KAN's frontier ("" for the
    other families, or where the records have no widths)."""
    if model not in SPLINE_KANS or "edges" not in points or points.edges.isna().any():
        return ""
    return " ".join(str(int(e * g)) for e, g in zip(points.edges, points.grid_size))


def bootstrap_alphas(runs: pd.DataFrame, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """alpha refitted on `resamples` resamples of each configuration's runs (with
    replacement, as many as it has), the frontier chosen again each time: all resamples
    at once (per configuration its resampled means; per resample the frontier as a mask,
    and the masked least-squares slope)."""
    rng = np.random.default_rng(seed)
    groups = [g for _, g in runs.groupby("params", sort=True)]
    val, test = (np.stack([g[column].to_numpy(float)[rng.integers(0, len(g), (resamples, len(g)))].mean(1)
                           for g in groups], axis=1) for column in ("val_metric", "test_metric"))
    best_before = np.concatenate([np.full((resamples, 1), np.inf), np.minimum.accumulate(val, axis=1)[:, :-1]], 1)
    on = (val < best_before).astype(float)
    x = np.log(np.array([g.params.iloc[0] for g in groups], dtype=float))
    y = np.log(test)
    n, sx, sy = on.sum(1), on @ x, (on * y).sum(1)
    sxx, sxy = on @ x ** 2, (on * y * x).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n * sxy - sx * sy) / (n * sxx - sx ** 2)
    return np.where(n >= 2, -slope, np.nan)


def scaling_frame(runs: pd.DataFrame, resamples: int = RESAMPLES) -> tuple[pd.DataFrame, dict]:
    """Per task and family (ok runs with a validation RMSE, a grid-extension run's stages
    each a point): the frontier's points, alpha, its 95% interval, and the bootstrap
    replicates (for comparisons)."""
    runs = stage_points(runs)
    error = runs.metric.map(is_error)  # an accuracy has no N^-alpha
    ok = runs[(runs.status == "ok") & error & runs.val_metric.notna() & runs.test_metric.notna()]
    rows, replicates = [], {}
    for (dataset, model), group in ok.groupby(["dataset", "model"], sort=True):
        means = _means(group)
        points = frontier(means)
        seeds = int(group.groupby("params").size().min())
        low, high = np.nan, np.nan
        if seeds >= MIN_UNITS:
            draws = bootstrap_alphas(group, resamples)
            replicates[(dataset, model)] = draws
            finite = draws[np.isfinite(draws)]
            low, high = (np.percentile(finite, [2.5, 97.5]) if len(finite) else (np.nan, np.nan))
        rows.append({"dataset": dataset, "model": model, "seeds": seeds, "configurations": group.params.nunique(),
                     "frontier": len(points), "params": " ".join(str(int(p)) for p in points.params),
                     "paper_count": paper_count(points, model),
                     "alpha": fit_alpha(points), "alpha_low": float(low), "alpha_high": float(high),
                     "alpha_on_test": fit_alpha(frontier(means.assign(val=means.test))), **threshold(means, model)})
    return pd.DataFrame(rows), replicates


def compare_alphas(replicates: dict, dataset: str, first: str, second: str) -> Optional[tuple[float, float, str]]:
    """The 95% bootstrap interval of alpha(first) - alpha(second) on `dataset`, and what it
    says; None when either family is missing or was not tested (fewer than MIN_UNITS seeds)."""
    if (dataset, first) not in replicates or (dataset, second) not in replicates:
        return None
    difference = replicates[(dataset, first)] - replicates[(dataset, second)]
    difference = difference[np.isfinite(difference)]
    if not len(difference):
        return None
    low, high = np.percentile(difference, [2.5, 97.5])
    said = ("exceeds" if low > 0 else "is below" if high < 0 else "is not distinguishable from")
    return float(low), float(high), said


def scaling_markdown(table: pd.DataFrame, replicates: dict) -> str:
    lines = ["# Scaling exponents", "",
             "test RMSE ∝ N^-α, N = trainable parameters; α fitted on each family's frontier chosen on "
             "validation RMSE (a configuration is on it when it beats every smaller one), with a 95% "
             f"bootstrap interval over seeds ({RESAMPLES} resamples). The frontier ends at the validation "
             "minimum, the interpolation threshold found (N, and G for a spline KAN, beside the paper's "
             "prediction G ≈ N_train / edges); past it nothing is fitted. \"On test\" is the paper's rule: the "
             f"frontier read off the test set (optimistic). The KAN paper's theory: α = {THEORY_ALPHA:g} for "
             "cubic splines.", ""]
    for dataset, group in table.groupby("dataset", sort=True):
        lines += [f"## {dataset}", "", "| model | configurations | frontier (N) | the paper's edges × G | α | 95% CI "
                  "| α on test (the paper's rule) | validation minimum (threshold): N (G) | predicted G |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.model} | {r.configurations} | {r.params} | {r.paper_count} | {r.alpha:.3g} | "
                  + (f"n/a ({not_tested_note()} per configuration) |" if r.seeds < MIN_UNITS
                     else f"[{r.alpha_low:.3g}, {r.alpha_high:.3g}] |")
                  + f" {r.alpha_on_test:.3g} | {r.threshold_params:,}"
                  + ("" if pd.isna(r.threshold_grid) else f" (G {int(r.threshold_grid)})") + " | "
                  + ("" if pd.isna(r.predicted_grid) else f"{r.predicted_grid:.3g}") + " |" for r in group.itertuples()]
        for first, second, names in (("kan", "mlp", ("The KAN's", "the MLP's")),
                                     ("pykan", "kan", ("pykan's KAN's", "kanfair's KAN's"))):
            compared = compare_alphas(replicates, dataset, first, second)
            if compared:
                low, high, said = compared
                lines += ["", f"{names[0]} α {said} {names[1]} (α_{first} − α_{second} in [{low:.3g}, {high:.3g}], 95%)."]
            elif {first, second} <= set(group.model):
                lines += ["", f"{names[0]} α against {names[1]}: {not_tested_note()} per configuration."]
        lines.append("")
    return "\n".join(lines)


def scaling_plot(runs: pd.DataFrame, table: pd.DataFrame, dataset: str, path: Path) -> None:
    """Each family's configurations (mean test RMSE against N), its frontier joined, and
    the theory's lines through the best point: N^-4, and N^-4/d for d inputs (the paper's
    line for a function with no compositional structure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    runs = stage_points(runs)
    ok = runs[(runs.status == "ok") & (runs.dataset == dataset) & runs.val_metric.notna()]
    best = None
    for index, (model, group) in enumerate(ok.groupby("model", sort=True)):
        color = f"C{index % 10}"
        means, points = _means(group), frontier(_means(group))
        axes.scatter(means.params, means.test, s=12, alpha=0.4, color=color)
        alpha = table[(table.dataset == dataset) & (table.model == model)].alpha.iloc[0]
        axes.plot(points.params, points.test, "-o", color=color, markersize=3, label=f"{model} (α = {alpha:.2g})")
        low = points.test.min() if len(points) else np.inf
        if best is None or low < best[1]:
            best = (points.params[points.test.idxmin()], low)
    if best is not None:
        n = np.geomspace(ok.params.min(), ok.params.max(), 20)
        axes.plot(n, best[1] * (n / best[0]) ** -THEORY_ALPHA, "k--", linewidth=0.8, label="N^-4 (theory)")
        inputs = ok.in_dim.dropna() if "in_dim" in ok else pd.Series(dtype=float)
        if len(inputs) and inputs.iloc[0] > 1:
            d = int(inputs.iloc[0])
            axes.plot(n, best[1] * (n / best[0]) ** (-THEORY_ALPHA / d), "k:", linewidth=0.8,
                      label=f"N^-4/{d} (theory, {d} inputs)")
    axes.set(xscale="log", yscale="log", xlabel="trainable parameters N", ylabel="test RMSE (mean over seeds)",
             title=f"{dataset}: frontier chosen on validation")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_scaling(runs: pd.DataFrame, out: Path) -> list[Path]:
    """scaling.md, scaling.csv and scaling_<task>.png; returns the files written."""
    table, replicates = scaling_frame(runs)
    written = [out / "scaling.md", out / "scaling.csv"]
    written[0].write_text(scaling_markdown(table, replicates))
    table.to_csv(written[1], index=False)
    for dataset in sorted(table.dataset.unique()):
        written.append(out / f"scaling_{dataset}.png")
        scaling_plot(runs, table, dataset, written[-1])
    return written
