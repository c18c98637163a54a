"""Verdicts: a known large difference is significant, a known null difference is a tie, the
tests are Holm-corrected, error metrics rank lower-is-better, and best-of-many is flagged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kanfair.cli import report as report_cli
from kanfair.report.tables import load_records
from kanfair.report.verdict import compare_families
from test_report import write_run

LARGE = {"mlp": [90.1, 91.0, 92.2, 89.4, 90.6], "kan": [70.3, 71.1, 69.0, 72.4, 70.2],
         "rational_kan": [84.0, 85.5, 83.2, 86.1, 84.4]}
NULL = {"mlp": [80.0, 82.1, 81.0, 79.2, 80.5], "kan": [80.2, 81.8, 80.9, 79.3, 80.4],
        "rational_kan": [80.6, 81.2, 79.9, 80.8, 80.1]}
ERRORS = {"mlp": [0.010, 0.012, 0.011, 0.013, 0.010], "kan": [0.0010, 0.0012, 0.0011, 0.0009, 0.0010],
          "rational_kan": [0.0050, 0.0052, 0.0049, 0.0051, 0.0050]}


def write(folder: Path, dataset: str, values: dict, metric: str = "accuracy") -> None:
    for model, sample in values.items():
        for seed, value in enumerate(sample):
            write_run(folder, f"{dataset}-{model}-{seed}", model, seed, value, dataset=dataset, metric=metric)


@pytest.fixture(scope="module")
def verdict(tmp_path_factory) -> tuple[str, Path]:
    """One report for the module's tests to read (it draws plots and diagrams: seconds)."""
    tmp_path = tmp_path_factory.mktemp("verdict")
    runs = tmp_path / "runs"
    write(runs, "large", LARGE)
    write(runs, "null", NULL)
    write(runs, "symbolic", ERRORS, metric="kanbefair_rmse")
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--verdict"]) == 0
    return (tmp_path / "out" / "verdict.md").read_text(), tmp_path / "out"


def test_a_large_difference_is_significant_and_a_null_difference_is_a_tie(verdict):
    text, _ = verdict
    assert "### large: mlp best; rational_kan, kan significantly worse" in text
    assert "### null: " in text and " best, tied with " in text.split("### null: ")[1].splitlines()[0]
    null_section = text.split("### null")[1].split("###")[0]
    assert "significantly worse" not in null_section


def test_error_metrics_rank_lower_as_better(verdict):
    assert "### symbolic: kan best; rational_kan, mlp significantly worse" in verdict[0]


def test_the_outcome_is_said_in_one_sentence_with_ranks_across_data_sets(verdict):
    text, out = verdict
    assert "Without a matched budget, over 3 tasks:" in text
    assert "- large: mlp best; rational_kan, kan significantly worse." in text
    assert "- symbolic: kan best; rational_kan, mlp significantly worse." in text
    assert "Friedman p = " in text and (out / "critical_difference_no_budget.png").stat().st_size > 1000


def test_p_values_are_welch_and_mann_whitney_holm_corrected():
    table = compare_families(LARGE, higher=True)
    assert list(table.model) == ["mlp", "rational_kan", "kan"]
    raw = [stats.ttest_ind(LARGE["mlp"], LARGE[m], equal_var=False).pvalue for m in ("rational_kan", "kan")]
    smaller, larger = sorted(raw)
    holm = {raw.index(smaller): 2 * smaller, raw.index(larger): max(2 * smaller, larger)}
    assert np.allclose(table.welch_p[1:], [holm[0], holm[1]])
    mwu = stats.mannwhitneyu(LARGE["mlp"], LARGE["kan"], alternative="two-sided").pvalue
    assert table.mannwhitney_p[2] == pytest.approx(min(1.0, 2 * mwu))
    low, high = stats.t.interval(0.95, 4, loc=np.mean(LARGE["kan"]), scale=stats.sem(LARGE["kan"]))
    assert table.ci_low[2] == pytest.approx(low) and table.ci_high[2] == pytest.approx(high)


def test_best_of_many_under_test_selection_is_said_with_the_counts(tmp_path):
    runs = tmp_path / "runs"
    for width in (3, 5, 10):
        write_run(runs, f"k{width}", "kan", 0, 80.0 + width, hidden=(width,))
    write_run(runs, "m0", "mlp", 0, 85.0)
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert "fmnist: the families had different numbers of configurations" in table
    assert "kan 3, mlp 1" in table
    assert len(load_records(runs)) == 4


