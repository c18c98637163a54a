"""kanfair-tune: the same trials for every family, the same sequence for the same seed, and
a study killed midway finishes without repeating a finished trial."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import REPO, records
from kanfair.config import CONFIG_DIR
from kanfair.runner import run_or_stored
from kanfair.config import register_configs
from kanfair.schema import ConfigError
from kanfair.studies.tune import flatten_space, tune

SMALL = ["dataset=iris", "budget.target=500", "tune.trials=4", "tune.seeds=2", "trainer.epochs=2"]


def tune_config(results: Path, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="tune", overrides=[*SMALL, *overrides, f"paths.results_dir={results}"])


def sequence(records) -> list[tuple]:
    return [(r.config["tune"]["trial"], r.config["trainer"]["lr"], r.config["trainer"]["batch_size"],
             r.config["model"].get("degree")) for r in records]


def test_the_same_seed_gives_the_same_trials_and_another_seed_others(tmp_path):
    [first] = tune(tune_config(tmp_path / "a", "model=cheby_kan"))
    [second] = tune(tune_config(tmp_path / "b", "model=cheby_kan"))
    [other] = tune(tune_config(tmp_path / "c", "model=cheby_kan", "tune.sampler_seed=1"))
    assert sequence(first.trials) == sequence(second.trials) and len(first.trials) == 4
    assert [r.test_metric for r in first.trials] == [r.test_metric for r in second.trials]
    assert sequence(other.trials) != sequence(first.trials)


def test_a_study_killed_midway_finishes_without_repeating_a_finished_trial(tmp_path):
    """Killed at the 12th trial, after TPE's 10 random start-up trials, where the sampler
    uses the history: the restarted study draws what an uninterrupted one drew."""
    twelve = ("model=cheby_kan", "tune.trials=12", "tune.seeds=1", "trainer.epochs=1")
    [uninterrupted] = tune(tune_config(tmp_path / "whole", *twelve))
    calls: list[int] = []

    def killed_at_the_last_trial(cfg, job_dir=None, threads=0):
        if cfg.tune.phase == "trial" and cfg.tune.trial == 11:
            raise KeyboardInterrupt  # as a SIGINT/SIGKILL would, mid-trial
        calls.append(cfg.tune.trial)
        return run_or_stored(cfg, job_dir, threads)

    with pytest.raises(KeyboardInterrupt):
        tune(tune_config(tmp_path / "killed", *twelve), runner=killed_at_the_last_trial)
    assert calls == list(range(11))
    [resumed] = tune(tune_config(tmp_path / "killed", *twelve))
    assert [r.config["tune"]["trial"] for r in resumed.trials] == [11]  # 0..10 not repeated
    records = [json.loads(p.read_text()) for p in (tmp_path / "killed" / "runs").glob("*.json")]
    assert sorted(sequence_of(r) for r in records if r["config"]["tune"]["phase"] == "trial") == \
        sorted(sequence(uninterrupted.trials))
    assert resumed.best_params == uninterrupted.best_params


def test_repeats_are_independent_studies_and_repeat_0_is_the_study_without_repeats(tmp_path):
    repeats = tune(tune_config(tmp_path / "three", "model=mlp", "tune.repeats=3"))
    [alone] = tune(tune_config(tmp_path / "one", "model=mlp"))
    assert [result.repeat for result in repeats] == [0, 1, 2] and len({r.study for r in repeats}) == 3
    finals = [run for result in repeats for run in result.finals]
    assert len(finals) == 3 * 2 and all(run.status == "ok" for run in finals)  # repeats x seeds
    assert [(run.config["tune"]["repeat"], run.config["tune"]["sampler_seed"], run.config["trainer"]["val_seed"])
            for run in finals] == [(0, 0, 0)] * 2 + [(1, 1, 1)] * 2 + [(2, 2, 2)] * 2
    assert sequence(repeats[1].trials) != sequence(repeats[0].trials)  # another sampler seed, other draws
    # repeat 0 is the study without repeats: the same runs, ids and all, so earlier studies resume
    assert [r.run_id for r in repeats[0].trials + repeats[0].finals] == [r.run_id for r in alone.trials + alone.finals]
    assert len(list((tmp_path / "three" / "runs").glob("*.json"))) == 3 * (4 + 2)


def sequence_of(record: dict) -> tuple:
    return (record["config"]["tune"]["trial"], record["config"]["trainer"]["lr"],
            record["config"]["trainer"]["batch_size"], record["config"]["model"].get("degree"))


def test_every_family_gets_the_same_number_of_trials_and_a_verdict(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "tune.py"), "-m", "model=mlp,cheby_kan,fourier_kan",
                           *SMALL, f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={tmp_path}/jobs"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    for model in ("mlp", "cheby_kan", "fourier_kan"):
        mine = [r for r in records if r["model"] == model]
        phases = [r["config"]["tune"]["phase"] for r in mine]
        assert phases.count("trial") == 4 and phases.count("final") == 2, model
        assert len({r["config"]["tune"]["study"] for r in mine}) == 1
        assert all(abs(r["params"] - 500) <= 10 for r in mine if r["status"] == "ok")
    assert "At 500 params, over 1 task" in (tmp_path / "report" / "verdict.md").read_text()
    assert f"Verdict ({tmp_path / 'report' / 'verdict.md'}):\nAt 500 params, over 1 task" in done.stdout


@pytest.mark.parametrize("override, key", [("trainer.protocol=kanbefair", "trainer.protocol"),
                                           ("budget=none", "budget")])
def test_tuning_on_the_test_set_or_without_a_budget_is_refused_in_one_line(tmp_path, override, key):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "tune.py"), *SMALL, override,
                           f"paths.results_dir={tmp_path}"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and f"error: {key}:" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_search_space_leaf_must_be_a_range_or_choices():
    assert flatten_space({"trainer": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
                          "model": {"degree": {"choices": [2, 3]}}}) == {
        "trainer.lr": {"low": 1e-4, "high": 1e-2, "log": True}, "model.degree": {"choices": [2, 3]}}
    with pytest.raises(ConfigError) as caught:
        flatten_space({"trainer": {"lr": 0.01}})
    assert caught.value.key == "tune.space.trainer.lr"


def test_a_second_worker_on_a_running_study_is_refused_in_one_line(tmp_path):
    """The first worker is mid-study (here: this test holds its lock, as a running
    kanfair-tune does); a second on the same study stops at once, naming it, before it can
    close the first's running trial; when the first is done the study runs."""
    import fcntl

    from kanfair.studies.tune import study_name

    cfg = tune_config(tmp_path, "model=mlp", "tune.trials=1", "tune.seeds=1", "trainer.epochs=1")
    lock = (tmp_path / "tune.db").with_suffix(f".{study_name(cfg)}.lock")
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match=f"study {study_name(cfg)} is being tuned by another"):
            tune(cfg)
        assert not (tmp_path / "runs").exists()
    assert len(tune(cfg)[0].finals) == 1


