"""kanfair as an installed tool: console commands, packaged configs, user config folders."""
from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command, words", [
    ("kanfair-train", ["kanfair-train", "== Configuration groups ==", "model: ", "rational_kan"]),
    ("kanfair-size", ["kanfair-size", "== Configuration groups ==", "budget: flops, none, params"]),
    ("kanfair-report", ["usage: kanfair-report", "--runs", "--published"]),
    ("kanfair-data", ["usage: kanfair-data", "list", "prepare"]),
    ("kanfair-tune", ["kanfair-tune", "== Configuration groups ==", "search: ", "trials: 20"]),
    ("kanfair-plan", ["usage: kanfair-plan", "--reprobe", "--compare"]),
])
def test_each_console_command_prints_its_usage(command, words):
    done = subprocess.run([str(BIN / command), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for word in words:
        assert word in done.stdout


def write_user_folder(folder: Path) -> None:
    """A user's project: a table, a model factory, and configs that build on kanfair's."""
    files = {
        "my_configs/dataset/my_table.yaml": "defaults:\n  - csv\n  - _self_\n\npath: my_table.csv\ntarget: label\n",
        "my_configs/model/my_net.yaml": "defaults:\n  - custom\n  - _self_\n\ntarget: my_models:make_net\nhidden: [16]\n",
        "my_configs/experiment/my_study.yaml": textwrap.dedent("""\
            # @package _global_
            defaults:
              - override /dataset: my_table
              - override /budget: params
            budget:
              target: 1000
            trainer:
              epochs: 2
            hydra:
              mode: MULTIRUN
              sweeper:
                params:
                  model: my_net,mlp
            """),
        "my_models.py": textwrap.dedent("""\
            from torch import nn
            def make_net(in_dim, out_dim, hidden):
                return nn.Sequential(nn.Linear(in_dim, hidden[0]), nn.Tanh(), nn.Linear(hidden[0], out_dim))
            """),
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    x = np.random.default_rng(0).normal(size=(300, 4))
    table = pd.DataFrame(x, columns=[f"f{i}" for i in range(4)]).assign(label=(x[:, 0] > 0).astype(int))
    table.to_csv(folder / "my_table.csv", index=False)


def test_a_user_experiment_in_a_config_dir_outside_the_repository_runs_and_resumes(tmp_path):
    write_user_folder(tmp_path)
    command = [sys.executable, str(REPO / "train.py"), "--config-dir", "my_configs", "experiment=my_study"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "runs").glob("*.json")]
    assert sorted(r["model"] for r in records) == ["custom", "mlp"]
    assert all(r["status"] == "ok" and abs(r["params"] - 1000) <= 20 for r in records)
    custom = next(r for r in records if r["model"] == "custom")
    assert custom["model_spec"]["target"] == "my_models:make_net" and custom["dataset"] == "my_table"
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert again.returncode == 0 and again.stdout.count("kanfair: skipped") == 2


@pytest.mark.slow
def test_a_non_editable_install_of_a_clean_clone_runs_from_an_empty_folder(tmp_path):
    """A fresh venv whose only kanfair is the wheel built from a clean clone. Its
    dependencies come from this venv through a .pth file (not reinstalled: gigabytes)."""
    clone, env, work = tmp_path / "clone", tmp_path / "env", tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)  # pip: through the .pth
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", str(clone)], check=True, timeout=600)
    where = subprocess.run([str(env / "bin" / "python"), "-c", "import kanfair; print(kanfair.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(site))
    work.mkdir()
    train = subprocess.run([str(env / "bin" / "kanfair-train"), "model=mlp", "dataset=digits",
                            "trainer.epochs=2"], capture_output=True, text=True, cwd=work, timeout=600)
    assert train.returncode == 0, train.stderr
    assert str(work / "results" / "runs") in train.stdout.splitlines()[0]
    (record,) = (work / "results" / "runs").glob("*.json")
    assert json.loads(record.read_text())["status"] == "ok"
    report = subprocess.run([str(env / "bin" / "kanfair-report"), "--runs", "results/runs", "--out", "report"],
                            capture_output=True, text=True, cwd=work, timeout=600)
    assert report.returncode == 0, report.stderr
    assert "| digits | mlp |" in (work / "report" / "table.md").read_text()