def test_fewer_than_three_seeds_are_not_tested_and_one_seed_shows_no_spread(tmp_path):
    """Two seeds a side: Welch's p is 0.0035 here, and yet nothing is claimed (one degree
    of freedom); one seed shows "n/a", never "± 0"."""
    two = {"mlp": [30.0, 30.5], "kan": [20.0, 21.0]}
    assert stats.ttest_ind(two["mlp"], two["kan"], equal_var=False).pvalue < 0.05
    table = compare_families(two, higher=True)
    assert list(table.verdict) == ["best", "not tested"] and table.welch_p.isna().all()
    assert table.ci_low.isna().all()  # no interval from 2 units
    runs = tmp_path / "runs"
    write(runs, "one", {"mlp": [30.0], "kan": [20.0, 21.0]})
    write(runs, "two", two)
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--verdict"]) == 0
    text = (tmp_path / "out" / "verdict.md").read_text()
    assert "### one: mlp best; kan not tested (fewer than 3 seeds)" in text
    assert "### two: mlp best; kan not tested (fewer than 3 seeds)" in text
    assert "| mlp | 30 ± n/a | n/a (1 seed) |" in text and "30 ± 0 " not in text
    assert "| kan | 20.5 ± 0.71 | n/a (2 seeds) |" in text and "significantly" not in text


def test_the_same_run_stored_under_two_names_counts_once(tmp_path, capsys):
    runs = tmp_path / "runs"
    write(runs, "d", {"mlp": [30.0, 31.0]})
    (runs / "zz-copy.json").write_text((runs / "d-mlp-0.json").read_text())
    frame = load_records(runs)
    assert len(frame) == 2 and sorted(frame.seed) == [0, 1]
    assert "zz-copy.json: a record of run d-mlp-0 stored under another name" in capsys.readouterr().err


# three repeats of a tuning study x 5 seeds: mlp wins every repeat; in the other task the
# winner changes from repeat to repeat (a seed's spread is small, a repeat's shift large)
STEADY = {"mlp": [[90.0, 90.4, 89.8, 90.2, 90.1], [91.0, 90.7, 91.2, 90.9, 91.1], [89.5, 89.9, 89.7, 89.6, 89.8]],
          "kan": [[85.0, 85.3, 84.9, 85.2, 85.1], [86.0, 85.8, 86.1, 85.9, 86.2], [84.4, 84.7, 84.5, 84.6, 84.8]]}
SHIFTING = {"mlp": [[90.0, 90.2, 89.9, 90.1, 90.0], [86.0, 86.1, 85.9, 86.2, 86.0], [89.5, 89.7, 89.4, 89.6, 89.5]],
            "kan": [[87.0, 87.1, 86.9, 87.2, 87.0], [87.5, 87.7, 87.4, 87.6, 87.5], [86.5, 86.6, 86.4, 86.7, 86.5]]}


def write_repeated(folder: Path, dataset: str, values: dict) -> None:
    for model, repeats in values.items():
        for repeat, sample in enumerate(repeats):
            for seed, value in enumerate(sample):
                write_run(folder, f"{dataset}-{model}-r{repeat}-s{seed}", model, seed, value, dataset=dataset,
                          protocol="val", tune={"phase": "final", "repeat": repeat, "study": f"{model}-{repeat}"})


@pytest.fixture(scope="module")
def repeated(tmp_path_factory) -> tuple[str, Path]:
    tmp_path = tmp_path_factory.mktemp("repeated")
    write_repeated(tmp_path / "runs", "steady", STEADY)
    write_repeated(tmp_path / "runs", "shifting", SHIFTING)
    assert report_cli.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--verdict"]) == 0
    return (tmp_path / "out" / "verdict.md").read_text(), tmp_path / "out"


def test_a_family_that_wins_every_repeat_is_significant_and_said_so(repeated):
    text, out = repeated
    steady = text.split("### steady")[1].split("###")[0]
    assert steady.startswith(": mlp best; kan significantly worse")
    assert "the best family was mlp in 3 of 3." in steady
    verdict = pd.read_csv(out / "verdict.csv").set_index(["dataset", "model"])
    kan = verdict.loc[("steady", "kan")]
    assert (kan.unit, kan.n, kan.runs) == ("repeat", 3, 15)
    assert kan.p_best_beats == 1.0 and kan.p_best_beats_low == 1.0  # every run of mlp beats every run of kan


