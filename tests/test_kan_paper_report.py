"""kanfair-report --kan-paper (issue 28, item 4): the Feynman tables under both selection
rules, the paired verdict, the scaling rows, on synthetic records with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kanfair.report import tables
from kanfair.report.kan_paper import feynman_frame, feynman_tables, paired_verdict, published_table2
from kanfair.results import read_records
from test_report import write_run


def _feynman_run(folder, dataset: str, model: str, hidden, seed: int, val: float, test: float,
                 best: float | None = None, activation: str = "tanh", params: int = 50) -> None:
    history = [{"epoch": 1, "test_rmse": test}, {"epoch": 2, "test_rmse": test if best is None else best}]
    write_run(folder, f"{dataset}-{model}-{hidden}-{activation}-{seed}", model, seed, test, hidden=hidden,
              params=params, dataset=dataset, metric="rmse", protocol="val", val_metric=val, history=history,
              model_spec={"name": model, "hidden": list(hidden), **({"activation": activation} if model == "mlp" else {})})


@pytest.fixture
def feynman(tmp_path):
    """i_6_2: the MLP's tanh [5] has the lowest validation but not the lowest test RMSE
    (relu [5,5] is a decoy, lucky on test); the KAN's human shape wins on validation, the
    width-5 one on test, and one width-5 seed is lucky on test (1e-9 at some epoch). The paper's rule picks the
    lucky numbers, the validation rule does not."""
    folder = tmp_path / "runs"
    for seed in range(3):
        _feynman_run(folder, "feynman_i_6_2", "kan", (2, 1), seed, val=1e-4, test=1.1e-4, params=120)
        _feynman_run(folder, "feynman_i_6_2", "kan", (5,), seed, val=5e-4, test=5e-5,
                     best=1e-9 if seed == 1 else None, params=300)
        _feynman_run(folder, "feynman_i_6_2", "mlp", (5,), seed, val=2e-4, test=2.2e-4)
        _feynman_run(folder, "feynman_i_6_2", "mlp", (5, 5), seed, val=9e-4, test=1e-5, activation="relu")
    return folder


def test_the_validation_rule_chooses_on_validation_and_the_papers_rule_on_test(feynman):
    validation, papers_rule = feynman_tables(feynman_frame(read_records(feynman, print)))
    row = validation.loc["feynman_i_6_2"]
    assert row.mlp_configuration == "tanh [5]" and row.mlp_test == pytest.approx(2.2e-4)
    assert row.kan == "kan_human" and row.kan_test == pytest.approx(1.1e-4) and row.kan_human_params == 120
    assert row.kan_width5_test == pytest.approx(5e-5) and row.kan_width5_std == pytest.approx(0)
    rule = papers_rule.loc["feynman_i_6_2"]
    assert rule.kan_test == pytest.approx(1e-9) and rule.mlp_test == pytest.approx(1e-5)
    assert row.paper_mlp == pytest.approx(1.45e-4) and row.paper_kan == pytest.approx(2.86e-5)  # Table 2


def test_the_report_writes_both_tables_and_the_verdict(feynman, tmp_path):
    written = tables.write_report(feynman, tmp_path / "out", kan_paper=True)
    text = (tmp_path / "out" / "kan_paper.md").read_text()
    assert tmp_path / "out" / "kan_paper.md" in written
    assert "| i_6_2 | 1.10e-04 ± 0.0e+00 | 120 | 5.00e-05 ± 0.0e+00 | 300 | 2.20e-04 ± 0.0e+00 | 50 | tanh [5] |" in text
    assert "| i_6_2 | 1.00e-09 | 1.00e-05 | 0.0001 |" in text
    assert "*Feynman, selected on validation:* the KAN has the lower test RMSE on 1 of 1 equations" in text


@pytest.mark.parametrize("kan_factor, says", [(0.1, "the KAN is better"), (10.0, "the MLP is better"),
                                              (None, "no difference can be claimed")])
def test_the_paired_verdict_finds_a_known_winner_and_no_winner_on_noise(kan_factor, says):
    rng = np.random.default_rng(0)
    mlp = pd.Series(10 ** rng.uniform(-5, -2, 27))
    factor = kan_factor if kan_factor is not None else np.exp(rng.normal(0, 1, 27))
    verdict = paired_verdict(mlp * factor * np.exp(rng.normal(0, 0.1, 27)), mlp)
    assert verdict["says"] == says and verdict["equations"] == 27


def test_table_two_holds_the_27_equations_with_their_human_shapes():
    table = published_table2()
    assert len(table) == 27 and table.loc["feynman_i_16_6", "human_shape"] == "[2,2,2,2,2,1]"
    assert table.loc["feynman_iii_17_37", "unpruned"] == pytest.approx(4.12e-4)
    from kanfair.data.kan_paper import FEYNMAN
    assert set(table.index) == set(FEYNMAN)


def test_the_scaling_rows_and_verdict_come_from_the_toy_runs(tmp_path):
    """KAN alpha 4 and MLP alpha 2 on a toy function: the KAN's interval reaches 4 and its
    alpha exceeds the MLP's; at alpha 1 neither holds."""
    for kan_alpha, holds in ((4.0, True), (1.0, False)):
        folder, rng = tmp_path / f"runs{kan_alpha}", np.random.default_rng(0)
        for model, alpha in (("kan", kan_alpha), ("mlp", 2.0)):
            for n in (100, 200, 400, 800, 1600):
                for seed in range(3):
                    noise = 1 + 0.01 * rng.standard_normal()
                    write_run(folder, f"{model}-{n}-{seed}", model, seed, (n / 100) ** -alpha * noise, hidden=(n,),
                              params=n, dataset="kan_toy_xy", metric="rmse", protocol="val",
                              val_metric=1.1 * (n / 100) ** -alpha * noise, widths=[2, n, 1])
        tables.write_report(folder, tmp_path / f"out{kan_alpha}", kan_paper=True)
        text = (tmp_path / f"out{kan_alpha}" / "kan_paper.md").read_text()
        assert ("The KAN's fitted α is within 0.5 of 4 on 1 of 1" in text) == holds
        assert ("wholly below 3.5 on 1 (kan_toy_xy)" in text) == (not holds)
        assert ("exceeds the MLP's (95% interval of the difference above 0) on 1 of 1" in text) == holds
        assert "| kan_toy_xy | 2 | mlp | 5 | 2.00 |" in text


