"""The code that decides which number is reported, on fixtures where every wrong rule
gives a different answer: validation, test and last epoch disagree."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from kanfair import trainer
from kanfair.report import tables
from kanfair.config import TrainerConfig
from kanfair.data.task import Task
from kanfair.results import Record, atomic_write_json, finished_ok, record_path, write_record

# per epoch (1..4): validation and test metrics that disagree on the best epoch
VAL = {"accuracy": [50.0, 90.0, 70.0, 60.0], "rmse": [0.5, 0.1, 0.3, 0.4], "kanbefair_rmse": [0.5, 0.1, 0.3, 0.4]}
TEST = {"accuracy": [95.0, 60.0, 80.0, 85.0], "rmse": [0.05, 0.6, 0.2, 0.1], "kanbefair_rmse": [0.05, 0.6, 0.2, 0.1]}


def scripted(kind: str, n_val: int, n_test: int):
    """An `evaluate` that returns the scripted metrics of the split it is given (by size)."""
    calls = {"val": 0, "test": 0}

    def evaluate(model, x, y, task_kind, batch_size):
        split = {n_val: "val", n_test: "test"}.get(len(x), "train")
        if split == "train":
            return {"loss": 1.0, "accuracy": 1.0} if kind == "classification" else \
                {"loss": 1.0, "rmse": 1.0, "kanbefair_rmse": 1.0}
        epoch = calls[split]
        calls[split] += 1
        if kind == "classification":
            return {"loss": 1.0, "accuracy": (VAL if split == "val" else TEST)["accuracy"][epoch]}
        table = VAL if split == "val" else TEST
        return {"loss": 1.0, "rmse": table["rmse"][epoch], "kanbefair_rmse": table["kanbefair_rmse"][epoch]}
    return evaluate


def task_of(kind: str) -> Task:
    """100 train rows (90 + 10 validation under val_fraction 0.1), 30 test rows."""
    y_train = torch.arange(100) % 2 if kind == "classification" else torch.randn(100, 1)
    y_test = torch.arange(30) % 2 if kind == "classification" else torch.randn(30, 1)
    return Task("scripted", kind, torch.randn(100, 3), y_train, torch.randn(30, 3), y_test,
                out_dim=2 if kind == "classification" else 1)


@pytest.mark.parametrize("kind, protocol, epoch, reported", [
    ("classification", "val", 2, 60.0),        # best validation (90) -> its test, not the best test
    ("classification", "kanbefair", 1, 95.0),  # best test over epochs, not the last (85)
    ("regression", "val", 2, 0.6),            # lowest validation RMSE, not the highest
    ("regression", "kanbefair", 1, 0.05),      # lowest test error, not the last (0.1)
])
def test_each_protocol_selects_its_own_epoch(monkeypatch, kind, protocol, epoch, reported):
    monkeypatch.setattr(trainer, "evaluate", scripted(kind, n_val=10, n_test=30))
    out = 2 if kind == "classification" else 1
    result = trainer.fit(nn.Linear(3, out), task_of(kind),
                         TrainerConfig(epochs=4, protocol=protocol, batch_size=50), seed=0)
    assert result.best_epoch == epoch
    assert result.selected[f"test_{result.metric}"] == reported
    assert result.history[-1]["epoch"] == 4 and result.history[-1][f"test_{result.metric}"] != reported


def test_the_validation_split_is_stratified():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    task = Task("t", "classification", torch.randn(100, 2), labels, torch.randn(5, 2),
                torch.zeros(5, dtype=torch.int64), 3)
    splits = trainer.make_splits(task, "val", 0.2, 0)
    assert torch.bincount(splits.y_val, minlength=3).tolist() == [12, 6, 2]


def test_continual_reports_the_final_rows_mean_not_the_best_row(monkeypatch):
    script = iter([90.0, 20.0, 95.0, 10.0, 30.0, 99.0])  # after task 0; after 1 (2 tasks); after 2
    monkeypatch.setattr(trainer, "evaluate", lambda *args: {"loss": 1.0, "accuracy": next(script)})
    task = Task("t", "classification", torch.randn(60, 2), torch.arange(60) % 6, torch.randn(30, 2),
                torch.arange(30) % 6, 6)
    result = trainer.fit_continual(nn.Linear(2, 6), task, TrainerConfig(epochs=1), 0, [[0, 1], [2, 3], [4, 5]])
    continual = result.extra["continual"]
    assert continual["accuracy_matrix"] == [[90.0, None, None], [20.0, 95.0, None], [10.0, 30.0, 99.0]]
    assert result.selected["test_accuracy"] == pytest.approx((10 + 30 + 99) / 3)
    assert continual["backward_transfer"] == pytest.approx(((10 - 90) + (30 - 95)) / 2)


def test_the_report_picks_each_familys_best_configuration_by_its_mean():
    runs = pd.DataFrame({
        "dataset": "d", "model": ["kan"] * 4 + ["mlp"] * 2, "metric": "kanbefair_rmse",
        "configuration": ["a", "a", "b", "b", "c", "c"], "status": "ok",
        "test_metric": [0.1, 0.5, 0.2, 0.2, 0.3, 0.3]})  # a: mean 0.3, best single 0.1; b: mean 0.2
    for column in ("protocol", "budget", "hidden", "settings", "grid_size", "spline_order", "shortcut", "activation",
                   "grid_range", "lr", "epochs", "params", "flops", "flops_convention", "time_per_epoch_s"):
        runs[column] = 1
    runs["reference"] = False
    best = tables.best_per_family(tables.summarise(runs)).set_index("model")
    assert best.loc["kan", "configuration"] == "b" and best.loc["kan", "mean"] == pytest.approx(0.2)
    assert bool(best.loc["kan", "best"]) and not bool(best.loc["mlp", "best"])  # lower error wins


@pytest.mark.parametrize("higher, expected", [(True, [50, 50, 70, 70, 70]), (False, [50, 40, 40, 40, 30])])
def test_the_frontier_is_the_best_metric_at_or_below_each_cost(higher, expected):
    costs = pd.Series([3.0, 1.0, 5.0, 2.0, 4.0])
    metrics = pd.Series([70.0, 50.0, 30.0, 40.0, 60.0])
    envelope = tables.frontier(costs, metrics, higher)
    assert envelope.cost.tolist() == [1, 2, 3, 4, 5] and envelope.best.tolist() == expected


FIXTURE = Path(__file__).parent / "fixtures" / "records" / "digits-mlp-s0-60d14c8e79010e9b.json"


def fixture_record(**changes) -> dict:
    return {**json.loads(FIXTURE.read_text()), **changes}


def without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize("content, done", [
    (fixture_record(), True), (fixture_record(status="diverged"), False), (fixture_record(status="failed"), False),
    ({"status": "ok"}, False), (without(fixture_record(), "config_hash"), False),
    (fixture_record(seed=1), False), (fixture_record(config_hash="0" * 16), False),
    (fixture_record(run_id="another"), False), (fixture_record(status="done"), False),
    ("{truncated", False), ("", False), ([], False), (None, False)])
def test_resume_skips_only_an_ok_record_of_this_very_run(tmp_path, content, done):
    record = fixture_record()
    path = record_path(tmp_path, record["run_id"])
    path.parent.mkdir(parents=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert finished_ok(tmp_path, record["run_id"], record["config_hash"], record["seed"]) is done


def test_a_write_interrupted_before_the_rename_leaves_the_old_record(tmp_path, monkeypatch):
    path = tmp_path / "runs" / "r.json"
    atomic_write_json(path, {"status": "ok", "test_metric": 1.0})

    def killed(source, destination):
        raise KeyboardInterrupt  # the process dies between the temp file and the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"status": "failed", "test_metric": None})
    assert json.loads(path.read_text()) == {"status": "ok", "test_metric": 1.0}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp file left behind


def test_a_tuned_familys_table_row_is_its_final_seeds_not_its_best_trial(tmp_path):
    from test_report import write_run

    runs = tmp_path / "runs"
    for trial, value in enumerate([99.0, 80.0]):  # a lucky trial: the best test, one seed
        write_run(runs, f"t{trial}", "kan", 0, value, lr=trial / 10)
    for seed, value in enumerate([85.0, 87.0]):
        write_run(runs, f"f{seed}", "kan", seed, value, lr=0.5)
    for path in runs.glob("*.json"):
        record = json.loads(path.read_text())
        record["config"]["tune"] = {"phase": "final" if path.name.startswith("f") else "trial"}
        path.write_text(json.dumps(record))
    table = tables.comparison_table(runs)
    assert "accuracy **86 ± 1.4** | 2 |" in table and "99" not in table


def test_a_record_is_written_beside_its_final_name_under_a_name_no_reader_takes(tmp_path, monkeypatch):
    """The temporary is in the record's own folder (a rename across file systems is not
    atomic) and never matches *.json (readers glob for it); NaN (a diverged loss) is stored as null;
    the file gets the umask's permissions."""
    seen = []
    real_replace = os.replace

    def watching(source, destination):
        seen.append((Path(source), Path(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", watching)
    path = tmp_path / "runs" / "r.json"
    old = os.umask(0o022)
    try:
        atomic_write_json(path, {"status": "diverged", "loss": float("nan")})
    finally:
        os.umask(old)
    (source, destination), = seen
    assert source.parent == path.parent and destination == path
    assert not source.match("*.json") and source.name.startswith(".")
    assert json.loads(path.read_text())["loss"] is None  # NaN stored as null: strict JSON
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_rerun_never_replaces_an_ok_record(tmp_path, capsys):
    RUN = "d-m-s0-h"  # noqa: N806 (a run id ends in its seed and config hash)

    def record(status: str, value) -> Record:
        fields = {name: None for name in Record.__dataclass_fields__}
        return Record(**{**fields, "run_id": RUN, "config_hash": "h", "status": status, "test_metric": value,
                         "dataset": "d", "model": "m", "metric": "accuracy", "protocol": "val", "seed": 0,
                         "val_metric": value,
                         "hidden": [], "epochs": 1, "params": 1, "config": {},
                         "extra": {}, "environment": {}, "message": "", "split": ""})

    write_record(record("ok", 91.0), tmp_path)
    kept = write_record(record("failed", None), tmp_path)
    assert json.loads(record_path(tmp_path, RUN).read_text())["test_metric"] == 91.0
    assert kept.name == f"{RUN}.json.failed" and json.loads(kept.read_text())["status"] == "failed"
    assert (f"kanfair: kept the ok record {record_path(tmp_path, RUN)}; this run's failed record is {kept}"
            in capsys.readouterr().out)
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.json")) == [f"{RUN}.json"]
    write_record(record("ok", 92.0), tmp_path)  # a good rerun does replace it
    assert json.loads(record_path(tmp_path, RUN).read_text())["test_metric"] == 92.0


def test_a_validation_share_that_cannot_be_stratified_is_refused_naming_the_key():
    """20 rows of 4 classes: a share is possible from 4 held-out rows (0.2) up to 16 (0.8);
    the message gives that range. A class with one row cannot be on both sides."""
    from kanfair.schema import ConfigError

    rows = Task("t", "classification", torch.zeros(20, 2), torch.arange(20) % 4, torch.zeros(4, 2),
                torch.arange(4), out_dim=4)
    for fine in (0.2, 0.5, 0.8):
        trainer.check_validation_split(rows, "val", fine)
    for bad in (0.1, 0.85):
        with pytest.raises(ConfigError) as error:
            trainer.check_validation_split(rows, "val", bad)
        held = 2 if bad == 0.1 else 17
        assert str(error.value) == (
            f"trainer.val_fraction: holds out {held} of 20 training rows; a stratified split needs at "
            "least one row of each of the 4 classes on each side; set it between 0.2 and 0.8, or use "
            "trainer.protocol=kanbefair")
    trainer.check_validation_split(rows, "kanbefair", 0.1)  # no validation split there
    regression = Task("r", "regression", torch.zeros(20, 2), torch.zeros(20, 1), torch.zeros(4, 2),
                      torch.zeros(4, 1), out_dim=1)
    trainer.check_validation_split(regression, "val", 0.05)  # one row each side is enough
    lonely = Task("t", "classification", torch.zeros(20, 2), torch.tensor([0] * 19 + [1]),
                  torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64), out_dim=2)
    with pytest.raises(ConfigError) as error:
        trainer.check_validation_split(lonely, "val", 0.5)
    assert str(error.value) == (
        "trainer.protocol: a class has a single training row, which a stratified validation split "
        "cannot place on both sides; drop that class's row from the data, or use trainer.protocol=kanbefair")
    pair = Task("t", "classification", torch.zeros(20, 2), torch.tensor([0] * 18 + [1] * 2),
                torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64), out_dim=2)
    trainer.check_validation_split(pair, "val", 0.5)  # two rows: one on each side


def test_the_hash_leaves_out_exactly_what_cannot_change_a_run():
    """The value the first releases wrote for this config (a change stops every existing
    sweep from resuming); key order and result-neutral keys do not move it, a
    hyperparameter does; keys added later count only away from their old behaviour; the
    data fingerprint joins under its own key; values JSON cannot hold hash as their text."""
    from kanfair.results import config_hash

    base = {"model": {"name": "mlp", "hidden": [8]}, "trainer": {"lr": 0.001, "rerun": True},
            "paths": {"results_dir": "x"}, "logger": {"name": "none"}, "seed": 1}
    assert config_hash(base) == "5b8f8dad300a7fe0"
    reordered = {"seed": 1, "logger": {"name": "wandb"}, "paths": {"results_dir": "elsewhere"},
                 "trainer": {"rerun": False, "lr": 0.001, "eval_train": "every"}, "model": {"hidden": [8], "name": "mlp"}}
    assert config_hash(reordered) == "5b8f8dad300a7fe0"
    assert config_hash({**base, "trainer": {"lr": 0.01, "rerun": True}}) != config_hash(base)
    unset = config_hash({**base, "dataset": {"name": "d"}})
    assert config_hash({**base, "dataset": {"name": "d", "split": None, "split_seed": 0}}) == unset
    assert config_hash({**base, "dataset": {"name": "d", "split": "kanbefair"}}) != unset
    assert config_hash({**base, "dataset": {"name": "d", "split_seed": 1}}) != unset
    assert config_hash(base, {}) == config_hash(base, None) == "5b8f8dad300a7fe0"
    assert config_hash(base, {"sha256": "ab"}) == config_hash({**base, "data": {"sha256": "ab"}})
    assert config_hash(base, {"sha256": "ab"}) != config_hash(base, {"sha256": "cd"})
    assert config_hash({**base, "extra": Path("a/b")}) == config_hash({**base, "extra": "a/b"})
    evaluated = {**base, "trainer": {"lr": 0.001, "eval_batch_size": 4096}}  # as records hold it
    assert config_hash(evaluated) == "131cd3ffea7bca47"  # the hash of 1b66e04, which hashed the value
    assert config_hash({**base, "trainer": {"lr": 0.001, "eval_batch_size": 1024}}) == "131cd3ffea7bca47"


def test_a_record_is_strict_json_with_non_finite_numbers_as_null(tmp_path):
    """A diverged run's history can hold inf or nan (an RMSE of exploded outputs); a bare
    Infinity or NaN token is not JSON, and strict readers (jq, browsers) refuse the file."""
    path = tmp_path / "r.json"
    atomic_write_json(path, {"status": "diverged", "test_metric": float("nan"),
                             "history": [{"test_rmse": float("inf"), "epoch": 1}], "ok": 1.5})
    text = path.read_text()
    stored = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in the record"))
    assert stored == {"status": "diverged", "test_metric": None, "history": [{"test_rmse": None, "epoch": 1}],
                      "ok": 1.5}
