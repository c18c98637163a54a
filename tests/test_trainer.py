"""The shared trainer: protocols, metrics, optimizers, seeding and divergence."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from conftest import compose_config
from kanfair import runner
from kanfair.config import DatasetConfig, TrainerConfig
from kanfair.data import Task, load_task
from kanfair.models import build
from kanfair.trainer import evaluate, fit, fit_continual

MLP = {"name": "mlp", "hidden": [16], "activation": "relu", "batch_norm": False}
KAN = {"name": "kan", "hidden": [4], "grid_size": 5, "spline_order": 3, "grid_range": [-1, 1],
       "shortcut": "silu", "init": "kanbefair"}


def _fit(task: Task, seed: int = 0, spec: dict = MLP, **trainer) -> tuple[nn.Module, object]:
    torch.manual_seed(seed)
    model = build(spec, task.in_dim, task.out_dim)
    return model, fit(model, task, TrainerConfig(**{"epochs": 5, **trainer}), seed)


@pytest.fixture(scope="module")
def iris() -> Task:
    return load_task(DatasetConfig(name="iris"))


def test_val_protocol_reports_test_at_the_best_validation_epoch(iris):
    _, result = _fit(iris, epochs=8)
    vals = [row["val_accuracy"] for row in result.history]
    best = int(np.argmax(vals))
    assert result.best_epoch == best + 1
    assert result.selected["test_accuracy"] == result.history[best]["test_accuracy"]
    assert result.n_train + result.n_val == len(iris.x_train) and result.n_val == 12


def test_kanbefair_protocol_reports_best_test_and_has_no_validation(iris):
    _, result = _fit(iris, epochs=8, protocol="kanbefair")
    assert result.n_val == 0 and "val_accuracy" not in result.history[0]
    assert result.selected["test_accuracy"] == max(r["test_accuracy"] for r in result.history)


def test_validation_split_is_stratified_and_fixed(iris):
    _, first = _fit(iris, seed=0, epochs=1)
    _, second = _fit(iris, seed=5, epochs=1)
    assert first.n_val == second.n_val == 12


def test_same_seed_gives_identical_history_and_different_seed_differs(iris):
    _, a = _fit(iris, seed=3)
    _, b = _fit(iris, seed=3)
    _, c = _fit(iris, seed=4)
    assert a.history == b.history
    assert a.history != c.history


def test_building_a_model_never_reseeds_the_global_rng():
    draws = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        build(KAN, 4, 2)
        draws.append(torch.rand(4))
    assert not torch.equal(draws[0], draws[1])


@pytest.mark.parametrize("spec", [MLP, KAN], ids=["mlp", "kan"])
@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-2), ("adamw", 1e-2), ("sgd", 0.1), ("lbfgs", 0.5)])
def test_every_optimizer_lowers_the_training_loss(iris, optimizer, lr, spec):
    """Also on a KAN, whose spline weight has its own memory layout (LBFGS flattens each
    gradient with .view)."""
    _, result = _fit(iris, optimizer=optimizer, lr=lr, epochs=6, spec=spec)
    assert result.status == "ok"
    assert result.history[-1]["running_train_loss"] < result.history[0]["running_train_loss"]


def test_regression_metrics_match_an_independent_computation():
    x = torch.randn(50, 3)
    y = torch.randn(50, 2)
    model = nn.Linear(3, 2)
    pred = model(x).detach().numpy()
    err = (pred - y.numpy()) ** 2
    got = evaluate(model, x, y, "regression", batch_size=7)
    assert got["rmse"] == pytest.approx(np.sqrt(err.mean()), rel=1e-5)
    assert got["kanbefair_rmse"] == pytest.approx(np.sqrt(err.mean(axis=1)).mean(), rel=1e-5)


def test_kanbefair_regression_records_both_rmse_values(tmp_results):
    cfg = compose_config("model=mlp", "model.hidden=[8]", "dataset=special_ellipkinc",
                         "trainer.protocol=kanbefair", "trainer.epochs=3",
                         f"paths.results_dir={tmp_results}")
    record = runner.run(cfg)
    assert record.metric == "kanbefair_rmse"
    assert set(record.test_metrics) >= {"rmse", "kanbefair_rmse", "loss"}
    assert record.test_metric == record.test_metrics["kanbefair_rmse"]
    cfg = compose_config("model=mlp", "model.hidden=[8]", "dataset=special_ellipkinc",
                         "trainer.epochs=3", f"paths.results_dir={tmp_results}")
    assert runner.run(cfg).metric == "rmse"


class _Exploding(nn.Module):
    """Finite for the first `good` training calls, NaN afterwards."""

    def __init__(self, in_dim: int, out_dim: int, good: int) -> None:
        super().__init__()
        self.linear, self.calls, self.good = nn.Linear(in_dim, out_dim), 0, good

    def forward(self, x):
        self.calls += self.training
        out = self.linear(x)
        return out * float("nan") if self.training and self.calls > self.good else out


def test_nan_loss_stops_the_run_and_the_record_says_diverged(tmp_results, monkeypatch, capsys):
    iris_task = load_task(DatasetConfig(name="iris"))
    steps_per_epoch = -(-int(len(iris_task.x_train) * 0.9) // 128)
    monkeypatch.setattr(runner, "build", lambda spec, i, o: _Exploding(i, o, 2 * steps_per_epoch))
    cfg = compose_config("model=mlp", "dataset=iris", "trainer.epochs=10",
                         f"paths.results_dir={tmp_results}")
    record = runner.run(cfg)
    assert record.status == "diverged" and "non-finite loss" in record.message
    assert record.epochs_run == 2 and record.best_epoch in (1, 2)
    text = next((tmp_results / "runs").glob("*.json")).read_text()
    stored = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} is not strict JSON"))
    assert stored["status"] == "diverged" and "NaN" not in text and "Infinity" not in text
    assert "diverged" in capsys.readouterr().out


@pytest.mark.parametrize("protocol", ["kanbefair", "val"])
def test_scoring_the_train_split_once_reports_the_same_numbers(iris, monkeypatch, protocol):
    """eval_train=last scores the whole train split once, after the last epoch, and
    changes no reported number: the same seed gives the same test and validation
    histories, selected epoch and test metric as eval_train=every, and the same final
    train accuracy."""
    from kanfair import trainer

    real, train_scored = trainer.evaluate, []
    train_rows = len(trainer.make_splits(iris, protocol, 0.1).x_train)  # unlike val's and test's

    def counting(model, x, y, kind, batch_size):
        train_scored.append(len(x) == train_rows)
        return real(model, x, y, kind, batch_size)

    monkeypatch.setattr(trainer, "evaluate", counting)
    results = {}
    for mode in ("every", "last"):
        train_scored.clear()
        results[mode] = _fit(iris, epochs=6, protocol=protocol, eval_train=mode, lr=1e-2)[1]
        assert sum(train_scored) == (6 if mode == "every" else 1)
    every, last = results["every"], results["last"]
    assert last.best_epoch == every.best_epoch and last.selected["test_accuracy"] == every.selected["test_accuracy"]
    for key in ("test_accuracy", "running_train_loss", "running_train_accuracy") + (
            ("val_accuracy",) if protocol == "val" else ()):
        assert [row[key] for row in last.history] == [row[key] for row in every.history]
    assert "train_accuracy" not in last.history[0] and "train_accuracy" in last.history[-1]
    assert last.history[-1]["train_accuracy"] == every.history[-1]["train_accuracy"]
    assert last.selected["train_accuracy"] == every.history[-1]["train_accuracy"]
    assert last.eval_time_s > 0


class Clock:
    """A perf_counter that advances 1 s per reading: timings become counts of timed blocks."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def tiny(kind: str = "classification") -> Task:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 2 if kind == "classification" else torch.randn(40, 1, generator=gen)
    return Task("tiny", kind, torch.randn(40, 3, generator=gen), y, torch.randn(10, 3, generator=gen),
                y[:10], out_dim=2 if kind == "classification" else 1)


