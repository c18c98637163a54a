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