def test_three_workers_share_one_study_on_one_machine(tmp_path):
    """tune.workers=3 on the command line makes three joblib jobs of the study (a sweep
    over tune.worker); on sqlite they claim trials under a file lock: exactly tune.trials
    finish, no two with the same values, and the finals are trained once."""
    import optuna

    done = subprocess.run([sys.executable, str(REPO / "scripts" / "tune.py"), "model=mlp", "dataset=iris",
                           "budget.target=500", "trainer.epochs=30", "tune.trials=7", "tune.seeds=2", "tune.workers=3",
                           "hydra/launcher=joblib", "hydra.launcher.n_jobs=3", f"paths.results_dir={tmp_path}"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    finished = [t for t in study.get_trials() if "status" in t.user_attrs]
    assert sorted(t.user_attrs["index"] for t in finished) == list(range(7))
    assert len({json.dumps(t.user_attrs["values"], sort_keys=True) for t in finished}) == 7
    assert {t.user_attrs["worker"] for t in finished} <= {0, 1, 2}
    stored = records(tmp_path).values()
    finals = {r["run_id"] for r in stored if r["config"]["tune"]["phase"] == "final"}
    assert len(finals) == 2 and len(stored) == 9
    trained = [line for line in done.stdout.splitlines()
               if line.startswith("kanfair: ok |") and line.rsplit(" ", 1)[-1] in finals]
    assert len(trained) == 2, done.stdout


def _tune_as_worker(cfg) -> int:
    return len(tune(cfg)[0].trials)


def test_workers_never_train_the_same_values_twice(tmp_path):
    """A space of four combinations and four trials over two workers: each combination is
    trained once (TPE proposes a combination already tried often in so small a space)."""
    import multiprocessing

    from omegaconf import OmegaConf

    space = {"trainer": {"batch_size": {"choices": [16, 32]}}, "model": {"activation": {"choices": ["relu", "tanh"]}}}
    configs = []
    for worker in range(2):
        cfg = tune_config(tmp_path, "model=mlp", "tune.trials=4", "tune.seeds=1", "trainer.epochs=1", "tune.workers=2",
                          f"tune.worker={worker}")
        OmegaConf.update(cfg, "tune.space", space, merge=False)
        configs.append(cfg)
    # spawned, not forked: a fork of a process whose torch has run OpenMP threads can hang
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert sum(pool.map(_tune_as_worker, configs)) == 4
    trained = [(r["config"]["trainer"]["batch_size"], r["config"]["model"]["activation"])
               for r in records(tmp_path).values() if r["config"]["tune"]["phase"] == "trial"]
    assert sorted(trained) == [(16, "relu"), (16, "tanh"), (32, "relu"), (32, "tanh")]


def test_workers_on_the_command_line_become_a_sweep_over_the_worker_index():
    from kanfair.cli.tune import one_job_per_worker

    assert one_job_per_worker(["tune", "model=mlp", "tune.workers=3"]) == [
        "tune", "-m", "model=mlp", "tune.workers=3", "tune.worker=range(0,3)"]
    assert one_job_per_worker(["tune", "-m", "tune.workers=2"]) == ["tune", "-m", "tune.workers=2",
                                                                    "tune.worker=range(0,2)"]
    for unchanged in (["tune", "tune.workers=1"], ["tune", "tune.workers=3", "tune.worker=1"], ["tune", "model=mlp"]):
        assert one_job_per_worker(unchanged) == unchanged


@pytest.mark.parametrize("override, key", [("tune.worker=3", "tune.worker"), ("tune.heartbeat_s=0", "tune.heartbeat_s"),
                                           ("tune.storage=mysql://u@h/db", "tune.storage")])
def test_a_worker_index_out_of_range_or_a_storage_workers_cannot_share_is_refused(tmp_path, override, key):
    from kanfair.config import validate

    with pytest.raises(ConfigError, match=key):
        validate(tune_config(tmp_path, "model=mlp", "tune.workers=3", override))


def _open_storage(results: str, barrier) -> str:
    from omegaconf import OmegaConf
    from kanfair.studies.tune import storage_url

    barrier.wait()
    try:
        storage_url(OmegaConf.create({"tune": {"storage": None}, "paths": {"results_dir": results}}))
        return "ok"
    except ConfigError as error:
        return str(error)


def test_workers_opening_a_fresh_storage_at_once_all_get_it(tmp_path):
    """A fresh sweep's first jobs open its new sqlite storage together; creating its tables
    twice at once failed in SQLAlchemy ('table trial_values already exists')."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        barrier = context.Manager().Barrier(4)
        with context.Pool(4) as pool:
            said = pool.starmap(_open_storage, [(str(tmp_path / str(attempt)), barrier)] * 4)
        assert said == ["ok"] * 4


def test_a_config_error_crosses_a_process_boundary_whole():
    """A joblib worker pickles the error it raises: the user must get its one line."""
    import pickle

    error = pickle.loads(pickle.dumps(ConfigError("tune.storage", "cannot open it", "give a URL")))
    assert (error.key, error.problem, error.fix) == ("tune.storage", "cannot open it", "give a URL")


KNOB_FAMILIES = [(name, "dataset=iris", 300) for name in
                 ("kan", "bspline_mlp", "bspline_first_mlp", "fourier_kan", "rbf_kan", "cheby_kan")]
KNOB_FAMILIES.append(("rational_kan", "dataset=wine", 200))  # on iris every group count fits


@pytest.mark.parametrize("model, dataset, target", KNOB_FAMILIES)
def test_each_trial_trains_the_knob_value_it_sampled(tmp_path, model, dataset, target):
    """At these budgets the matcher (budget.vary=width_grid, the old default) would have
    moved the sampled knob for some draws (checked first); now the record of every trial
    holds the knob value of its Optuna trial, and the study's finals train its best."""
    import itertools

    import optuna

    from kanfair.config import validate
    from kanfair.data import load_task
    from kanfair.models import FAMILIES
    from kanfair.studies.tune import KnobRule, storage_address

    from omegaconf import OmegaConf

    cfg = tune_config(tmp_path, f"model={model}", dataset, f"budget.target={target}", "tune.trials=6",
                      "tune.seeds=1", "trainer.epochs=1")
    knob = f"model.{FAMILIES[model].knob}"
    space = flatten_space(OmegaConf.to_container(cfg.tune.space, resolve=True))
    rule = KnobRule.of(validate(cfg), load_task(validate(cfg).dataset, validate(cfg).paths.data_dir), space)
    grid = {k: (s["choices"] if "choices" in s else range(s["low"], s["high"] + 1))
            for k, s in space.items() if k.startswith("model.")}
    draws = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    assert not all(rule.fits(draw) for draw in draws)  # the old matcher would have moved some
    [result] = tune(cfg)
    study = optuna.load_study(study_name=result.study, storage=storage_address(cfg))
    counted = sorted((t for t in study.get_trials() if "index" in t.user_attrs), key=lambda t: t.user_attrs["index"])
    assert len(counted) == 6 == len(result.trials)
    for trial, record in zip(counted, result.trials):
        sampled = trial.params[knob]
        sampled = json.loads(sampled) if isinstance(sampled, str) else sampled
        assert record.model_spec[knob.split(".")[1]] == sampled == record.config["model"][knob.split(".")[1]]
    assert all(f.model_spec[knob.split(".")[1]] == result.best_params[knob] for f in result.finals)
