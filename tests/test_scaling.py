"""kanfair-report --scaling (issue 28, item 3): alpha recovered on synthetic records of
known exponent, the frontier chosen on validation, and the bootstrap comparison."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kanfair.report import tables
from kanfair.report.scaling import compare_alphas, fit_alpha, frontier, scaling_frame
from test_report import write_run

SIZES = [100, 200, 400, 800, 1600]


def _records(folder, model: str, alpha: float, seeds: int = 3, decoy: bool = False) -> None:
    """test RMSE = (N/100)^-alpha x (1 + 1% noise per seed), validation 10% above it; with
    `decoy`, a configuration at N = 3200 that is worse on validation than N = 1600 but
    looks perfect on test (1e-9): it is on the test frontier only."""
    rng = np.random.default_rng(len(model))
    sizes = [(n, (n / 100) ** -alpha, 1.1 * (n / 100) ** -alpha) for n in SIZES]
    if decoy:
        sizes.append((3200, 1e-9, 2.0 * 1.1 * 16 ** -alpha))
    for n, test, val in sizes:
        for seed in range(seeds):
            noise = 1 + 0.01 * rng.standard_normal()
            write_run(folder, f"{model}-{n}-{seed}", model, seed, test * noise, hidden=(n,), params=n,
                      dataset="power", metric="rmse", protocol="val", val_metric=val * noise, widths=[3, n, 1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("scaling") / "runs"
    _records(folder, "mlp", 2.0)
    _records(folder, "kan", 4.0, decoy=True)
    return tables.load_records(folder)


def test_alpha_two_and_four_are_recovered_within_0_05(runs):
    table, _ = scaling_frame(runs, resamples=200)
    alpha = table.set_index("model").alpha
    assert alpha["mlp"] == pytest.approx(2.0, abs=0.05) and alpha["kan"] == pytest.approx(4.0, abs=0.05)
    for row in table.itertuples():
        assert row.alpha_low <= row.alpha <= row.alpha_high and row.alpha_high - row.alpha_low < 0.2


def test_the_frontier_is_chosen_on_validation_not_on_test(runs):
    """The decoy (best test RMSE of all, worse validation than a smaller model) stays off
    the frontier; chosen on test it would join it and alpha would be far from 4."""
    kan = runs[runs.model == "kan"].groupby("params").agg(val=("val_metric", "mean"), test=("test_metric", "mean"))
    kan = kan.reset_index()
    assert list(frontier(kan).params) == SIZES
    on_test = frontier(kan.assign(val=kan.test))
    assert 3200 in list(on_test.params) and abs(fit_alpha(on_test) - 4.0) > 1.0


def test_n_and_the_error_share_one_logarithm():
    """A slope of ln(RMSE) on log10(N) would be alpha x ln(10): the fit must use one base."""
    points = pd.DataFrame({"params": [10.0, 100.0, 1000.0], "test": [1.0, 1e-2, 1e-4], "val": [1.0, 1e-2, 1e-4]})
    assert fit_alpha(points) == pytest.approx(2.0)


def test_the_kans_alpha_exceeds_the_mlps_and_the_report_says_so(runs, tmp_path):
    _, replicates = scaling_frame(runs, resamples=200)
    low, high, said = compare_alphas(replicates, "power", "kan", "mlp")
    assert said == "exceeds" and low < 2.0 < high
    assert compare_alphas(replicates, "power", "kan", "rbf_kan") is None
    folder = tmp_path / "runs"
    _records(folder, "mlp", 2.0)
    _records(folder, "kan", 4.0)
    written = tables.write_report(folder, tmp_path / "out", scaling=True)
    text = (tmp_path / "out" / "scaling.md").read_text()
    assert "The KAN's α exceeds the MLP's" in text
    # the paper's count: (3 n + n) edges x G 5 = 20 n; none for the MLP
    assert "| kan | 5 | 100 200 400 800 1600 | 2000 4000 8000 16000 32000 | 4" in text
    assert "| mlp | 5 | 100 200 400 800 1600 |  | 2" in text
    assert (tmp_path / "out" / "scaling_power.png") in written


def test_the_vectorised_bootstrap_is_the_plain_fit_on_each_resample(tmp_path):
    """With one seed per configuration every resample is the data itself: each replicate
    must equal the plain frontier-and-fit, decoy included."""
    from kanfair.report.scaling import bootstrap_alphas

    _records(tmp_path / "runs", "kan", 4.0, seeds=1, decoy=True)
    runs = tables.load_records(tmp_path / "runs")
    means = runs.groupby("params").agg(val=("val_metric", "mean"), test=("test_metric", "mean")).reset_index()
    assert np.allclose(bootstrap_alphas(runs, resamples=5), fit_alpha(frontier(means)), rtol=1e-12)


def test_a_grid_extension_runs_stages_are_its_points(tmp_path):
    """The KAN paper's curve is one run's grid stages: each stage is a point (its params,
    its validation-selected RMSE), pooled over seeds; the paper's count uses its grid."""
    folder, rng, grids = tmp_path / "runs", np.random.default_rng(0), [3, 5, 10, 20, 50]
    for seed in range(3):
        noise = 1 + 0.01 * rng.standard_normal(len(SIZES))
        stages = [{"stage": i, "grid_size": g, "params": n, "test_metric": (n / 100) ** -4 * e,
                   "val_metric": 1.1 * (n / 100) ** -4 * e} for i, (g, n, e) in enumerate(zip(grids, SIZES, noise))]
        write_run(folder, f"kan-{seed}", "kan", seed, stages[-1]["test_metric"], hidden=(5,), params=SIZES[-1],
                  grid=50, dataset="power", metric="rmse", protocol="val", val_metric=stages[-1]["val_metric"],
                  widths=[2, 5, 1], extra={"grid_extension": {"knob": "grid_size", "stages": stages}})
    table, _ = scaling_frame(tables.load_records(folder), resamples=200)
    row = table.iloc[0]
    assert row.frontier == 5 and row.alpha == pytest.approx(4.0, abs=0.05)
    assert row.paper_count == " ".join(str(15 * g) for g in grids)  # 15 edges x each stage's G


