"""Verdicts: is one family's test metric better than another's, beyond seed noise?

Per data set and budget, each family's chosen configuration (the tuned one's final
seeds when a tuning run made them, else the configuration with the best mean validation
metric, or test metric under protocol=kanbefair) is described by its mean, std and 95%
confidence interval over seeds (Student's t), and compared with the best family by
Welch's t-test and the Mann-Whitney U test, each Holm-corrected over the comparisons. A
difference is called significant when Welch's Holm-corrected p < 0.05 (Mann-Whitney is
reported beside it: with 3 seeds it cannot go below p = 0.1); otherwise "tie". A side with
fewer than 3 units is "not tested" (kanfair.report.evidence), and an error's interval is
computed on the log scale. Across
data sets, families are ranked per data set, the average ranks tested with Friedman's
test and the Nemenyi post-hoc test, and drawn as a critical-difference diagram; and each
family is paired with the MLP (else the best-ranked family) data set by data set in a
Wilcoxon signed-rank test, Holm-corrected over the pairs (Demšar 2006, Benavoli et al.
2016: the test for two classifiers over many data sets). Each test says how many data
sets it needs before it can reject at all. All statistics come from scipy.stats,
statsmodels and scikit-posthocs.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from scipy import stats

from kanfair.report.evidence import LOG_SCALE_NOTE, MIN_UNITS, interval, not_tested_note, spread
from kanfair.report.metrics import HIGHER_IS_BETTER, RANGES
from kanfair.report.sections import file_tag, section_title, where_said

ALPHA = 0.05


def _holm(pvalues: list[float]) -> list[float]:
    from statsmodels.stats.multitest import multipletests

    return list(multipletests(pvalues, method="holm")[1]) if pvalues else []


def chosen_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The ok runs that stand for each (dataset, budget, model): a tuning run's final seeds,
    else the seeds of the configuration with the best mean selection metric."""
    ok = runs[(runs.status == "ok") & runs.test_metric.notna()]
    chosen = []
    for (_, _, _), group in ok.groupby(["dataset", "budget", "model"], sort=True):
        final = group[group.phase == "final"]
        if len(final):
            chosen.append(final)
            continue
        higher = HIGHER_IS_BETTER.get(group.metric.iloc[0], True)
        selection = group.val_metric.where(group.protocol == "val", group.test_metric)
        means = selection.groupby(group.configuration).mean()
        best = means.idxmax() if higher else means.idxmin()
        chosen.append(group[group.configuration == best])
    return pd.concat(chosen) if chosen else ok.iloc[:0]


def optimism_lines(runs: pd.DataFrame) -> list[str]:
    """Under test-set selection, the best of more configurations looks better by chance."""
    lines = []
    picked = runs[(runs.protocol == "kanbefair") & (runs.status == "ok")]
    for (budget, dataset), group in picked.groupby(["budget", "dataset"], sort=True):
        counts = group.groupby("model").configuration.nunique()
        if counts.nunique() > 1:
            listed = ", ".join(f"{model} {count}" for model, count in counts.items())
            where = dataset if budget == "none" else f"{dataset} at {budget}"
            lines.append(f"- {where}: the families had different numbers of configurations under "
                         f"test-set selection (protocol kanbefair: {listed}); the best of more "
                         f"configurations is optimistic.")
    return lines


def _by_repeat(sample: list[float], labels: list[int]) -> list[list[float]]:
    groups: dict[int, list[float]] = {}
    for label, value in zip(labels, sample):
        groups.setdefault(label, []).append(value)
    return [groups[label] for label in sorted(groups)]


def _units(runs: list[list[float]]) -> np.ndarray:
    """The unit of replication: each repeat's mean when the study was repeated (a repeat's
    seeds share its tuned configuration and validation split, so they are not independent
    draws of the tuning process), else each seed."""
    return np.array([np.mean(r) for r in runs]) if len(runs) > 1 else np.asarray(runs[0], dtype=float)


def _clusters(runs: list[list[float]]) -> list[np.ndarray]:
    """What a bootstrap resamples: whole repeats (with their seeds), else single seeds."""
    return [np.asarray(r, dtype=float) for r in runs] if len(runs) > 1 else [np.array([v]) for v in runs[0]]


def probability_of_beating(a: np.ndarray, b: np.ndarray, higher: bool) -> float:
    """P(A > B): the chance that a run of A beats a run of B, ties counted half (the
    common-language effect size, Bouthillier et al. 2021's comparison measure)."""
    difference = (a[:, None] - b[None, :]) * (1 if higher else -1)
    return float((difference > 0).mean() + 0.5 * (difference == 0).mean())


