"""The gradient-boosting reference line (model=hgb): the same rows and split as the
networks, the same numbers as scikit-learn's own HistGradientBoosting fitted by hand, and
marked as a reference wherever it is reported."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

from conftest import REPO, compose_config, only_record, run_train
from kanfair.cli import report as report_cli
from kanfair.config import DatasetConfig
from kanfair.data import load_task
from kanfair.models import schema_of
from kanfair.runner import run
from kanfair.schema import ConfigError

SETTINGS = {"max_iter": 30, "learning_rate": 0.2, "max_leaf_nodes": 7, "min_samples_leaf": 5,
            "l2_regularization": 0.1, "max_features": 0.5}


def overrides(results, dataset: str, seed: int, *more: str) -> list[str]:
    return ["model=hgb", f"dataset={dataset}", f"seed={seed}", f"paths.results_dir={results}",
            *(f"model.{k}={v}" for k, v in SETTINGS.items()), *more]


def by_hand(dataset: str, seed: int):
    """The data set's fixed split as kanfair loads it, the validation tenth held out as the
    trainer documents it (sklearn's train_test_split, stratified, trainer.val_seed 0), then
    scikit-learn's estimator fitted directly."""
    task = load_task(DatasetConfig(name=dataset), "data")
    classify = task.kind == "classification"
    x, y = task.x_train.numpy(), task.y_train.numpy() if classify else task.y_train.numpy()[:, 0]
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=0.1, random_state=0,
                                                  stratify=y if classify else None)
    cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    model = cls(**SETTINGS, early_stopping=False, random_state=seed).fit(x_fit, y_fit)
    y_te = task.y_test.numpy() if classify else task.y_test.numpy()[:, 0]
    return model, len(x_fit), (x_val, y_val), (task.x_test.numpy(), y_te)


def correct(model, split) -> int:
    return int(np.sum(model.predict(split[0]) == split[1]))


def counted(accuracy: float, split) -> float:
    """A record's accuracy (in %, a float32 mean) as the number of rows it got right."""
    return accuracy * len(split[1]) / 100


@pytest.mark.parametrize("dataset", ["digits", "breast_cancer"])  # multiclass, and binary (log-odds)
def test_accuracy_on_the_fixed_split_equals_sklearns_own_hist_gradient_boosting(tmp_results, dataset):
    run(compose_config(*overrides(tmp_results, dataset, 3)))
    record = only_record(tmp_results)
    model, n_fit, val, test = by_hand(dataset, seed=3)
    assert counted(record["test_metric"], test) == pytest.approx(correct(model, test), abs=1e-3)
    assert counted(record["val_metric"], val) == pytest.approx(correct(model, val), abs=1e-3)
    nodes = sum(2 * tree.get_n_leaf_nodes() - 1 for trees in model._predictors for tree in trees)
    assert record["params"] == nodes and record["n_train"] == n_fit
    assert record["budget"] is None and record["extra"]["reference"]["iterations"] == 30


def test_another_seed_draws_other_features_as_sklearn_does(tmp_results):
    """max_features < 1 is the randomness the run's seed drives (a fixed random_state would
    give every seed the same model)."""
    losses = {}
    for seed in (0, 1):
        record = run(compose_config(*overrides(tmp_results, "digits", seed)))
        model, _, _, test = by_hand("digits", seed=seed)
        assert counted(record.test_metric, test) == pytest.approx(correct(model, test), abs=1e-3)
        losses[seed] = record.test_metrics["loss"]
    assert losses[0] != losses[1]


def test_a_regression_reports_sklearns_rmse_and_stands_beside_the_budget_as_a_reference(tmp_results):
    run(compose_config(*overrides(tmp_results, "diabetes", 0, "budget=params", "budget.target=2000")))
    record = only_record(tmp_results)
    model, _, _, (x_te, y_te) = by_hand("diabetes", seed=0)
    assert record["metric"] == "rmse"
    assert record["test_metric"] == pytest.approx(math.sqrt(float(np.mean((model.predict(x_te) - y_te) ** 2))),
                                                  rel=1e-5)
    assert record["budget"] == {"kind": "params", "target": 2000.0, "convention": "ops", "reference": True}
    assert record["flops"] == 0 and record["hidden"] == []


@pytest.mark.parametrize("more, key", [(["dataset=pde_poisson2d"], "model"),
                                       (["dataset=digits", "trainer.grid_schedule=[3,5]"], "trainer.grid_schedule"),
                                       (["dataset=digits", "model.max_features=0"], "model.max_features"),
                                       (["dataset=digits", "model.grid_size=5"], "model.grid_size")])
def test_what_boosting_cannot_do_is_refused_in_one_line_naming_the_key(tmp_results, more, key):
    done = run_train("model=hgb", f"paths.results_dir={tmp_results}", *more)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and key in done.stderr
    assert not (tmp_results / "runs").exists()


def test_an_unknown_model_names_the_reference_line_among_the_choices():
    with pytest.raises(ConfigError, match="hgb"):
        schema_of("xgboost")


def test_the_report_marks_it_a_reference_and_keeps_it_off_the_pareto_axes(tmp_path):
    results = tmp_path / "results"
    for model in ("hgb", "mlp"):
        run(compose_config(f"model={model}", "dataset=wine", "budget=params", "budget.target=2000",
                           "trainer.epochs=3", f"paths.results_dir={results}"))
    out = tmp_path / "report"
    assert report_cli.main(["--runs", str(results / "runs"), "--out", str(out), "--verdict"]) == 0
    table = (out / "table.md").read_text()
    assert "| wine | hgb (reference) |" in table and "tree nodes |" in table
    assert "| wine | mlp |" in table
    assert "hgb: a reference line" in (out / "verdict.md").read_text()


def test_it_is_tuned_with_its_own_space_and_the_same_trials(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "tune.py"), "model=hgb", "dataset=wine",
                           "budget.target=2000", "tune.trials=3", "tune.seeds=2", f"paths.results_dir={tmp_path}",
                           f"hydra.run.dir={tmp_path}/jobs"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    phases = sorted(r["config"]["tune"]["phase"] for r in records)
    assert phases == ["final", "final", "trial", "trial", "trial"]
    assert len({r["config"]["model"]["learning_rate"] for r in records if r["config"]["tune"]["phase"] == "trial"}) == 3
