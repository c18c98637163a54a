"""Sweeps: resume by config hash, parallel jobs, and a sweep killed with SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, compose_config, records, run_train
from kanfair import runner

SWEEP = ["-m", "hydra/launcher=joblib", "model=kan,mlp", "seed=0,1", "dataset=digits",
         "trainer.epochs=2"]



def test_parallel_sweep_resumes_and_restores_exactly_what_is_missing(tmp_path):
    out = [*SWEEP, f"paths.results_dir={tmp_path}"]
    assert run_train(*out).returncode == 0
    first = records(tmp_path)
    assert len(first) == 4 and {r["status"] for r in first.values()} == {"ok"}
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}

    again = run_train(*out)
    assert again.returncode == 0 and again.stdout.count("kanfair: skipped") == 4
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")} == stamps

    lost = sorted(first)[0]
    (tmp_path / "runs" / f"{lost}.json").unlink()
    third = run_train(*out)
    assert third.stdout.count("kanfair: skipped") == 3 and third.stdout.count("kanfair: ok") == 1
    assert set(records(tmp_path)) == set(first) and records(tmp_path)[lost]["config_hash"] == \
        first[lost]["config_hash"]


def test_rerun_forces_a_run_under_the_same_hash(tmp_results):
    args = ["model=mlp", "dataset=iris", "trainer.epochs=1", f"paths.results_dir={tmp_results}"]
    first = runner.run(compose_config(*args))
    assert runner.run(compose_config(*args)) is None
    forced = runner.run(compose_config(*args, "trainer.rerun=true"))
    assert forced is not None and forced.run_id == first.run_id


def test_a_sweep_killed_midway_then_restarted_has_every_record_exactly_once(tmp_path):
    out = ["-m", "model=mlp", "seed=0,1,2,3,4,5", "dataset=digits", "trainer.epochs=40",
           f"paths.results_dir={tmp_path}"]
    sweep = subprocess.Popen([sys.executable, str(REPO / "train.py"), *out], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.time() + 600  # only a hung sweep reaches this; a loaded machine is just slower
    while len(records(tmp_path)) < 2 if (tmp_path / "runs").exists() else True:
        assert time.time() < deadline and sweep.poll() is None, "the sweep ended before the kill"
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    done_before = set(records(tmp_path))
    assert 2 <= len(done_before) < 6

    restart = run_train(*out)
    assert restart.returncode == 0, restart.stderr
    final = records(tmp_path)
    assert len(final) == 6 and {r["status"] for r in final.values()} == {"ok"}
    assert sorted(r["seed"] for r in final.values()) == [0, 1, 2, 3, 4, 5]
    assert restart.stdout.count("kanfair: skipped") == len(done_before)


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_jobs(tmp_path):
    done = run_train("-m", "hydra/launcher=submitit_local", "model=mlp", "seed=0,1", "dataset=iris",
                     "trainer.epochs=1", f"paths.results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    assert len(records(tmp_path)) == 2


def test_a_record_written_by_an_earlier_version_still_resumes(tmp_path):
    """tests/fixtures/records/ holds a record written by commit 8edb5d3 (before data
    fingerprints and trainer.eval_train) for this very command; the command must skip it,
    leaving the file byte for byte, and write nothing else."""
    import shutil

    from conftest import call
    from kanfair.cli import train as train_cli

    fixture = REPO / "tests" / "fixtures" / "records" / "digits-mlp-s0-60d14c8e79010e9b.json"
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(fixture, runs)
    status, _ = call(train_cli.main, ["train.py", "dataset=digits", "model=mlp", "model.hidden=[8]",
                                      "trainer.epochs=2", "seed=0", f"paths.results_dir={tmp_path}"])
    assert status == 0
    assert [p.name for p in runs.iterdir()] == [fixture.name]
    assert (runs / fixture.name).read_bytes() == fixture.read_bytes()


@pytest.mark.parametrize("bad", ["bare ok status", "another schema", "another seed"])
def test_a_file_that_is_not_this_runs_record_is_set_aside_and_the_run_runs(tmp_path, bad):
    """Resume trusts only a record of this very run: a bare {"status": "ok"}, a record of
    another schema, or another seed's record under this run's name is moved aside (named
    in one line) and the run runs; every other file of the store stays as it was."""
    fixture = REPO / "tests" / "fixtures" / "records" / "digits-mlp-s0-60d14c8e79010e9b.json"
    record = json.loads(fixture.read_text())
    content = {"bare ok status": {"status": "ok"},
               "another schema": {k: v for k, v in record.items() if k != "history"},
               "another seed": {**record, "seed": 1, "run_id": record["run_id"].replace("-s0-", "-s1-")}}[bad]
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / fixture.name).write_text(json.dumps(content))
    bystander = runs / "digits-kan-s0-0123456789abcdef.json"
    bystander.write_text(fixture.read_text())
    out = subprocess.run([sys.executable, str(REPO / "train.py"), "dataset=digits", "model=mlp", "model.hidden=[8]",
                          "trainer.epochs=2", "seed=0", f"paths.results_dir={tmp_path}"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    aside = [line for line in out.stdout.splitlines() if "set aside" in line]
    assert len(aside) == 1 and aside[0].startswith(f"kanfair: set aside {runs / fixture.name} as ")
    assert "kanfair: ok | mlp" in out.stdout
    assert sorted(p.name for p in runs.iterdir()) == sorted([fixture.name, fixture.name + ".invalid", bystander.name])
    assert json.loads((runs / (fixture.name + ".invalid")).read_text()) == content
    assert json.loads((runs / fixture.name).read_text())["status"] == "ok"
    assert bystander.read_text() == fixture.read_text()