@pytest.mark.parametrize("eval_train, eval_blocks", [("last", 4 + 1), ("every", 4)])
def test_timers_add_up_every_epoch_and_the_final_scoring(monkeypatch, eval_train, eval_blocks):
    """With a clock that ticks once per reading, a 4-epoch run has 4 timed training passes
    and one timed evaluation per epoch (plus the final train scoring under last)."""
    from kanfair import trainer

    monkeypatch.setattr(trainer.time, "perf_counter", Clock())
    result = fit(nn.Linear(3, 2), tiny(), TrainerConfig(epochs=4, eval_train=eval_train), seed=0)
    assert result.train_time_s == 4.0 and result.eval_time_s == float(eval_blocks)
    assert result.message == "" and result.compiled is False
    assert (result.n_train, result.n_val, result.n_test) == (36, 4, 10)


def test_continual_timers_and_counts(monkeypatch):
    from kanfair import trainer

    monkeypatch.setattr(trainer.time, "perf_counter", Clock())
    task = Task("t", "classification", torch.randn(40, 3), torch.arange(40) % 4, torch.randn(20, 3),
                torch.arange(20) % 4, out_dim=4)
    result = trainer.fit_continual(nn.Linear(3, 4), task, TrainerConfig(epochs=3), 0, [[0, 1], [2, 3]])
    assert result.train_time_s == 6.0 and result.eval_time_s == 2.0  # 2 tasks x 3 epochs; 2 tests
    assert (result.n_train, result.n_val, result.n_test) == (40, 0, 20)
    assert result.compiled is False and result.status == "ok" and result.message == ""
    transfer = result.extra["continual"]["backward_transfer"]  # two tasks: one difference
    matrix = result.extra["continual"]["accuracy_matrix"]
    assert transfer == pytest.approx(matrix[1][0] - matrix[0][0])
    single = trainer.fit_continual(nn.Linear(3, 4), task, TrainerConfig(epochs=1), 0, [[0, 1, 2, 3]])
    assert single.extra["continual"]["backward_transfer"] is None  # nothing earlier to forget