def bootstrap_probability(a: list[np.ndarray], b: list[np.ndarray], higher: bool) -> tuple[float, float]:
    """95% percentile-bootstrap interval of P(A > B), resampling each side's clusters
    (scipy.stats.bootstrap over cluster indices; seeded, so a report is reproducible).
    Vectorised over resamples: a resample is a count per cluster, and P is the count-
    weighted sum of each cluster pair's wins over the count-weighted number of pairs."""
    wins = np.array([[probability_of_beating(x, y, higher) * len(x) * len(y) for y in b] for x in a])
    size_a, size_b = np.array([len(x) for x in a]), np.array([len(y) for y in b])

    def statistic(picked_a: np.ndarray, picked_b: np.ndarray, axis: int = -1) -> np.ndarray:
        count_a = (picked_a[..., None] == np.arange(len(a))).sum(-2)
        count_b = (picked_b[..., None] == np.arange(len(b))).sum(-2)
        won = np.einsum("...i,ij,...j->...", count_a, wins, count_b)
        return won / ((count_a @ size_a) * (count_b @ size_b))

    interval = stats.bootstrap((np.arange(len(a)), np.arange(len(b))), statistic, vectorized=True, paired=False,
                               method="percentile", n_resamples=2000, rng=np.random.default_rng(0)).confidence_interval
    return float(interval.low), float(interval.high)


def compare_families(values: dict[str, list[float]], higher: bool,
                     repeats: Optional[dict[str, list[int]]] = None,
                     positive: Optional[bool] = None,
                     bounds: Optional[tuple[float, float]] = None) -> pd.DataFrame:
    """One row per family, best first: n (units: seeds, or repeats when `repeats` labels
    each value with the tuning repeat that made it and there are several), mean, std, 95%
    CI over the units; against the best family Welch's and Mann-Whitney's p over the units
    (Holm-corrected), P(best beats it) over runs with its bootstrap interval, and the
    verdict. A comparison in which either side has fewer than MIN_UNITS units is not tested
    (no p, verdict "not tested"). `positive` (default: a lower-is-better metric, an error)
    puts the interval on the log scale; `bounds` (a bounded metric's range) cut it."""
    positive = (not higher) if positive is None else positive
    runs = {family: _by_repeat(sample, (repeats or {}).get(family, [0] * len(sample)))
            for family, sample in values.items()}
    rows = []
    for family, by_repeat in runs.items():
        x = _units(by_repeat)
        mean, std = x.mean(), (x.std(ddof=1) if len(x) > 1 else np.nan)
        low, high = interval(x, positive, bounds)
        rows.append({"model": family, "n": len(x), "unit": "repeat" if len(by_repeat) > 1 else "seed",
                     "runs": len(values[family]), "mean": mean, "std": std, "ci_low": low, "ci_high": high})
    table = pd.DataFrame(rows).sort_values("mean", ascending=not higher).reset_index(drop=True)
    best_family = table.model[0]
    best = _units(runs[best_family])
    tested, welch, mwu, beats = [], [], [], {}
    for family in table.model[1:]:
        other = _units(runs[family])
        if len(best) < MIN_UNITS or len(other) < MIN_UNITS:
            continue
        beats[family] = (probability_of_beating(np.asarray(values[best_family], dtype=float),
                                                np.asarray(values[family], dtype=float), higher),
                         *bootstrap_probability(_clusters(runs[best_family]), _clusters(runs[family]), higher))
        with warnings.catch_warnings():  # scipy warns of precision loss on identical values: the case below
            warnings.simplefilter("ignore", RuntimeWarning)
            p = stats.ttest_ind(best, other, equal_var=False).pvalue
        if np.isnan(p):  # no variance on either side: different means are as different as it gets
            p = 0.0 if best.mean() != other.mean() else 1.0
        tested.append(family)
        welch.append(float(p))
        mwu.append(float(stats.mannwhitneyu(best, other, alternative="two-sided").pvalue))
    corrected = dict(zip(tested, zip(_holm(welch), _holm(mwu))))
    table["welch_p"] = [corrected.get(f, (np.nan, np.nan))[0] for f in table.model]
    table["mannwhitney_p"] = [corrected.get(f, (np.nan, np.nan))[1] for f in table.model]
    for column, position in (("p_best_beats", 0), ("p_best_beats_low", 1), ("p_best_beats_high", 2)):
        table[column] = [beats[f][position] if f in beats else np.nan for f in table.model]
    table["verdict"] = ["best", *("not tested" if f not in corrected else
                                  "significantly worse" if corrected[f][0] < ALPHA else "tie"
                                  for f in table.model[1:])]
    return table


