"""Comparison reports from run records: tables and plots, one section per budget.

A configuration is a record's resolved config without its seed (and without where the
results go); its seeds are aggregated as mean ± std of `test_metric`. The table shows,
per budget and dataset and model family, the family's best configuration; table.csv lists
every configuration. Budgets are never pooled (kanfair.report.sections): runs matched to
2,000 parameters, to 10,000, and runs sized by hand each get their own section. At one
matched budget a plot shows each family's runs seed by seed; where sizes vary (runs
without a budget, or several budgets) the Pareto plots show each configuration's mean
against its cost and each family's frontier: the best mean reached at or below each cost,
as the paper's envelopes, one plot per FLOP convention. Continual-learning runs also get continual.md: accuracy and backward
transfer (forgetting) per configuration and family; physics-informed runs get pde.md and
error curves (kanfair.report.physics).
Runs that did not end ok are counted and listed, never dropped silently.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import pandas as pd

from kanfair.budget import label as budget_label
from kanfair.data.fingerprint import hashed_part
from kanfair.report.metrics import HIGHER_IS_BETTER, is_error
from kanfair.models import FAMILIES, REFERENCES, boosting, model_spec
from kanfair.results import Store, config_hash, read_store
from kanfair.report.axes import readable_scale
from kanfair.report.evidence import spread
from kanfair.report.latex import comparison_table as latex_comparison, document, verdict_table
from kanfair.report.physics import write_physics
from kanfair.report.scaling import write_scaling
from kanfair.report.kan_paper import write_kan_paper
from kanfair.report.sections import NONE, file_tag, ordered, section_title
from kanfair.report.verdict import chosen_runs, optimism_lines, verdict_frame, write_verdict

COST_COLUMNS = {"params": "params", "flops": "flops", "time": "time_per_epoch_s"}
PAPER_NAMES = {"kan": "KAN", "mlp": "MLP"}
STUDY = ["budget", "dataset", "model"]  # what a tuned family's finals belong to


def configuration_key(config: dict, data: Optional[dict] = None) -> str:
    """A config's identity without its seed: the run hash (which leaves out what cannot
    change a run) of everything else, with the data's fingerprint."""
    return config_hash({k: v for k, v in config.items() if k != "seed"}, hashed_part(data or {}))


def _settings(spec: dict) -> str:
    """The family's own knobs in short (G5 K3, gelu ...); empty for a family or a spec that
    this version does not know (a record from another version)."""
    try:
        if spec["name"] in REFERENCES:
            return boosting.label(spec)
        return FAMILIES[spec["name"]].label(model_spec(spec))
    except (KeyError, TypeError, ValueError):
        return ""