@pytest.mark.parametrize("train", [
    lambda model: fit(model, tiny(), TrainerConfig(epochs=3, batch_size=8), seed=5),
    lambda model: fit_continual(model, tiny(), TrainerConfig(epochs=2, batch_size=8), 5, [[0], [1]]),
], ids=["fit", "fit_continual"])
def test_the_data_order_comes_from_the_runs_seed_not_the_global_rng(train):
    histories = []
    for disturbance in (1, 2):
        torch.manual_seed(0)
        model = nn.Linear(3, 2)
        torch.manual_seed(disturbance)  # whatever ran before must not change the batches
        histories.append(train(model).history)
    assert histories[0] == histories[1]


def test_each_epoch_row_reaches_the_callback():
    seen = []
    result = fit(nn.Linear(3, 2), tiny(), TrainerConfig(epochs=3), seed=0, on_epoch=seen.append)
    assert seen == result.history and len(seen) == 3


def test_the_validation_seed_reaches_the_split(monkeypatch):
    from kanfair import trainer

    calls = []
    real = trainer.make_splits
    monkeypatch.setattr(trainer, "make_splits", lambda *args: calls.append(args) or real(*args))
    fit(nn.Linear(3, 2), tiny(), TrainerConfig(epochs=1, val_seed=7, val_fraction=0.25), seed=0)
    assert calls[0][1:] == ("val", 0.25, 7)


def test_a_run_that_diverges_in_its_first_epoch_selects_nothing():
    task = tiny()
    task.x_train[:] = float("nan")
    result = fit(nn.Linear(3, 2), task, TrainerConfig(epochs=3), seed=0)
    assert result.status == "diverged" and result.history == [] and result.best_epoch is None
    assert result.selected == {} and "epoch 1" in result.message


def test_under_eval_train_every_the_train_metric_is_the_selected_epochs(monkeypatch):
    """Scripted: validation peaks at epoch 2, the train split's accuracy differs per epoch."""
    from kanfair import trainer

    script = {"train": iter([10.0, 20.0, 30.0]), "val": iter([50.0, 90.0, 60.0]), "test": iter([1.0, 2.0, 3.0])}

    def evaluate(model, x, y, kind, batch_size):
        split = {36: "train", 4: "val", 10: "test"}[len(x)]
        return {"loss": 0.5, "accuracy": next(script[split])}

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    result = fit(nn.Linear(3, 2), tiny(), TrainerConfig(epochs=3, eval_train="every"), seed=0)
    assert result.best_epoch == 2 and result.selected["train_accuracy"] == 20.0
    assert result.selected["test_accuracy"] == 2.0