def test_when_the_winner_changes_between_repeats_it_is_a_tie_and_the_repeats_are_counted(repeated):
    text, out = repeated
    shifting = text.split("### shifting")[1].split("###")[0]
    assert shifting.startswith(": mlp best, tied with kan")
    assert "the best family was mlp in 2 of 3, kan in 1 of 3." not in shifting  # one total, at the end
    assert "the best family was mlp in 2, kan in 1 of 3." in shifting
    verdict = pd.read_csv(out / "verdict.csv").set_index(["dataset", "model"])
    kan = verdict.loc[("shifting", "kan")]
    runs_mlp = np.ravel(SHIFTING["mlp"])
    runs_kan = np.ravel(SHIFTING["kan"])
    assert kan.p_best_beats == pytest.approx((runs_mlp[:, None] > runs_kan[None, :]).mean())  # 10 of 15 rows
    # resampling whole repeats, a draw of three mlp repeats can be all the weak one (0.0) or all strong
    # ones (1.0); resampling the 15 runs as if independent would say [0.4, 0.87]
    assert (kan.p_best_beats_low, kan.p_best_beats_high) == (0.0, 1.0)
    # the unit is the repeat: Welch on the 3 repeat means, not on the 15 runs (which would call it significant)
    means = {m: [np.mean(r) for r in SHIFTING[m]] for m in SHIFTING}
    assert kan.welch_p == pytest.approx(stats.ttest_ind(means["mlp"], means["kan"], equal_var=False).pvalue)
    assert stats.ttest_ind(runs_mlp, runs_kan, equal_var=False).pvalue < 0.05


def test_each_repeat_alone_says_what_a_study_without_repeats_would_have(repeated):
    text, _ = repeated
    alone = text.split("## Each repeat alone")[1]
    assert ("- none, shifting: repeat 0: mlp best; kan significantly worse; repeat 1: kan best; mlp significantly "
            "worse; repeat 2: mlp best; kan significantly worse.") in alone
    assert "- none, steady: repeat 0: mlp best; kan significantly worse; repeat 1: " in alone


def test_without_repeats_the_probability_of_beating_resamples_seeds():
    table = compare_families(LARGE, higher=True).set_index("model")
    assert table.loc["kan", "p_best_beats"] == 1.0 and table.loc["kan", "unit"] == "seed"
    null = compare_families(NULL, higher=True).set_index("model")
    worse = null.index[2]
    best, other = np.array(NULL[null.index[0]]), np.array(NULL[worse])
    assert null.loc[worse, "p_best_beats"] == pytest.approx((best[:, None] > other[None, :]).mean())
    assert null.loc[worse, "p_best_beats_low"] < 0.5 < null.loc[worse, "p_best_beats_high"]


def test_the_vectorised_bootstrap_is_the_plain_statistic_resampled():
    """The interval of P(A > B) (a count per cluster per resample) equals scipy's bootstrap of
    the statistic written plainly, on clusters of unequal size with ties."""
    from kanfair.report.verdict import bootstrap_probability, probability_of_beating

    a = [np.array([3.0, 1.0, 2.0]), np.array([5.0]), np.array([2.0, 2.5])]
    b = [np.array([2.0, 0.5]), np.array([4.0, 1.0, 3.0, 2.0])]

    def plain(picked_a, picked_b):
        return probability_of_beating(np.concatenate([a[int(i)] for i in picked_a]),
                                      np.concatenate([b[int(i)] for i in picked_b]), True)

    expected = stats.bootstrap((np.arange(3), np.arange(2)), plain, vectorized=False, paired=False,
                               method="percentile", n_resamples=2000, rng=np.random.default_rng(0))
    interval = expected.confidence_interval
    assert bootstrap_probability(a, b, True) == pytest.approx((interval.low, interval.high), abs=1e-12)
    assert interval.low < interval.high  # the fixture resamples to different values


# issue 30: each family against the MLP across data sets, paired by data set
SCALES = [55.0, 62.0, 70.0, 78.0, 84.0, 90.0, 95.0, 98.0]  # data sets of very different difficulty


def _means(kan: list[float], mlp: list[float], other: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"mlp": mlp, "kan": kan, "rbf_kan": other},
                        index=[f"d{i}" for i in range(len(mlp))])