def runs_frame(records: list[dict]) -> pd.DataFrame:
    """One row per record (a record as a dict), the columns the tables are cut from."""
    rows = []
    for record in records:
        config = record.get("config", {})
        model = config.get("model", {})
        trainer = config.get("trainer", {})
        rows.append({
            "run_id": record["run_id"], "status": record["status"], "message": record.get("message", ""),
            "dataset": record["dataset"], "model": record["model"], "metric": record["metric"],
            "protocol": record["protocol"], "seed": record["seed"],
            "hidden": "_".join(map(str, record["hidden"])),
            "in_dim": (record.get("widths") or [None])[0],
            "edges": sum(a * b for a, b in zip(record["widths"][:-1], record["widths"][1:]))
            if record.get("widths") else None,
            "settings": _settings(record.get("model_spec", {})),
            "grid_size": record.get("model_spec", {}).get("grid_size"),
            "spline_order": record.get("model_spec", {}).get("spline_order"),
            "shortcut": record.get("model_spec", {}).get("shortcut"),
            "activation": record.get("model_spec", {}).get("activation"),
            "grid_range": "_".join(f"{float(v):.1f}" for v in model.get("grid_range", [])) or None,
            "lr": trainer.get("lr"), "epochs": record["epochs"], "n_train": record.get("n_train"),
            "test_metric": record["test_metric"], "val_metric": record.get("val_metric"),
            "params": record["params"], "budget": budget_label(record.get("budget")),
            "reference": bool((record.get("budget") or {}).get("reference")
                              or "reference" in (record.get("extra") or {})),
            "phase": (config.get("tune") or {}).get("phase"),
            "repeat": config["tune"].get("repeat", 0) if config.get("tune") else None,
            "flops": record.get("flops"), "flops_convention": record.get("flops_convention"),
            "time_per_epoch_s": record.get("time_per_epoch_s"),
            "configuration": configuration_key(config, record.get("data")),
            "backward_transfer": ((record.get("extra") or {}).get("continual") or {}).get("backward_transfer"),
            "stages": ((record.get("extra") or {}).get("grid_extension") or {}).get("stages"),
        })
    return pd.DataFrame(rows)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_records(runs_dir: str | Path, store: Optional[Store] = None) -> pd.DataFrame:
    """One row per usable record file (of `store`, read from runs_dir when not given); each
    other file is named on stderr, skipped, and kept with its reason in the frame's
    attrs["not_used"] for table.md to count."""
    store = read_store(runs_dir) if store is None else store
    store.warn_each(_to_stderr)
    if not store.records:
        raise FileNotFoundError(f"no run records (*.json) in {runs_dir}"
                                + (f" that can be used ({len(store.not_used)} skipped, named above)"
                                   if store.not_used else ""))
    runs = runs_frame(store.records)
    runs.attrs["not_used"] = [(str(path), why) for path, why in store.not_used]
    return runs


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of each configuration's ok runs."""
    ok = runs[runs.status == "ok"]
    keys = ["dataset", "model", "configuration"]
    first = ok.groupby(keys, sort=False).first()
    stats = ok.groupby(keys, sort=False)["test_metric"].agg(["mean", "std", "count"])
    columns = ["metric", "protocol", "budget", "hidden", "settings", "grid_size", "spline_order", "shortcut", "activation",
               "grid_range", "lr", "epochs", "params", "flops", "flops_convention", "reference"]
    summary = first[columns].join(stats).join(
        ok.groupby(keys, sort=False)["time_per_epoch_s"].mean())
    return summary.rename(columns={"count": "seeds"}).reset_index()


