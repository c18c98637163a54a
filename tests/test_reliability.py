"""Inputs that used to be accepted silently and give a wrong number: each now stops the run
with one line naming the key, exit 2, and nothing written."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import run_train
from test_size import run_size


def table(folder: Path, name: str, **columns) -> Path:
    path = folder / f"{name}.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", ["epochs", "infinite_budget", "overlapping_tasks", "text_regression",
                                  "one_class", "task_on_a_fixed_set"])
def test_a_silently_wrong_input_is_refused_in_one_line(tmp_path, tmp_results, case):
    rows = 40
    overrides, key = {
        "epochs": (["trainer.epochs=0"], "trainer.epochs"),
        "infinite_budget": (["budget=params", "budget.target=inf"], "budget.target"),
        "overlapping_tasks": (["dataset.continual.tasks=[[0,1],[1,2]]"], "dataset.continual.tasks"),
        "text_regression": (["dataset=csv", f"dataset.path={table(tmp_path, 'text', x=range(rows), y=['a', 'b'] * (rows // 2))}",
                             "dataset.target=y", "dataset.task=regression"], "dataset.task"),
        "one_class": (["dataset=csv", f"dataset.path={table(tmp_path, 'one', x=range(rows), y=[1] * rows)}",
                       "dataset.target=y"], "dataset.target"),
        "task_on_a_fixed_set": (["dataset=digits", "dataset.task=regression"], "dataset.task"),
    }[case]
    done = run_train(*overrides, "trainer.epochs=1" if case != "epochs" else "seed=0",
                     f"paths.results_dir={tmp_results}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and f"error: {key}:" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and not (tmp_results / "runs").exists()


@pytest.mark.parametrize("size", ["in_dim=-5", "in_dim=0", "out_dim=0"])
def test_size_refuses_impossible_shapes(size):
    done = run_size("model=kan", size, "out_dim=10" if "out" not in size else "in_dim=10")
    assert done.returncode == 2 and size.split("=")[0] in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("override, key", [("+trainer.epoch=5", "trainer.epoch"), ("+foo.bar=1", "foo")])
def test_a_plus_key_the_schema_does_not_know_is_refused(tmp_results, override, key):
    done = run_train(override, "trainer.epochs=1", f"paths.results_dir={tmp_results}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and f"error: {key}: is not a config key" in lines[0]
    assert not (tmp_results / "runs").exists()


def test_ctrl_c_is_one_line_and_exit_130():
    from kanfair.cli.errors import one_line_errors

    with pytest.raises(SystemExit) as exit_:
        with one_line_errors():
            raise KeyboardInterrupt
    assert exit_.value.code == 130


def test_a_changed_data_file_is_a_new_run_and_a_touched_one_is_not(tmp_path):
    """Resume is keyed on the data too: new bytes at the same path train again (the old
    record stays beside it); the same bytes with a new mtime are skipped. The record's
    fingerprint is checked against hashlib on the file, and a named data set's run id is
    the one it had before fingerprints existed."""
    import hashlib
    import json
    import os

    from conftest import call
    from kanfair.cli import train as train_cli

    data = table(tmp_path, "t", x=range(60), y=[0, 1, 2] * 20)
    results = tmp_path / "results"
    argv = ["train.py", "dataset=csv", f"dataset.path={data}", "dataset.target=y", "model=mlp",
            "model.hidden=[4]", "trainer.epochs=1", f"paths.results_dir={results}"]

    def records() -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]

    assert call(train_cli.main, argv)[0] == 0
    first = records()
    assert len(first) == 1 and first[0]["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert first[0]["data"]["bytes"] == data.stat().st_size
    os.utime(data, (1e9, 1e9))  # touched: same bytes
    assert call(train_cli.main, argv)[0] == 0 and records() == first
    table(tmp_path, "t", x=range(60), y=[2, 1, 0] * 20)  # same path, new content
    assert call(train_cli.main, argv)[0] == 0
    second = records()
    assert len(second) == 2 and first[0] in second
    assert len({r["run_id"] for r in second}) == 2

    named = ["train.py", "dataset=digits", "model=mlp", "model.hidden=[4]", "trainer.epochs=1",
             f"paths.results_dir={results}"]
    assert call(train_cli.main, named)[0] == 0
    digits = next(r for r in records() if r["dataset"] == "digits")
    assert digits["data"] == {"name": "digits", "version": 1}
    from kanfair.results import config_hash
    assert digits["run_id"].endswith(config_hash(digits["config"]))  # as before fingerprints