@pytest.mark.parametrize("seeds", [1, 2])
def test_fewer_than_three_seeds_are_not_tested(tmp_path, seeds):
    """One seed once printed 'α 3.95 [3.95, 3.95]' and 'the KAN's α exceeds the MLP's (95%)':
    with one or two seeds per configuration α is fitted, but neither an interval nor a
    comparison is claimed."""
    folder = tmp_path / "runs"
    _records(folder, "mlp", 2.0, seeds=seeds)
    _records(folder, "kan", 4.0, seeds=seeds)
    written = tables.write_report(folder, tmp_path / "out", scaling=True)
    text = (tmp_path / "out" / "scaling.md").read_text()
    assert "exceeds" not in text and "not tested (fewer than 3 seeds) per configuration" in text
    assert text.count("| n/a (not tested") == 2
    table, replicates = scaling_frame(tables.load_records(folder), resamples=50)
    assert table.alpha_low.isna().all() and compare_alphas(replicates, "power", "kan", "mlp") is None
    assert tmp_path / "out" / "scaling_power.png" in written


@pytest.mark.parametrize("flag, named", [("--scaling", "not an error"), ("--kan-paper", "kan_toy_*, feynman_*")])
def test_a_report_kind_the_runs_cannot_mean_is_refused_before_anything_is_written(tmp_path, capsys, flag, named):
    """--scaling on accuracies (it once fitted 'test RMSE ~ N^-alpha' on them, alpha 0.264
    while accuracy fell) and --kan-paper on runs of no KAN-paper task (a 49-byte page):
    one line, exit 2, no folder."""
    from kanfair.cli import report as report_cli

    folder = tmp_path / "runs"
    for n, accuracy in ((100, 50.0), (200, 30.0), (400, 25.0)):
        for seed in range(3):
            write_run(folder, f"m{n}-{seed}", "mlp", seed, accuracy, hidden=(n,), params=n, protocol="val",
                      val_metric=accuracy)
    with pytest.raises(SystemExit) as exit_:
        report_cli.main(["--runs", str(folder), "--out", str(tmp_path / "out"), flag])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and named in err[0] and not (tmp_path / "out").exists()


GRIDS = [3, 5, 10, 20, 50, 100, 200]


def test_the_interpolation_threshold_is_found_on_validation_and_the_papers_rule_stands_beside(tmp_path):
    """Issue 43: a [2,1,1] KAN (3 edges) on 800 training rows, whose validation RMSE falls as
    N^-4 up to G = 20 and rises after, while its test RMSE keeps falling (faster, as N^-8)
    to G = 50: the threshold is G = 20 (validation), never G = 50 (test); α is fitted before
    it (4), the paper's rule (the frontier on test) reaches G = 50 (α above 4), and the
    prediction is 800 / 3."""
    folder = tmp_path / "runs"
    for grid in GRIDS:
        n = 3 * (grid + 3 + 2)
        val = (n / 24) ** -4.0 if grid <= 20 else (78 / 24) ** -4.0 * (grid / 20)
        test = ((n / 24) ** -4.0 if grid <= 20 else (75 / 24) ** -4.0 * (n / 75) ** -8.0 if grid <= 50
                else (75 / 24) ** -4.0 * (168 / 75) ** -8.0 * (grid / 50))
        for seed in range(3):
            noise = 1 + 0.001 * seed
            write_run(folder, f"kan-{grid}-{seed}", "kan", seed, test * noise, params=n, grid=grid, dataset="toy",
                      metric="rmse", protocol="val", val_metric=val * noise, widths=[2, 1, 1], n_train=800)
    table, _ = scaling_frame(tables.load_records(folder), resamples=200)
    row = table.iloc[0]
    assert (row.threshold_params, row.threshold_grid) == (3 * (20 + 5), 20)
    assert row.predicted_grid == pytest.approx(800 / 3)
    assert row.params == " ".join(str(3 * (g + 5)) for g in GRIDS[:4])
    assert row.alpha == pytest.approx(4.0, abs=0.05) and row.alpha_on_test > 4.5
    tables.write_report(folder, tmp_path / "out", scaling=True)
    text = (tmp_path / "out" / "scaling.md").read_text()
    assert "| 75 (G 20) | 267 |" in text and "α on test (the paper's rule)" in text