def tuned_finals(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs a table may pick from: where a tuning run re-ran a family's chosen
    configuration over seeds (phase final), those alone, not its trials (picking the best
    trial by its test metric would be selection on the test set); per budget, so that a
    study at one budget hides no run at another."""
    final = runs.phase == "final"
    tuned = runs[final].groupby(STUDY).size().index
    key = pd.MultiIndex.from_frame(runs[STUDY])
    return runs[final | ~key.isin(tuned)]


def best_per_family(summary: pd.DataFrame) -> pd.DataFrame:
    """Each family's best configuration per budget and dataset; `best` marks the best family
    there (a family at 2,000 parameters never competes with one at 10,000)."""
    chosen = []
    for _, group in summary.groupby(["budget", "dataset"], sort=True):
        higher = HIGHER_IS_BETTER.get(group.metric.iloc[0], True)
        order = group.sort_values("mean", ascending=not higher)
        families = order.drop_duplicates("model")
        families = families.assign(best=[True] + [False] * (len(families) - 1))
        chosen.append(families)
    return pd.concat(chosen).reset_index(drop=True)


PAPER_DATASETS = {"wine": "wine_quality"}  # the paper's "Wine" is UCI 186


def _published_key(dataset: str, model: str, hidden: str, lr: float, epochs: int, grid_size,
                   spline_order, shortcut, grid_range, activation) -> tuple:
    """What identifies a configuration across kanfair and the paper's table."""
    if model == "KAN":
        return (dataset, model, hidden, float(lr), int(epochs), int(grid_size), int(spline_order),
                shortcut, grid_range)
    return (dataset, model, hidden, float(lr), int(epochs), activation)


PUBLISHED_COLUMNS = ("dataset", "model", "hidden", "lr", "epochs", "grid_size", "spline_order",
                     "shortcut", "grid_range", "activation", "test_metric")


SHIPPED = {"kanbefair": "published/kanbefair_results.csv.xz"}  # data/published/PROVENANCE.md


def published_path(published: str | Path) -> Path:
    """A results table's path: a shipped table by name (`kanbefair`), else the path given."""
    if str(published) in SHIPPED:
        from importlib import resources
        return Path(str(resources.files("kanfair.data").joinpath(SHIPPED[str(published)])))
    return Path(published)


def attach_published(summary: pd.DataFrame, published_csv: str | Path) -> pd.DataFrame:
    """Add `paper`: the mean test metric the paper published for the same configuration
    (dataset, model, hidden, G, K, shortcut, range, lr, epochs), from a table in
    KANbeFair's results format (`kanbefair`: the paper's own, shipped with kanfair)."""
    published_csv = published_path(published_csv)
    try:
        paper = pd.read_csv(published_csv, dtype={"hidden": str})
    except (OSError, ValueError) as error:
        raise ValueError(f"--published {published_csv}: not a readable CSV ({error})") from error
    missing = sorted(set(PUBLISHED_COLUMNS) - set(paper.columns))
    if missing:
        raise ValueError(f"--published {published_csv} is not KANbeFair's results table: it has no "
                         f"column(s) {', '.join(missing)} (see `--published kanbefair`, the paper's own)")
    names = paper.dataset.str.lower().str.replace("-", "_")
    paper["key"] = [
        _published_key(PAPER_DATASETS.get(n, n), r.model, r.hidden, r.lr, r.epochs, r.grid_size,
                       r.spline_order, r.shortcut, r.grid_range, r.activation)
        for n, r in zip(names, paper.itertuples())]
    published = paper.groupby("key")["test_metric"].mean().to_dict()
    keys = [_published_key(r.dataset, PAPER_NAMES.get(r.model, r.model), r.hidden, r.lr, r.epochs,
                           r.grid_size, r.spline_order, r.shortcut, r.grid_range, r.activation)
            if r.model in PAPER_NAMES else None for r in summary.itertuples()]
    return summary.assign(paper=[published.get(k) for k in keys])


def published_agreement(summary: pd.DataFrame) -> str:
    """Markdown: per dataset and family, how kanfair's values compare with the paper's over
    the configurations both ran (the paper's single best-of-grid numbers hide this)."""
    both = summary.dropna(subset=["paper", "mean"])
    lines = ["## Against the published values", "",
             "Over the configurations both ran: kanfair's mean over seeds minus (and divided by) "
             "the paper's mean; best: each side's best over those configurations.", "",
             "| dataset | model | configurations | median difference | range of differences "
             "| median ratio | kanfair best | paper best |", "|---|---|---|---|---|---|---|---|"]
    for (dataset, model), group in both.groupby(["dataset", "model"], sort=True):
        higher = HIGHER_IS_BETTER.get(group.metric.iloc[0], True)
        pick = max if higher else min
        diff = group["mean"] - group["paper"]
        ratio = (group["mean"] / group["paper"]).median()
        lines.append(f"| {dataset} | {model} | {len(group)} | {diff.median():+.4g} | "
                     f"[{diff.min():+.4g}, {diff.max():+.4g}] | {ratio:.3g} | "
                     f"{pick(group['mean']):.4g} | {pick(group['paper']):.4g} |")
    if both.empty:
        lines.append("| (no configuration in common) | | | | | | | |")
    return "\n".join(lines) + "\n"


def _section_table(best: pd.DataFrame) -> list[str]:
    lines = ["| dataset | model | test metric (mean ± std) | seeds | hidden | settings | params | FLOPs | time/epoch (s) |"
             + (" paper |" if "paper" in best else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if "paper" in best else "")]
    for row in best.itertuples():
        value = spread(row.mean, row.std, row.seeds)
        value = f"**{value}**" if row.best else value
        flops = "" if pd.isna(row.flops) or row.reference else f"{row.flops:,.0f} ({row.flops_convention})"
        model, params = ((f"{row.model} (reference)", f"{row.params:,} tree nodes") if row.reference
                         else (row.model, f"{row.params:,}"))
        line = (f"| {row.dataset} | {model} | {row.metric} {value} | {row.seeds} | {row.hidden} | "
                f"{row.settings} | {params} | {flops} | {row.time_per_epoch_s:.3g} |")
        if "paper" in best:
            line += " " + ("" if row.paper is None or pd.isna(row.paper) else f"{row.paper:.4g}") + " |"
        lines.append(line)
    return lines


def markdown_table(best: pd.DataFrame, runs: pd.DataFrame, source: str = "") -> str:
    """table.md: a section per budget (table rows of different budgets never compete),
    then the notes and the runs that did not end ok."""
    ok = runs[runs.status == "ok"]
    counts = ", ".join(f"{(ok.budget == b).sum()} at {b}" if b != NONE else f"{(ok.budget == b).sum()} without a budget"
                       for b in ordered(runs.budget))
    lines = [f"{len(runs)} run records{' from ' + source if source else ''}; the ok ones: {counts}.", ""]
    for budget in ordered(best.budget):
        lines += [f"## {section_title(budget)}", "", *_section_table(best[best.budget == budget]), ""]
    lines.append("Bold: the best family on the dataset at that budget. Each row is the family's best configuration "
                 "(table.csv has them all); a family tuned in several repeats has one row over all its "
                 "repeats' final runs, their configurations joined by /."
                 + (" A reference line (gradient boosting) is not sized to the budget: its size is its "
                    "trees' nodes, and it has no FLOP count or Pareto point." if best.reference.any() else ""))
    optimism = optimism_lines(runs)
    if optimism:
        lines += ["", "Best-of-many under test-set selection:", *optimism]
    bad = runs[runs.status != "ok"]
    lines.append("")
    lines.append(f"Runs not ok: {len(bad)} of {len(runs)}.")
    for row in bad.itertuples():
        lines.append(f"- {row.run_id}: {row.status} ({row.message})")
    not_used = runs.attrs.get("not_used", [])
    if not_used:  # a hand-edited or damaged file: never dropped without a word
        lines.append(f"Files in the runs folder not used, left out of every number: {len(not_used)}.")
        lines += [f"- {Path(path).name}: {why}" for path, why in not_used]
    return "\n".join(lines) + "\n"


def comparison_table(runs_dir: str | Path) -> str:
    """The markdown table of every record in runs_dir (what a finished sweep prints)."""
    runs = load_records(runs_dir)
    return markdown_table(chosen_best(summarise(runs), runs), runs, str(runs_dir))


def continual_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Continual runs per configuration: mean over seeds of the average final accuracy
    (test_metric) and of the backward transfer (negative: forgetting)."""
    ok = runs[(runs.protocol == "continual") & (runs.status == "ok")]
    keys = ["dataset", "model", "configuration"]
    grouped = ok.groupby(keys, sort=False)
    summary = grouped[["hidden", "settings", "params"]].first().join(
        grouped.agg(accuracy=("test_metric", "mean"), backward_transfer=("backward_transfer", "mean"),
                    seeds=("seed", "nunique")))
    return summary.reset_index().sort_values(["dataset", "model", "params"], kind="stable")


def continual_markdown(runs: pd.DataFrame) -> str:
    """continual.md: every configuration's accuracy and backward transfer, each family's
    median and range over its configurations, and a Mann-Whitney U test per pair of
    families on the runs' backward transfer (does one family forget more?)."""
    from scipy.stats import mannwhitneyu

    summary = continual_summary(runs)
    lines = ["| dataset | model | hidden | settings | params | seeds | average accuracy | backward transfer |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.dataset} | {r.model} | {r.hidden} | {r.settings} | {r.params:,} | {r.seeds} | "
              f"{r.accuracy:.2f} | {r.backward_transfer:.2f} |" for r in summary.itertuples()]
    lines += ["", "Each family over its configurations (median [min, max] of the seed means):", "",
              "| dataset | model | configurations | average accuracy | backward transfer |",
              "|---|---|---|---|---|"]
    for (dataset, model), group in summary.groupby(["dataset", "model"], sort=True):
        spread = {c: f"{group[c].median():.2f} [{group[c].min():.2f}, {group[c].max():.2f}]"
                  for c in ("accuracy", "backward_transfer")}
        lines.append(f"| {dataset} | {model} | {len(group)} | {spread['accuracy']} | "
                     f"{spread['backward_transfer']} |")
    lines += ["", "Backward transfer, run by run (two-sided Mann-Whitney U):"]
    ok = runs[(runs.protocol == "continual") & (runs.status == "ok")]
    for dataset, group in ok.groupby("dataset", sort=True):
        by_family = {m: g.backward_transfer.to_numpy(float) for m, g in group.groupby("model", sort=True)}
        names = list(by_family)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                a, b = by_family[first], by_family[second]
                p = mannwhitneyu(a, b, alternative="two-sided").pvalue
                lines.append(f"- {dataset}: {first} median {pd.Series(a).median():.2f} ({len(a)} runs) vs "
                             f"{second} median {pd.Series(b).median():.2f} ({len(b)} runs), p = {p:.2g}")
    return "\n".join(lines) + "\n"


def frontier(costs: pd.Series, metrics: pd.Series, higher: bool) -> pd.DataFrame:
    """The best metric reached at or below each cost (the paper's envelope): columns
    cost and best, in order of cost."""
    order = costs.sort_values(kind="stable").index
    best = metrics[order].cummax() if higher else metrics[order].cummin()
    return pd.DataFrame({"cost": costs[order].to_numpy(), "best": best.to_numpy()})


def _metric_label(metric: str, higher: bool) -> str:
    return f"test {metric} ({'higher' if higher else 'lower'} is better)"


def pareto_plot(runs: pd.DataFrame, dataset: str, by: str, path: Path, title: str = "") -> None:
    """Each configuration's mean over seeds against its cost (its runs faint behind it) and
    each family's frontier over those means; `runs` holds one FLOP convention where
    by=flops (the axis names it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    column = COST_COLUMNS[by]
    data = runs[(runs.dataset == dataset) & (runs.status == "ok") & ~runs.reference].dropna(
        subset=[column, "test_metric"])  # a reference line has no comparable cost
    higher = HIGHER_IS_BETTER.get(data.metric.iloc[0], True) if len(data) else True
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for model, group in data.groupby("model"):
        means = group.groupby("configuration").agg(cost=(column, "mean"), value=("test_metric", "mean"))
        points = axes.scatter(means.cost, means.value, s=18, label=model)
        color = points.get_facecolor()[0]
        axes.scatter(group[column], group.test_metric, s=6, alpha=0.25, color=color)
        envelope = frontier(means.cost, means.value, higher)
        axes.step(envelope.cost, envelope.best, where="post", color=color, alpha=1.0)
    readable_scale(axes, "x", data[column])
    if not higher:  # errors: a KAN's 1e-4 and an MLP's 1e-2 must both be readable
        axes.set_yscale("log")
    convention = data.flops_convention.iloc[0] if by == "flops" and len(data) else ""
    axes.set_xlabel({"params": "parameters", "flops": f"FLOPs per sample ({convention} convention)",
                     "time": "training time per epoch (s)"}[by])
    axes.set_ylabel(_metric_label(data.metric.iloc[0] if len(data) else "metric", higher))
    axes.set_title(f"{dataset}{', ' + title if title else ''}\neach configuration (mean over seeds; runs faint) "
                   "and each family's frontier", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


REPEAT_MARKERS = "os^Dv<>pP*"


def seeds_plot(runs: pd.DataFrame, dataset: str, budget: str, path: Path) -> None:
    """At one matched budget: each family's chosen runs seed by seed (a marker per tuning
    repeat), its mean as a bar, families best first, the direction of better on the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = runs[(runs.dataset == dataset) & (runs.budget == budget)]
    metric = data.metric.iloc[0]
    higher = HIGHER_IS_BETTER.get(metric, True)
    means = data.groupby("model").test_metric.mean().sort_values(ascending=not higher)
    figure, axes = plt.subplots(figsize=(max(3.6, 1.2 + 0.9 * len(means)), 4.2))
    repeat_of = data.repeat.fillna(0).astype(int)
    repeats = sorted(repeat_of.unique())
    for index, model in enumerate(means.index):
        for repeat in repeats:
            chosen = data[(data.model == model) & (repeat_of == repeat)]
            jitter = np.linspace(-0.15, 0.15, len(chosen)) if len(chosen) > 1 else np.zeros(len(chosen))
            axes.scatter(index + jitter, chosen.test_metric, s=22, color=f"C{index % 10}",
                         marker=REPEAT_MARKERS[repeat % len(REPEAT_MARKERS)],
                         label=f"repeat {repeat}" if index == 0 and len(repeats) > 1 else None)
        axes.hlines(means[model], index - 0.3, index + 0.3, color="black", linewidth=1.5)
    reference = set(data.model[data.reference]) if "reference" in data else set()
    labels = [f"{m}{' (reference)' * (m in reference)}\n(n={int((data.model == m).sum())})" for m in means.index]
    axes.set_xticks(range(len(means)), labels, fontsize=8)
    readable_scale(axes, "y", data.test_metric)
    axes.set_ylabel(_metric_label(metric, higher))
    axes.set_title(f"{dataset}, {section_title(budget).lower()}\nevery run; bar: the mean", fontsize=9)
    if len(repeats) > 1:
        axes.legend(fontsize=7, title="tuning repeat", title_fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_plots(runs: pd.DataFrame, chosen: pd.DataFrame, out: Path, by: str) -> list[Path]:
    """Per dataset (a folder each when there are several): seeds_<budget>.png for each
    matched budget (its chosen runs); pareto_<axis>.png over the runs without a budget;
    pareto_<axis>_matched.png where a dataset has runs at several matched budgets; a FLOPs
    plot per convention when the runs hold several (pareto_flops_<convention>.png)."""
    written = []
    datasets = sorted(runs.dataset.unique())
    for dataset in datasets:
        folder = out if len(datasets) == 1 else out / dataset
        folder.mkdir(parents=True, exist_ok=True)
        here = runs[runs.dataset == dataset]
        matched = [b for b in ordered(here.budget) if b != NONE]
        for budget in matched:
            if ((chosen.dataset == dataset) & (chosen.budget == budget)).any():
                written.append(folder / f"seeds_{file_tag(budget)}.png")
                seeds_plot(chosen, dataset, budget, written[-1])
        cuts = [("", here[here.budget == NONE], "no matched budget")]
        if len(matched) > 1:
            cuts.append(("_matched", here[here.budget != NONE], f"matched budgets {', '.join(matched)}"))
        for suffix, cut, title in cuts:
            if not (cut.status == "ok").any():
                continue
            for axis in dict.fromkeys(["params", "flops", by]):
                conventions = sorted(cut.flops_convention.dropna().unique()) if axis == "flops" else [""]
                for convention in conventions or [""]:
                    part = cut[cut.flops_convention == convention] if convention else cut
                    tag = f"_{convention}" if len(conventions) > 1 else ""
                    written.append(folder / f"pareto_{axis}{suffix}{tag}.png")
                    pareto_plot(part, dataset, axis, written[-1], title)
    return written


def _pooled_repeats(summary: pd.DataFrame, finals: pd.DataFrame) -> pd.DataFrame:
    """One row per family whose finals come from several tuning repeats: its mean ± std
    over all of them and its configurations joined by " / " (picking the repeat with the
    best test mean would be selection on the test set)."""
    rows = []
    for _, group in finals.groupby(STUDY, sort=False):
        per_repeat = group.sort_values(["repeat", "seed"]).drop_duplicates("repeat")
        first = summary[summary.configuration == per_repeat.configuration.iloc[0]].iloc[0].copy()
        ok = group[group.status == "ok"].test_metric
        first[["mean", "std", "seeds"]] = ok.mean(), ok.std(), len(ok)
        first[["hidden", "settings"]] = [" / ".join(per_repeat[c].astype(str)) for c in ("hidden", "settings")]
        first[["params", "flops", "time_per_epoch_s"]] = [int(round(group.params.mean())), group.flops.mean(),
                                                          group.time_per_epoch_s.mean()]
        first["configuration"] = f"{len(per_repeat)} repeats"
        rows.append(first)
    return pd.DataFrame(rows)


def chosen_best(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of table.md: each family's best configuration per data set among those a
    table may pick from (a tuning run's finals; pooled where it was repeated), `best`
    marking the data set's best."""
    finals = tuned_finals(runs)
    chosen = summary[summary.configuration.isin(finals.configuration)]
    repeats = finals[finals.phase == "final"].groupby(STUDY).repeat.nunique()
    repeated = repeats[repeats > 1].index
    if len(repeated):
        in_repeated = pd.MultiIndex.from_frame(finals[STUDY]).isin(repeated)
        chosen_in = pd.MultiIndex.from_frame(chosen[STUDY]).isin(repeated)
        chosen = pd.concat([chosen[~chosen_in], _pooled_repeats(summary, finals[in_repeated])], ignore_index=True)
    return best_per_family(chosen) if len(chosen) else chosen.assign(best=[])


def latex_tables(runs: pd.DataFrame) -> str:
    """tables.tex: per budget, the comparison and the verdict as booktabs tables in a
    standalone document (copy the table environments into a paper)."""
    best, verdict = chosen_best(summarise(runs), runs), verdict_frame(runs)
    budgets, parts = ordered(best.budget), []
    for budget in budgets:
        tag = "-" + file_tag(budget).replace("_", "-") if len(budgets) > 1 else ""
        parts.append(latex_comparison(best[best.budget == budget].reset_index(drop=True), budget,
                                      f"tab:kanfair-comparison{tag}"))
        at_budget = verdict[verdict.budget == budget].reset_index(drop=True)
        if len(at_budget):
            parts.append(verdict_table(at_budget, f"tab:kanfair-verdict{tag}"))
    return document(*parts)


def check_report_kinds(runs: pd.DataFrame, scaling: bool, kan_paper: bool) -> None:
    """Refuse, before anything is written, a report kind these runs cannot mean: --scaling
    fits an error against size (an accuracy falls as N^-alpha nowhere), --kan-paper reads
    the KAN paper's tasks."""
    if scaling and not runs.metric.map(is_error).any():
        raise ValueError(f"--scaling fits test RMSE ~ N^-alpha, and these runs' metric is "
                         f"{', '.join(sorted(runs.metric.unique()))}, not an error; give it runs of a "
                         "regression or symbolic task, or leave --scaling out")
    if kan_paper and not runs.dataset.str.startswith(("kan_toy_", "feynman_")).any():
        raise ValueError("--kan-paper reads the KAN paper's tasks (kan_toy_*, feynman_*), and these runs have "
                         "none; run experiment=kan_paper first, or leave --kan-paper out")


def write_report(runs_dir: str | Path, out_dir: str | Path, by: str = "params",
                 group: str = "model", published: Optional[str | Path] = None,
                 verdict: bool = False, latex: bool = False, scaling: bool = False,
                 kan_paper: bool = False) -> list[Path]:
    """table.md, table.csv and per-dataset Pareto plots; continual.md when there are
    continual runs, pde.md and error curves when there are physics-informed runs; with
    `verdict`, verdict.md and verdict.csv with its statistical tests; with `latex`,
    tables.tex; with `scaling`, scaling.md and its plots; with `kan_paper`, kan_paper.md (the
    KAN paper's claims: kanfair.report.kan_paper). Returns the files written.
    `group` splits the model families further by a record column (e.g. shortcut)."""
    store = read_store(runs_dir)  # read once: the physics and KAN-paper pages take its records whole
    runs = load_records(runs_dir, store)
    check_report_kinds(runs, scaling, kan_paper)
    if group != "model":
        if group not in runs:
            raise ValueError(f"cannot group by '{group}'; choose one of {', '.join(runs.columns)}")
        runs = runs.assign(model=runs.model + ":" + runs[group].astype(str))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the report")
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(runs)
    if published is not None:
        summary = attach_published(summary, published)
    written = [out / "table.md", out / "table.csv"]
    written[0].write_text(markdown_table(chosen_best(summary, runs), runs, str(runs_dir))
                          + ("\n" + published_agreement(summary) if published is not None else ""))
    summary.to_csv(written[1], index=False)
    written += write_plots(runs, chosen_runs(runs), out, by)
    if (runs.protocol == "continual").any():
        written.append(out / "continual.md")
        written[-1].write_text(continual_markdown(runs))
    if (runs.protocol == "physics").any():
        written += write_physics(store.records, out)
    if verdict:
        written += write_verdict(runs, out)
    if latex:
        written.append(out / "tables.tex")
        written[-1].write_text(latex_tables(runs))
    if scaling:
        written += write_scaling(runs, out)
    if kan_paper:
        written += write_kan_paper(store.records, runs, out)
    return written