def repeat_winners(values: dict[str, list[float]], repeats: dict[str, list[int]], higher: bool) -> dict[str, int]:
    """How many repeats of the study each family won (the best mean over that repeat's
    seeds, among the families that ran in it): how often the tuning process picks the same
    best family."""
    frame = pd.DataFrame([(family, repeat, value) for family in values
                          for repeat, value in zip(repeats[family], values[family])],
                         columns=["model", "repeat", "value"])
    means = frame.groupby(["repeat", "model"]).value.mean().unstack()
    winners = means.idxmax(axis=1) if higher else means.idxmin(axis=1)
    return {family: int((winners == family).sum()) for family in values}


def _fmt(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.4g}"


def _family_table(table: pd.DataFrame, metric: str) -> list[str]:
    lines = [f"| model | {metric} mean ± std | 95% CI | n | Welch p (Holm) | Mann-Whitney p (Holm) "
             "| P(best beats it) [95% CI] | vs best |", "|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        units = f"{row.n} {row.unit}{'s' * (row.n != 1)}"
        bounds = "n/a" + f" ({units})" if pd.isna(row.ci_low) else f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"
        n = f"{row.n} repeats ({row.runs} runs)" if row.unit == "repeat" else f"{row.n}"
        beats = "" if pd.isna(row.p_best_beats) else \
            f"{row.p_best_beats:.2f} [{row.p_best_beats_low:.2f}, {row.p_best_beats_high:.2f}]"
        lines.append(f"| {row.model} | {spread(row.mean, row.std, row.n)} | {bounds} | {n} | {_fmt(row.welch_p)} "
                     f"| {_fmt(row.mannwhitney_p)} | {beats} | {row.verdict} |")
    return lines


def _repeat_line(table: pd.DataFrame) -> list[str]:
    """How many repeats of the tuning study each family won, where it was repeated."""
    won = table[table.repeats_won > 0].sort_values("repeats_won", ascending=False)
    if not len(won):
        return []
    total = int(table.n.max())
    listed = ", ".join(f"{row.model} in {int(row.repeats_won)}" for row in won.itertuples())
    return [f"Repeats of the tuning study: the best family was {listed} of {total}.", ""]


def rank_test(means: pd.DataFrame, higher: dict[str, bool]) -> tuple[pd.DataFrame, pd.Series, float] | str:
    """Over the data sets (rows of `means`) where every family (column) ran: the scores
    (higher = better), the average ranks (best first) and Friedman's p; or the sentence
    saying why there is no test."""
    complete = means.dropna()
    if len(complete) < 2 or complete.shape[1] < 3:
        return (f"Across data sets: not tested (needs at least 2 data sets on which at least 3 "
                f"families all ran; have {len(complete)} and {complete.shape[1]}).")
    scores = complete.apply(lambda row: row if higher[row.name] else -row, axis=1)
    ranks = scores.rank(axis=1, ascending=False).mean().sort_values()
    return scores, ranks, float(stats.friedmanchisquare(*[scores[c] for c in scores.columns]).pvalue)


def relative_differences(scores: pd.DataFrame, family: str, reference: str) -> pd.Series:
    """Per data set, (family − reference) / the mean of their magnitudes, in scores
    (higher = better): scale-free, so that an accuracy in % and an RMSE of 1e-3 rank alike
    in the signed-rank test."""
    a, b = scores[family], scores[reference]
    scale = (a.abs() + b.abs()) / 2
    return ((a - b) / scale.where(scale > 0, 1.0)).rename(family)


def wilcoxon_needs(pairs: int) -> int:
    """The fewest data sets on which a two-sided exact Wilcoxon signed-rank test can reach
    p < ALPHA / pairs (Holm's first step): p can be no smaller than 2 / 2^n."""
    n = 1
    while 2.0 / 2 ** n >= ALPHA / max(pairs, 1):
        n += 1
    return n


def friedman_needs(families: int) -> int:
    """The fewest data sets on which Friedman's test (chi-square form) can reject: the
    statistic is largest, n(k − 1), when every data set ranks the families alike."""
    n = 1
    while stats.chi2.sf(n * (families - 1), families - 1) >= ALPHA:
        n += 1
    return n


def paired_tests(means: pd.DataFrame, higher: dict[str, bool]) -> pd.DataFrame:
    """Each family against the reference (the MLP, else the family of best average rank)
    over the data sets where both ran: data sets, wins, losses, ties, the median relative
    difference, Wilcoxon's two-sided p (exact where scipy can), Holm over the pairs, and the
    verdict ("better", "worse" or "tie")."""
    scores = means.apply(lambda row: row if higher[row.name] else -row, axis=1)
    if scores.shape[1] < 2:
        return pd.DataFrame()
    reference = "mlp" if "mlp" in scores else scores.rank(axis=1, ascending=False).mean().idxmin()
    rows = []
    for family in [c for c in scores.columns if c != reference]:
        both = scores[[family, reference]].dropna()
        diff = relative_differences(both, family, reference)
        nonzero = diff[diff != 0]
        p = (float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= 1 else 1.0)
        rows.append({"family": family, "reference": reference, "datasets": len(both),
                     "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum()),
                     "ties": int((diff == 0).sum()), "median_difference": float(diff.median()), "p": p})
    table = pd.DataFrame(rows)
    table["p_holm"] = _holm(list(table.p))
    table["verdict"] = [("better" if row.median_difference > 0 else "worse") if row.p_holm < ALPHA else "tie"
                        for row in table.itertuples()]
    return table


def _wilcoxon_lines(means: pd.DataFrame, higher: dict[str, bool]) -> list[str]:
    table = paired_tests(means, higher)
    if table.empty or table.datasets.max() < 2:  # across data sets: nothing to pair on one
        return []
    needs, have = wilcoxon_needs(len(table)), int(table.datasets.max())
    lines = [f"Each family against {table.reference[0]}, paired by data set (Wilcoxon signed-rank on the "
             f"relative differences, Holm over {len(table)} pairs; it can reject only from {needs} data "
             f"sets, and has {have}):", "",
             "| family | data sets | wins / losses / ties | median relative difference | p | p (Holm) | verdict |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.family} | {r.datasets} | {r.wins} / {r.losses} / {r.ties} | {r.median_difference:+.3g} | "
              f"{_fmt(r.p)} | {_fmt(r.p_holm)} | {r.verdict} |" for r in table.itertuples()]
    return lines


def ranks_differ(friedman: float) -> str:
    return "the ranks differ" if friedman < ALPHA else "no significant difference in ranks"


def outcome(table: pd.DataFrame) -> str:
    """A data set's verdict in words, from its compare_families rows (best first), naming
    every family as the table marks it: "mlp best, tied with bspline_mlp; kan significantly
    worse"."""
    best = table.model.iloc[0]
    if len(table) == 1:
        return f"{best} only (one family)"
    said = {verdict: ", ".join(table.model[table.verdict == verdict])
            for verdict in ("tie", "significantly worse", "not tested")}
    unit = "repeats" if (table.unit == "repeat").any() else "seeds"
    return (f"{best} best" + (f", tied with {said['tie']}" if said["tie"] else "")
            + (f"; {said['significantly worse']} significantly worse" if said["significantly worse"] else "")
            + (f"; {said['not tested']} {not_tested_note(unit)}" if said["not tested"] else ""))


def _across_datasets(means: pd.DataFrame, higher: dict[str, bool], out: Path, budget: str) -> list[str]:
    """Average ranks, Friedman's test and the Nemenyi critical-difference diagram over the
    data sets where every family ran."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    tested = rank_test(means, higher)
    wilcoxon = _wilcoxon_lines(means, higher)
    if isinstance(tested, str):
        return [tested, "", *wilcoxon] if wilcoxon else [tested]
    scores, ranks, friedman = tested
    ordered = ", ".join(f"{family} {rank:.2f}" for family, rank in ranks.items())
    said = (f"Across {len(scores)} data sets: average ranks {ordered}; Friedman p = {friedman:.3g}"
            f" ({ranks_differ(friedman)}; it can reject only from {friedman_needs(len(ranks))} data sets).")
    if len(scores) < friedman_needs(len(ranks)):  # a diagram would draw distances no test can support
        return [said + " No critical-difference diagram below that.", "", *wilcoxon]
    nemenyi = sp.posthoc_nemenyi_friedman(scores.to_numpy())
    nemenyi.index = nemenyi.columns = scores.columns
    figure, axis = plt.subplots(figsize=(7, 0.5 + 0.3 * len(ranks)))
    sp.critical_difference_diagram(ranks, nemenyi, ax=axis)
    axis.set_title(f"{section_title(budget)}: average rank over {len(scores)} data sets (Nemenyi, alpha 0.05)")
    name = f"critical_difference_{file_tag(budget)}.png"
    figure.savefig(out / name, bbox_inches="tight", dpi=120)
    plt.close(figure)
    return [f"{said} Critical-difference diagram: [{name}]({name}).", "", *wilcoxon]


def verdict_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Every family against the best, per budget and data set (compare_families's rows with
    budget, dataset and metric in front): what verdict.md, verdict.csv and the LaTeX
    verdict table show."""
    tables = []
    for budget, at_budget in chosen_runs(runs).groupby("budget", sort=False):
        for dataset, group in at_budget.groupby("dataset", sort=True):
            metric, higher = group.metric.iloc[0], HIGHER_IS_BETTER.get(group.metric.iloc[0], True)
            values = {model: list(g.test_metric) for model, g in group.groupby("model")}
            repeats = {model: [int(r) for r in g.repeat.fillna(0)] for model, g in group.groupby("model")}
            table = compare_families(values, higher, repeats, bounds=RANGES.get(metric))
            won = repeat_winners(values, repeats, higher)
            table["repeats_won"] = [won[family] if row.unit == "repeat" else np.nan
                                    for family, row in zip(table.model, table.itertuples())]
            tables.append(table.assign(budget=budget, dataset=dataset, metric=metric))
    columns = ["budget", "dataset", "metric", "model", "unit", "n", "runs", "mean", "std", "ci_low", "ci_high",
               "welch_p", "mannwhitney_p", "p_best_beats", "p_best_beats_low", "p_best_beats_high",
               "repeats_won", "verdict"]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


def each_repeat_alone(runs: pd.DataFrame) -> list[str]:
    """What each repeat of a repeated tuning study would have said on its own (its seeds
    as the unit, as a study without repeats says): how much one study's verdict is one
    draw of the tuning process."""
    chosen = chosen_runs(runs)
    lines = []
    for (budget, dataset), group in chosen.groupby(["budget", "dataset"], sort=False):
        if group.repeat.fillna(0).nunique() < 2:
            continue
        higher = HIGHER_IS_BETTER.get(group.metric.iloc[0], True)
        said = []
        for repeat, alone in group.groupby(group.repeat.fillna(0).astype(int)):
            table = compare_families({m: list(g.test_metric) for m, g in alone.groupby("model")}, higher)
            said.append(f"repeat {repeat}: {outcome(table)}")
        lines.append(f"- {budget}, {dataset}: " + "; ".join(said) + ".")
    return (["## Each repeat alone", "", "What each repeat of the tuning study would have said on its own, "
             "with its seeds as the unit:", "", *lines, ""] if lines else [])


def write_verdict(runs: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """verdict.md, verdict.csv (and a critical-difference diagram per budget) in out_dir;
    returns the two files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = verdict_frame(runs)
    lines = ["# Verdict", ""]
    references = sorted(runs.model[runs.reference].unique()) if "reference" in runs else []
    if references:
        lines += [f"{', '.join(references)}: a reference line (scikit-learn's HistGradientBoosting), tuned "
                  "and selected as the families are but not sized to the budget; it is ranked and tested "
                  "beside them.", ""]
    for budget, at_budget in frame.groupby("budget", sort=False):
        outcomes: dict[str, int] = {}
        sections, means, higher = [], {}, {}
        for dataset, table in at_budget.groupby("dataset", sort=False):
            table = table.reset_index(drop=True)
            metric = table.metric[0]
            higher[dataset] = HIGHER_IS_BETTER.get(metric, True)
            means[dataset] = table.set_index("model")["mean"]
            outcomes[dataset] = outcome(table)
            sections += [f"### {dataset}: {outcomes[dataset]}", "", *_repeat_line(table),
                         *_family_table(table, metric), ""]
        datasets = at_budget.dataset.nunique()
        lines += [f"## {section_title(budget)}", "",
                  f"{where_said(budget)}, over {datasets} task{'s' * (datasets > 1)}:", "",
                  *[f"- {dataset}: {said}." for dataset, said in outcomes.items()], "",
                  *_across_datasets(pd.DataFrame(means).T, higher, out, budget), "", *sections]
    lines += each_repeat_alone(runs)
    optimism = optimism_lines(runs)
    if optimism:
        lines += ["## Best-of-many under test-set selection", "", *optimism, ""]
    lines += [f"Significance: Welch's t-test, Holm-corrected over each table's comparisons, p < {ALPHA}; "
              f"otherwise tie; not tested where a side has fewer than {MIN_UNITS} units. "
              f"{LOG_SCALE_NOTE} The unit (n) is the seed, or, where the tuning study was repeated, the "
              "repeat (its mean over its seeds). P(best beats it): the chance that a run of the best "
              "family beats a run of the other (ties half), over all runs, with a 95% bootstrap interval "
              "that resamples seeds, or whole repeats.", ""]
    path = out / "verdict.md"
    path.write_text("\n".join(lines))
    frame.to_csv(out / "verdict.csv", index=False)
    return [path, out / "verdict.csv"]
