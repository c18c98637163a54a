"""Sweeps on a real SLURM cluster and one study tuned by several workers on a real
PostgreSQL server (issue 42). `scripts/cluster.sh start` brings both up on this machine
(as root); without them these tests skip, saying so, and with KANFAIR_REQUIRE_CLUSTER=1
(set by .ci/run) they fail instead."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, records, run_train

pytestmark = pytest.mark.cluster

POSTGRES = os.environ.get("KANFAIR_TEST_POSTGRES", "postgresql+psycopg2://kanfair:kanfair@127.0.0.1:5432/kanfair")
TUNE = [sys.executable, str(REPO / "scripts" / "tune.py")]


def unavailable(reason: str) -> None:
    if os.environ.get("KANFAIR_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"{reason}, and KANFAIR_REQUIRE_CLUSTER=1 asks for it: start it with scripts/cluster.sh start")
    pytest.skip(f"{reason} (scripts/cluster.sh start brings up SLURM and PostgreSQL, as root)")


@pytest.fixture(scope="module")
def slurm() -> None:
    if shutil.which("sbatch") is None:
        unavailable("no SLURM here: sbatch is not on the PATH")
    node = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if node.returncode != 0 or not {"idle", "mixed", "allocated"} & set(node.stdout.split()):
        unavailable(f"SLURM's node is not up (sinfo: {(node.stdout + node.stderr).strip()!r})")
    if subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True).returncode != 0:
        unavailable("SLURM runs without accounting (sacct fails): a cancelled job would never be seen as ended")


@pytest.fixture
def postgres() -> str:
    """The URL of a fresh, empty database, dropped afterwards."""
    try:
        import sqlalchemy

        admin = sqlalchemy.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"kanfair_test_{uuid.uuid4().hex[:12]}"
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    except Exception as error:  # no driver, no server, no rights
        unavailable(f"no PostgreSQL at {POSTGRES} ({type(error).__name__}: {str(error).splitlines()[0]})")
    yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()



def job_logs(folder: Path) -> str:
    return "".join(p.read_text() for p in folder.rglob("*_log.*"))


def test_a_sweep_on_slurm_writes_the_records_of_the_same_sweep_under_joblib(tmp_path, slurm):
    sweep = ["model=mlp,kan", "seed=0,1", "dataset=iris", "trainer.epochs=5", "trainer.threads=1"]
    on_slurm = run_train("-m", "hydra/launcher=kanfair_slurm", *sweep, f"paths.results_dir={tmp_path / 'slurm'}",
                         f"hydra.launcher.submitit_folder={tmp_path / 'submitit'}/%j")
    assert on_slurm.returncode == 0, on_slurm.stderr
    on_joblib = run_train("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *sweep,
                          f"paths.results_dir={tmp_path / 'joblib'}")
    assert on_joblib.returncode == 0, on_joblib.stderr
    slurm_records, joblib_records = records(tmp_path / "slurm"), records(tmp_path / "joblib")
    assert len(slurm_records) == 4 and slurm_records.keys() == joblib_records.keys()
    for run_id, record in slurm_records.items():
        twin = joblib_records[run_id]
        assert record["status"] == twin["status"] == "ok"
        assert "slurm" in record["environment"] and "slurm" not in twin["environment"]
        assert record["environment"]["threads"] == twin["environment"]["threads"] == 1
        for key in ("test_metric", "val_metric", "train_metric", "final_test"):
            assert record[key] == pytest.approx(twin[key], rel=1e-6), (run_id, key)
        assert [r["running_train_loss"] for r in record["history"]] == pytest.approx(
            [r["running_train_loss"] for r in twin["history"]], rel=1e-6)


def test_a_cancelled_job_of_a_slurm_sweep_is_all_the_rerun_runs(tmp_path, slurm):
    """Jobs run one at a time (array_parallelism=1); the second is cancelled while it
    trains. The sweep ends with one line and a non-zero exit; the other jobs' records are
    written; the same command again runs only the cancelled job's run."""
    name = f"kanfair-test-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, str(REPO / "train.py"), "-m", "hydra/launcher=kanfair_slurm",
               "hydra.launcher.array_parallelism=1", f"hydra.launcher.name={name}", "model=mlp", "seed=0,1,2,3",
               "dataset=digits", "trainer.epochs=60", "trainer.threads=1", f"paths.results_dir={tmp_path}"]
    sweep = subprocess.Popen([*command, f"hydra.launcher.submitit_folder={tmp_path / 'first'}/%j"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    cancelled = ""
    while not cancelled:
        assert time.time() < deadline, "no second job ran within 2 minutes"
        running = subprocess.run(["squeue", "-h", "-t", "R", "-n", name, "-o", "%i"], capture_output=True,
                                 text=True).stdout.split()
        if len(records(tmp_path)) == 1 and running and not running[0].endswith("_0"):
            cancelled = running[0]
            subprocess.run(["scancel", cancelled], check=True)
        time.sleep(0.1)
    _, err = sweep.communicate(timeout=300)
    while subprocess.run(["squeue", "-h", "-n", name], capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline + 300, "the sweep's other jobs did not end"
        time.sleep(0.5)
    assert sweep.returncode != 0
    error = [line for line in err.splitlines() if line.startswith("kanfair: error")]
    assert len(error) == 1 and "CANCELLED" in error[0] and "run the same command again" in error[0], err
    before = {p.name: p.read_bytes() for p in (tmp_path / "runs").glob("*.json")}
    assert len(before) == 3

    rerun = subprocess.run([*command, f"hydra.launcher.submitit_folder={tmp_path / 'rerun'}/%j"], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = {p.name: p.read_bytes() for p in (tmp_path / "runs").glob("*.json")}
    assert len(after) == 4 and all(after[name] == content for name, content in before.items())
    logs = job_logs(tmp_path / "rerun")
    assert logs.count("kanfair: skipped") == 3 and logs.count("kanfair: ok |") == 1


def test_a_job_signalled_before_its_time_limit_is_requeued_and_its_record_says_so(tmp_path, slurm):
    """SLURM's pre-timeout signal (USR2, sent here by hand while the run trains) makes
    submitit requeue the job (hydra/launcher=kanfair_slurm sets max_num_timeout); the run
    starts again, the sweep ends well, and the record counts the requeue."""
    name = f"kanfair-test-{uuid.uuid4().hex[:8]}"
    sweep = subprocess.Popen([sys.executable, str(REPO / "train.py"), "-m", "hydra/launcher=kanfair_slurm",
                              f"hydra.launcher.name={name}", f"hydra.launcher.submitit_folder={tmp_path / 'jobs'}/%j",
                              "model=mlp", "dataset=digits", "trainer.epochs=1500", "trainer.threads=1",
                              f"paths.results_dir={tmp_path}"], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline, job = time.time() + 120, ""
    while not job:
        assert time.time() < deadline, "the job never started training"
        if "kanfair: run " in job_logs(tmp_path / "jobs"):
            job = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True).stdout.strip()
        time.sleep(0.2)
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    _, err = sweep.communicate(timeout=300)  # the requeued job waits cred_expire (scripts/cluster.sh: 10 s)
    assert sweep.returncode == 0, err
    [record] = records(tmp_path).values()
    assert record["status"] == "ok" and record["environment"]["slurm"] == {"job_id": job, "requeued": 1}
    assert "Exiting gracefully after preemption/timeout" in job_logs(tmp_path / "jobs")


def tune_workers(tmp_path: Path, url: str, workers: int, *extra: str) -> list[list[str]]:
    base = [*TUNE, "model=mlp", "dataset=iris", "budget.target=500", "trainer.epochs=400", "tune.trials=6",
            "tune.seeds=2", f"tune.workers={workers}", "tune.heartbeat_s=1", f"tune.storage={url}",
            "trainer.threads=1", f"paths.results_dir={tmp_path}", *extra]
    return [[*base, f"tune.worker={worker}"] for worker in range(workers)]


def test_three_workers_on_one_postgresql_study_survive_a_killed_worker(tmp_path, postgres):
    """Worker 1 is killed while it trains a trial: its trial is closed once its heartbeat
    stops, and drawn again; the study ends with exactly tune.trials finished trials, no
    two with the same values, and the finals trained once."""
    import optuna

    workers = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True) for command in tune_workers(tmp_path, postgres, 3)]
    deadline = time.time() + 120
    killed = None
    while killed is None:
        assert time.time() < deadline, "worker 1 never trained a trial"
        names = optuna.get_all_study_names(postgres) if workers[1].poll() is None else []
        trials = optuna.load_study(study_name=names[0], storage=postgres).get_trials() if names else []
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("worker") == 1]
        if running:
            killed = running[0].number
            time.sleep(0.5)  # into its training
            os.killpg(workers[1].pid, signal.SIGKILL)
        time.sleep(0.1)
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert workers[0].returncode == 0 and workers[2].returncode == 0, outputs[0] + outputs[2]

    study = optuna.load_study(study_name=optuna.get_all_study_names(postgres)[0], storage=postgres)
    finished = [t for t in study.get_trials() if "status" in t.user_attrs]
    assert len(finished) == 6
    assert sorted(t.user_attrs["index"] for t in finished) == list(range(6))
    assert len({json.dumps(t.user_attrs["values"], sort_keys=True) for t in finished}) == 6
    assert study.trials[killed].state == optuna.trial.TrialState.FAIL and "status" not in study.trials[killed].user_attrs
    finals = {r["run_id"]: r for r in records(tmp_path).values() if r["config"]["tune"]["phase"] == "final"}
    assert sorted(r["seed"] for r in finals.values()) == [0, 1]
    trained = [line for output in outputs for line in output.splitlines()
               if line.startswith("kanfair: ok |") and line.rsplit(" ", 1)[-1] in finals]
    assert len(trained) == 2, trained


def test_four_workers_opening_a_fresh_postgresql_database_at_once_all_succeed(tmp_path, postgres):
    """Optuna's first connection creates its tables; four at once on an empty PostgreSQL
    database race ("CREATE TYPE studydirection", optuna issue 1092) unless one creates
    them first. Each process waits for the same instant, then opens the storage."""
    start = time.time() + 3
    opener = (f"import time, optuna; from omegaconf import OmegaConf; from kanfair.studies.tune import storage_url\n"
              f"cfg = OmegaConf.create({{'tune': {{'storage': '{postgres}'}}, 'paths': {{'results_dir': '.'}}}})\n"
              f"time.sleep(max(0, {start} - time.time()))\n"
              f"optuna.create_study(study_name='s', storage=storage_url(cfg), load_if_exists=True)\n")
    openers = [subprocess.Popen([sys.executable, "-c", opener], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [o.communicate(timeout=120)[0] for o in openers]
    assert [o.returncode for o in openers] == [0, 0, 0, 0], "\n".join(outputs)