@pytest.fixture
def pruned(tmp_path):
    """i_6_2: lamb 1e-3 has the lower validation RMSE (its seeds pruned to [2,2,1] twice and
    [2,1,1] once, 40, 40 and 31 params), lamb 1e-2 the lower test RMSE (a decoy); the MLPs
    at the pruned size: tanh [6] wins on validation, relu [4,4] is lucky on test."""
    folder = tmp_path / "runs"
    for seed in range(3):
        for lamb, val, test, widths, params in ((1e-3, 2e-4, 3e-4, [2, 2, 1] if seed < 2 else [2, 1, 1],
                                                 40 if seed < 2 else 31),
                                                (1e-2, 9e-4, 1e-5, [2, 1, 1], 20)):
            write_run(folder, f"kp{lamb}-{seed}", "kan", seed, test, hidden=widths[1:-1], params=params,
                      dataset="feynman_i_6_2", metric="rmse", protocol="val", val_metric=val, widths=widths,
                      extra={"sparsity": {"lamb": lamb}, "pruning": {"widths_after": widths}})
        _feynman_run(folder, "feynman_i_6_2", "kan", (5,), seed, val=5e-4, test=6e-4, params=300)
        for activation, hidden, val, test in (("tanh", (6,), 1e-4, 2e-4), ("relu", (4, 4), 8e-4, 1e-6)):
            write_run(folder, f"mp-{activation}-{seed}", "mlp", seed, test, hidden=hidden, params=37,
                      dataset="feynman_i_6_2", metric="rmse", protocol="val", val_metric=val,
                      budget={"kind": "params", "target": 37, "convention": "ops"},
                      model_spec={"name": "mlp", "hidden": list(hidden), "activation": activation})
    return folder


def test_the_pruned_table_chooses_lamb_and_the_mlp_on_validation(pruned):
    from kanfair.report.kan_paper import pruned_sizes, pruned_table
    frame = feynman_frame(read_records(pruned, print))
    assert pruned_sizes(frame).to_dict() == {"feynman_i_6_2": 37}  # mean of 40, 40, 31 under lamb 1e-3
    row = pruned_table(frame).loc["feynman_i_6_2"]
    assert row.pruned_lamb == "0.001" and row.pruned_test == pytest.approx(3e-4)
    assert row.pruned_shapes == "[2,2,1] ×2, [2,1,1]"
    assert row.mlp_configuration == "tanh [6]" and row.mlp_test == pytest.approx(2e-4) and row.mlp_params == 37
    assert row.unpruned_test == pytest.approx(6e-4) and row.unpruned_params == 300
    assert row.paper_pruned_min_shape == "[2,2,1]" and row.paper_pruned == pytest.approx(2.86e-5)
    # the resized MLPs are not taken for the width-5 MLPs of the unpruned comparison
    validation, papers_rule = feynman_tables(frame)
    assert "mlp_test" not in validation and np.isnan(papers_rule.loc["feynman_i_6_2", "mlp_test"])


def test_the_report_writes_the_pruned_table_and_its_verdict(pruned, tmp_path):
    written = tables.write_report(pruned, tmp_path / "out", kan_paper=True)
    text = (tmp_path / "out" / "kan_paper.md").read_text()
    assert tmp_path / "out" / "kan_paper_feynman_pruned.csv" in written
    assert ("| i_6_2 | 3.00e-04 ± 0.0e+00 | 37 | 0.001 | [2,2,1] ×2, [2,1,1] | 2.00e-04 ± 0.0e+00 | 37 | tanh [6] | "
            "6.00e-04 ± 0.0e+00 | 300 | [2,2,1], [2,2,1,1] | 2.86e-05 | 4.60e-05 |") in text
    assert "*Pruned KAN against an MLP of its size:* the pruned KAN has the lower test RMSE on 0 of 1" in text


def test_the_mlps_at_the_pruned_size_are_one_experiment_that_includes_the_study(pruned, tmp_path):
    from omegaconf import OmegaConf

    from kanfair.cli.pruned_mlps import main
    out = tmp_path / "kan_paper_pruned_mlp.yaml"
    assert main(["--runs", str(pruned), "--out", str(out)]) == 0
    config = OmegaConf.load(out)
    assert list(config.defaults) == ["kan_paper_pruned", "_self_"]
    grid = config.hydra.sweeper.grids.i_6_2_mlp_at_pruned
    assert (grid.dataset, grid.budget, grid["budget.target"], grid["budget.convention"]) == (
        "feynman_i_6_2", "params", 37, "ops")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as stop:  # one line, exit status 2
        main(["--runs", str(empty), "--out", str(out)])
    assert stop.value.code == 2
