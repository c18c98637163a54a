"""logger=wandb: an offline run in the job directory, nothing in the home directory."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def test_wandb_offline_run_lives_in_the_job_dir_and_leaves_home_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "WANDB_BASE_URL": "http://127.0.0.1:9"}  # unreachable
    done = subprocess.run([sys.executable, str(REPO / "train.py"), "logger=wandb", "model=mlp",
                           "dataset=iris", "trainer.epochs=2", f"paths.results_dir={tmp_path / 'r'}"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "r" / "jobs").rglob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    assert runs[0].parent.parent.joinpath("result.json").exists()  # the job dir
    assert not any(home.iterdir())