def test_a_family_better_on_every_data_set_is_significant_though_the_scales_overlap():
    """The KAN is 1% better than the MLP on each of 8 data sets: paired, Wilcoxon's exact
    p is 2/2^8, significant after Holm over 2 pairs. Unpaired, the two columns' values
    overlap almost entirely (Mann-Whitney p ~ 0.9), so a test that ignores the pairing fails."""
    from kanfair.report.verdict import paired_tests

    mlp = SCALES
    kan = [v * 1.01 for v in SCALES]
    other = [v + (1 if i % 2 else -1) for i, v in enumerate(SCALES)]  # wins 4, loses 4
    means = _means(kan, mlp, other)
    table = paired_tests(means, {d: True for d in means.index}).set_index("family")
    assert table.loc["kan", "p"] == pytest.approx(2 / 2 ** 8)
    assert table.loc["kan", "verdict"] == "better" and table.loc["kan", "wins"] == 8
    assert table.loc["rbf_kan", "verdict"] == "tie" and table.loc["rbf_kan", "p"] > 0.5
    assert stats.mannwhitneyu(kan, mlp).pvalue > 0.5
    # on 6 data sets p = 2/2^6 = 0.031: significant alone, a tie after Holm over 2 pairs
    six = means.iloc[:6]
    assert paired_tests(six[["mlp", "kan"]], {d: True for d in six.index}).verdict[0] == "better"
    assert paired_tests(six, {d: True for d in six.index}).set_index("family").loc["kan", "verdict"] == "tie"
    # errors: lower is better, so the same numbers as RMSEs make the KAN worse
    errors = paired_tests(means, {d: False for d in means.index}).set_index("family")
    assert errors.loc["kan", "verdict"] == "worse"


def test_each_test_says_how_many_data_sets_it_needs_before_it_can_reject():
    """Wilcoxon: the smallest p on n data sets is 2/2^n (scipy's exact test on n positive
    differences), below 0.05 from n = 6 alone, below 0.05/6 (Holm's first of 6 pairs) from
    n = 8; Friedman on 7 families: chi-square(6) > 12.59 needs n(7-1) > 12.59, n = 3."""
    from kanfair.report.verdict import friedman_needs, wilcoxon_needs

    for pairs in (1, 6):
        n = wilcoxon_needs(pairs)
        assert stats.wilcoxon(np.arange(1.0, n + 1)).pvalue < 0.05 / pairs
        assert stats.wilcoxon(np.arange(1.0, n)).pvalue >= 0.05 / pairs
    assert (wilcoxon_needs(1), wilcoxon_needs(6)) == (6, 8)
    assert friedman_needs(7) == 3 and friedman_needs(2) == 4  # chi-square(1) > 3.84: n > 3.84


def test_the_verdict_shows_the_paired_tests_against_the_mlp(verdict):
    text, _ = verdict
    assert "Each family against mlp, paired by data set (Wilcoxon signed-rank" in text
    assert "it can reject only from 7 data sets, and has 3" in text  # 2 pairs: 2/2^n < 0.025
    assert "| kan | 3 | 1 / 2 / 0 |" in text  # kan beats the MLP on the formula only


TIED_AND_WORSE = {"mlp": [90.1, 91.0, 92.2, 89.4, 90.6], "bspline_mlp": [90.3, 90.8, 91.7, 89.9, 90.2],
                  "kan": [80.3, 81.1, 79.0, 82.4, 80.2]}


def test_the_headline_names_the_families_the_tables_mark(tmp_path):
    """One family tied with the best and one significantly worse: the headline says both,
    as the section's table marks them (it once said "no significant difference on 1")."""
    runs = tmp_path / "runs"
    write(runs, "digits", TIED_AND_WORSE)
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--verdict"]) == 0
    text = (tmp_path / "out" / "verdict.md").read_text()
    headline = text.split("over 1 task:")[1].split("###")[0]
    assert "- digits: mlp best, tied with bspline_mlp; kan significantly worse." in headline
    marks = pd.read_csv(tmp_path / "out" / "verdict.csv").set_index("model").verdict.to_dict()
    assert marks == {"mlp": "best", "bspline_mlp": "tie", "kan": "significantly worse"}
    for model, mark in marks.items():
        assert f"| {model} |" in text.split("### digits")[1] and text.split("### digits")[1].count(mark) >= 1


def test_intervals_stay_inside_what_the_metric_can_be():
    """Three seeds of a spread-out RMSE: Student's interval of the mean would go below zero;
    the log-scale one stays above. Three accuracies near 100: the interval stops at 100."""
    rmse = [0.001, 0.02, 0.0004]
    low, _ = stats.t.interval(0.95, 2, loc=np.mean(rmse), scale=stats.sem(rmse))
    assert low < 0
    table = compare_families({"kan": rmse, "mlp": [0.05, 0.06, 0.055]}, higher=False).set_index("model")
    assert 0 < table.loc["kan", "ci_low"] < table.loc["kan", "ci_high"]
    accuracy = compare_families({"mlp": [99.9, 97.0, 99.5], "kan": [80.0, 81.0, 82.0]}, higher=True,
                                bounds=(0.0, 100.0)).set_index("model")
    assert accuracy.loc["mlp", "ci_high"] == 100.0 and accuracy.loc["mlp", "ci_low"] < 99.0