def test_a_continual_run_that_diverges_reports_no_average():
    from kanfair import trainer

    task = tiny()
    task.x_train[:] = float("nan")
    result = trainer.fit_continual(nn.Linear(3, 2), task, TrainerConfig(epochs=2), 0, [[0], [1]])
    assert result.status == "diverged" and result.message.endswith("in task 0, epoch 1")
    assert result.selected == {} and result.extra["continual"]["accuracy_matrix"] == []
    assert result.extra["continual"]["average_accuracy"] is None
    assert result.extra["continual"]["backward_transfer"] is None


@pytest.mark.parametrize("spec", [{"name": "kan", "hidden": [6]}, {"name": "mlp", "hidden": [16]},
                                  {"name": "bspline_mlp", "hidden": [8]}])
def test_the_evaluation_batch_size_changes_no_metric(spec):
    """Why trainer.eval_batch_size is hashed as one value (results.HASHED_AS): each row's
    output is the same whatever the batch it is scored in, to float32 rounding: BLAS picks
    its kernel by shape and CPU (an AVX-512 machine moved an MLP's loss by 1e-7 relative
    between batch sizes), so the accuracy is identical and a loss within 1e-6 relative."""
    task = load_task(DatasetConfig(name="digits"))
    torch.manual_seed(0)
    model = build(spec, task.in_dim, task.out_dim)
    scores = [evaluate(model, task.x_test, task.y_test, task.kind, size) for size in (7, 100, 4096)]
    assert scores[0]["accuracy"] == scores[1]["accuracy"] == scores[2]["accuracy"]
    assert scores[1]["loss"] == pytest.approx(scores[0]["loss"], rel=1e-6)
    assert scores[2]["loss"] == pytest.approx(scores[0]["loss"], rel=1e-6)


def test_a_non_finite_selected_metric_is_never_ok(monkeypatch):
    """A finite training loss can still give non-finite outputs (lr=inf once did): a NaN
    metric at the selected epoch ends the run diverged, so no report shows an ok NaN."""
    from kanfair import trainer

    def evaluate(model, x, y, kind, batch_size):
        split = {36: "train", 4: "val", 10: "test"}[len(x)]
        return {"loss": 0.5, "accuracy": float("nan") if split == "test" else 50.0}

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    result = fit(nn.Linear(3, 2), tiny(), TrainerConfig(epochs=2), seed=0)
    assert result.status == "diverged" and result.message == "test_accuracy is nan at the selected epoch"


def test_float64_trains_a_classifier_in_float64_and_keeps_its_labels_integers(iris):
    model, result = _fit(iris, dtype="float64", epochs=2)
    assert result.status == "ok" and next(model.parameters()).dtype == torch.float64
    assert 0 <= result.selected["test_accuracy"] <= 100


def test_eval_every_scores_every_nth_epoch_and_the_last_and_selects_among_them(iris):
    _, result = _fit(iris, epochs=7, eval_every=3)
    assert [row["epoch"] for row in result.history] == [3, 6, 7] and result.epochs_run == 7
    assert result.best_epoch in (3, 6, 7)


def test_without_a_terminal_a_long_run_says_how_far_it_is(iris, monkeypatch, capsys):
    """Under nohup or SLURM (no terminal: tqdm is silent) a progress line reaches stderr at
    most every PLAIN_EVERY_S seconds; here every epoch, with the interval set to 0."""
    from kanfair import trainer

    monkeypatch.setattr(trainer, "PLAIN_EVERY_S", 0.0)
    _fit(iris, epochs=3)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("kanfair: iris: ")]
    assert [line.split(",")[0] for line in lines] == [f"kanfair: iris: epoch {e}/3" for e in (1, 2, 3)]
    assert "test " in lines[-1]  # the last scored epoch's metrics
    monkeypatch.setattr(trainer, "PLAIN_EVERY_S", 3600.0)
    _fit(iris, epochs=3)
    assert "kanfair: iris: epoch" not in capsys.readouterr().err
