"""scripts/plan.py: the sweep's own jobs, the done count, the estimate's arithmetic, the
probe cache, and the sweeper's random sample."""
from __future__ import annotations

import contextlib
import io
import json
import re
import types
from pathlib import Path

import pytest
import torch

from conftest import run_train
from kanfair.cli.plan import main, sweep_configs
from kanfair.runner import run_key
from kanfair.config import DatasetConfig, PDEConfig, TrainerConfig
from kanfair.data import Task, load_task
from kanfair.studies.plan import ENOUGH, Probe, RunShape, estimate_seconds, probe_model, run_shape, scored_epochs, wall_seconds

# a slice of the paper's FMNIST grid on digits, 1 epoch: 3 random jobs of 60
SWEEP = ["experiment=kanbefair_fmnist", "dataset=digits", "trainer.epochs=1",
         "hydra.sweeper.sample=3", "hydra.sweeper.sample_seed=1"]


def plan(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as stop:
            status = stop.code
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def probe_cache(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("KANFAIR_CACHE", str(path))
    return path / "probes.json"


def test_the_planned_runs_are_the_sweeps_runs_and_count_as_done_once_written(tmp_path):
    overrides = SWEEP + [f"paths.results_dir={tmp_path / 'results'}"]
    _, jobs = sweep_configs(overrides)
    planned = {run_key(cfg)[0] for _, cfg in jobs}
    assert len(jobs) == len(planned) == 3
    status, out, _ = plan(overrides)
    assert status == 0 and "runs: 3; done: 0; to run: 3" in out

    swept = run_train("-m", *overrides)
    assert swept.returncode == 0, swept.stderr[-2000:]
    assert {p.stem for p in (tmp_path / "results" / "runs").glob("*.json")} == planned
    status, out, _ = plan(overrides)
    assert status == 0 and "runs: 3; done: 3; to run: 0" in out
    _, compared, _ = plan(overrides + ["--compare"])
    assert re.search(r"3 done runs: estimated [\d,]+ s, measured [\d,]+ s", compared)
    assert all(run_id in compared for run_id in planned)


def test_jobs_composed_from_a_shared_base_equal_jobs_composed_whole():
    """The planner applies value overrides to one composition per group choice; the ids
    must be those of composing each job from scratch (what the launcher does)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra import initialize_config_dir, compose
    from kanfair.config import CONFIG_DIR

    _, jobs = sweep_configs(["experiment=kanbefair_fmnist", "dataset=digits", "trainer.lr=3e-4"])
    assert len(jobs) == 60
    GlobalHydra.instance().clear()
    for overrides, cfg in jobs[::7]:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            whole = compose("train", overrides=[o for o in overrides if not o.startswith("hydra")])
        assert run_key(cfg) == run_key(whole), overrides


def test_the_estimate_counts_steps_scored_rows_and_data():
    shape = RunShape(epochs=3, batch_size=10, train_rows=[25], scored_rows_per_epoch=12,
                     scored_rows_once=[25])
    probe = Probe(step_s=2.0, eval_row_s=0.5)
    # 3 epochs x 3 steps x 2 s, (3 x 12 + 25 once) rows x 0.5 s, 7 s of data
    assert estimate_seconds(shape, probe, 7.0) == 18 + 30.5 + 7
    every = RunShape(3, 10, [25], 12 + 25, [])
    assert estimate_seconds(every, probe, 0.0) == 18 + 3 * 37 * 0.5
    tasks = RunShape(2, 10, [20, 5], 0, [4, 9])  # 2 epochs x (2 + 1) steps
    assert estimate_seconds(tasks, probe, 0.0) == 12 + 13 * 0.5


def test_only_the_scored_epochs_count_their_rows():
    """trainer.eval_every=3 over 7 epochs scores epochs 3, 6 and 7 (as fit does: test_pde)."""
    assert scored_epochs(TrainerConfig(epochs=7, eval_every=3)) == 3
    assert scored_epochs(TrainerConfig(epochs=6, eval_every=3)) == 2
    shape = RunShape(7, 10, [10], 4, [], scored_epochs=3)
    assert estimate_seconds(shape, Probe(step_s=1.0, eval_row_s=0.5), 0.0) == 7 + 3 * 4 * 0.5


def test_a_pde_run_is_one_full_batch_step_an_epoch_scoring_points_and_grid():
    pde = PDEConfig(interior=50, boundary=20, eval_grid=5, weights={"residual": 0.01, "boundary": 1.0})
    task = load_task(DatasetConfig(name="pde_poisson2d", pde=pde))
    shape = run_shape(task, TrainerConfig(epochs=10, eval_every=4), [])
    assert (shape.batch_size, shape.train_rows, shape.scored_rows_per_epoch, shape.scored_epochs) == (
        50, [50], 50 + 25, 3)
    conf = types.SimpleNamespace(trainer=TrainerConfig(device="cpu", optimizer="lbfgs"), seed=0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    probe = probe_model(model, task, conf)
    assert probe.step_s > 0 and probe.eval_row_s > 0


def test_a_float64_run_is_probed_in_float64():
    """The probe moves every tensor as the trainer does (it once scored float32 rows with a
    float64 model and failed)."""
    task = load_task(DatasetConfig(name="iris"))
    conf = types.SimpleNamespace(trainer=TrainerConfig(device="cpu", dtype="float64"), seed=0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    probe = probe_model(model, task, conf)
    assert probe.step_s > 0 and probe.eval_row_s > 0


def test_the_run_shape_follows_the_protocol_and_the_tasks():
    labels = torch.arange(50) % 5
    task = Task("t", "classification", torch.randn(50, 2), labels, torch.randn(20, 2),
                torch.arange(20) % 5, out_dim=5)
    val = run_shape(task, TrainerConfig(protocol="val", val_fraction=0.2, epochs=4), [])
    assert (val.train_rows, val.scored_rows_per_epoch, val.epochs) == ([40], 10 + 20, 4)
    paper = run_shape(task, TrainerConfig(protocol="kanbefair", eval_train="every"), [])
    assert (paper.train_rows, paper.scored_rows_per_epoch) == ([50], 20 + 50)
    continual = run_shape(task, TrainerConfig(), [[0, 1], [2], [3, 4]])
    assert continual.train_rows == [20, 10, 20]
    assert continual.scored_rows_once == [8, 12, 20]  # the test rows of the tasks seen


def test_wall_time_hands_each_run_in_order_to_the_first_free_worker():
    assert wall_seconds([1.0, 1.0, 3.0], 2) == 4.0  # not 3 (longest first), not 2.5 (even split)
    assert wall_seconds([3.0, 1.0, 1.0, 1.0], 2) == 3.0
    assert wall_seconds([1.0, 2.0, 3.0], 1) == 6.0
    assert wall_seconds([], 4) == 0.0


class _Clock:
    """perf_counter for the planner's own timings (a data set's load): a quarter second
    each, so that two estimates differ only where their probes do."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.25
        return self.now


def test_probes_are_cached_per_machine_and_taken_again_on_request(tmp_path, probe_cache, monkeypatch):
    import kanfair.cli.plan as plan_cli

    monkeypatch.setattr(plan_cli, "time", _Clock())
    monkeypatch.setattr(plan_cli, "probe_model", lambda model, task, conf: Probe(0.01, 1e-5))  # a steady machine
    overrides = SWEEP + [f"paths.results_dir={tmp_path / 'results'}"]
    probe_cache.parent.mkdir(parents=True)
    probe_cache.write_text(json.dumps({"another machine": {"a shape": {"step_s": 1, "eval_row_s": 1}}}))
    _, first, _ = plan(overrides)
    assert re.search(r"probed 3 model shapes in \d+ s; 0 from the cache", first)
    for _ in range(ENOUGH - 1):  # a shape is probed again until it has ENOUGH probes
        _, again, _ = plan(overrides)
        assert re.search(r"probed 3 model shapes in \d+ s; 0 from the cache", again)
    _, second, _ = plan(overrides)
    assert re.search(r"probed 1 model shapes in \d+ s; 2 from the cache", second)  # 1: the speed check
    compute = lambda out: re.search(r"compute: .*", out).group(0)  # noqa: E731
    assert compute(first) == compute(second)  # the same estimate: the clock is steady
    _, third, _ = plan(overrides + ["--reprobe"])
    assert re.search(r"probed 3 model shapes in \d+ s; 0 from the cache", third)
    entries = json.loads(probe_cache.read_text())
    assert "another machine" in entries and len(entries) == 2  # others' probes are kept

    probe_cache.write_text("{not json")  # a damaged cache: probe again and rewrite it
    _, fourth, _ = plan(overrides)
    assert "probed 3 model shapes" in fourth and len(json.loads(probe_cache.read_text())) == 1


def test_the_launcher_sets_workers_and_threads(tmp_path):
    overrides = SWEEP + [f"paths.results_dir={tmp_path / 'results'}"]
    _, basic, _ = plan(overrides)
    _, joblib, _ = plan(overrides + ["hydra/launcher=joblib", "hydra.launcher.n_jobs=3"])
    assert "wall with basic (one job at a time)" in basic
    assert re.search(r"wall with joblib \(3 jobs x 1 threads\)", joblib)
    # a plain -m sweep (no experiment setting hydra.mode) runs its jobs with the same threads
    plain = ["model=mlp,kan", "dataset=iris", "trainer.epochs=1", f"paths.results_dir={tmp_path / 'results'}"]
    _, two_jobs, _ = plan(plain + ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert "wall with joblib (2 jobs x 1 threads)" in two_jobs


@pytest.mark.parametrize("overrides, message", [
    (["model=kann"], "unknown model 'kann'"),
    (["experiment=kanbefair_fmnist", "hydra.sweeper.sample=0"], "hydra.sweeper.sample=0"),
    (["-m", "model=kan,mlp", "budget=params", "budget.target=3"], "model=kan"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_and_exit_2(overrides, message, tmp_path):
    status, out, err = plan(overrides + [f"paths.results_dir={tmp_path}"])
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_a_grid_extension_run_is_probed_at_every_stage(tmp_path):
    """Each stage has its own model size, so its own step time: one probe per stage."""
    base = ["model=kan", "model.hidden=[2]", "dataset=kan_toy_xy", "trainer.batch_size=5000",
            f"paths.results_dir={tmp_path / 'results'}"]
    _, once, _ = plan(base + ["trainer.epochs=2"])
    _, staged, _ = plan(base + ["trainer.grid_schedule=[3,5,10]", "trainer.steps_per_grid=2"])
    shapes = lambda out: sum(map(int, re.search(r"probed (\d+) model shapes in \d+ s; (\d+) from the cache",  # noqa: E731
                                                out).groups()))
    assert shapes(once) == 1 and shapes(staged) == 3  # G 5 is the unscheduled run's, from the cache


def test_a_tuning_study_costs_its_runs_at_the_mean_batch_size_of_its_space(tmp_path, monkeypatch):
    """repeats x (trials + seeds) runs, each estimated as the job's run averaged over the
    search space's batch sizes (a run here 'costs' its batch size: 32, 64, 128, 256)."""
    import kanfair.cli.plan as plan_cli

    def costs_its_batch(self, overrides, cfg):
        return plan_cli.PlannedRun(overrides, cfg.model.name, "id", False, float(cfg.trainer.batch_size))

    monkeypatch.setattr(plan_cli.Planner, "plan", costs_its_batch)
    status, out, err = plan(["--tune", "model=mlp", "dataset=iris", "budget.target=500", "tune.trials=3",
                             "tune.seeds=2", "tune.repeats=2", f"paths.results_dir={tmp_path}"])
    assert status == 0, err
    assert "runs: 10; done: 0; to run: 10" in out
    assert "compute: 20.0 min (1,200 s)" in out  # 2 x (3 + 2) x mean(32, 64, 128, 256) = 10 x 120


def test_a_study_of_several_workers_shares_its_trials_and_one_runs_the_finals():
    from kanfair.cli.plan import study_jobs, time_limit_min

    assert study_jobs(10.0, trials=7, seeds=2, repeats=1, workers=3) == [50.0, 20.0, 20.0]  # trials 3, 2, 2
    assert study_jobs(10.0, trials=6, seeds=2, repeats=2, workers=1) == [160.0]  # 2 x (6 + 2)
    assert time_limit_min(600.0) == 15 and time_limit_min(1.0) == 5  # 1.5 x 10 min; at least 5


def test_workers_give_the_wall_time_on_a_cluster_and_its_time_limit(tmp_path, monkeypatch):
    """--workers N: N jobs at once for a launcher that cannot say (SLURM), and for a tuning
    sweep with tune.workers=W each study is W jobs; the longest job sets the time limit."""
    import kanfair.cli.plan as plan_cli

    def costs_ten(self, overrides, cfg):
        return plan_cli.PlannedRun(overrides, cfg.model.name, "id", False, 10.0)

    monkeypatch.setattr(plan_cli.Planner, "plan", costs_ten)
    monkeypatch.setattr(plan_cli, "job_start_seconds", lambda cache: 2.0)  # a SLURM job starts its own process
    sweep = ["model=mlp,kan", "seed=0,1,2", "dataset=iris", "hydra/launcher=kanfair_slurm", f"paths.results_dir={tmp_path}"]
    _, unknown, _ = plan(sweep)
    assert "wall: depends on how many jobs SlurmLauncher runs at once; --workers N says" in unknown
    status, out, err = plan(sweep + ["--workers", "4"])
    assert status == 0, err
    assert "wall with SlurmLauncher with 4 jobs at once: 24 s" in out  # 6 jobs of 2 + 10 s on 4
    assert "compute: 72 s (72 s), of which 2.0 s a job to start its Python process" in out
    status, out, err = plan(["--tune", "-m", "model=mlp,kan", "dataset=iris", "budget.target=500", "tune.trials=7",
                             "tune.seeds=2", "tune.workers=3", "--workers", "6", f"paths.results_dir={tmp_path}"])
    assert status == 0, err
    assert "(in 2 tuning studies, 3 jobs each)" in out
    # a study's jobs: 3 trials + 2 finals = 50 s, and 2 trials (20 s) twice; six jobs on six workers
    assert "wall with BasicLauncher with 6 jobs at once: 50 s" in out and "compute: 3.0 min (180 s)" in out
    assert "longest job: 50 s; on a cluster, a time limit with a 50% margin: hydra.launcher.timeout_min=5" in out
    assert plan(sweep + ["--workers", "0"])[0] == 2


def test_a_study_is_timed_at_the_means_of_its_sampled_model_ranges(tmp_path, monkeypatch):
    """A boosting study samples max_iter log-uniformly in 50..500: its runs are timed at the
    distribution's mean (195), not at the model's default of 100 (the planner put
    tabular_real's boosting studies at half their time)."""
    import scipy.stats

    import kanfair.cli.plan as plan_cli
    from kanfair.cli.plan import range_means

    space = {"model.max_iter": {"low": 50, "high": 500, "log": True}, "model.max_features": {"low": 0.5, "high": 1.0},
             "model.grid_size": {"low": 3, "high": 20}, "model.l2": {"choices": [0.0, 1.0]},
             "trainer.lr": {"low": 1e-4, "high": 1e-2, "log": True}}
    means = range_means(space, knob="grid_size")
    assert means == {"model.max_iter": round(scipy.stats.loguniform(50, 500).mean()), "model.max_features": 0.75}
    timed = []
    monkeypatch.setattr(plan_cli.Planner, "_reference_fit", lambda self, conf, task, threads: timed.append(conf.model) or 1.0)
    status, _, err = plan(["--tune", "model=hgb", "dataset=wine", "budget.target=500", "tune.trials=2", "tune.seeds=1",
                           f"paths.results_dir={tmp_path}"])
    assert status == 0, err
    assert timed and all(m.max_iter == 195 and m.max_leaf_nodes == 36 for m in timed)  # (128 - 4) / ln 32 = 35.8


def test_a_tuning_sweep_with_the_boosting_reference_is_planned_by_timing_one_fit(tmp_path):
    status, out, err = plan(["--tune", "-m", "model=mlp,hgb", "dataset=wine", "budget.target=500", "tune.trials=2",
                             "tune.seeds=1", f"paths.results_dir={tmp_path}"])
    assert status == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("mlp ", "hgb "))}
    assert rows["mlp"][1:4] == ["3", "0", "3"] and rows["hgb"][1:4] == ["3", "0", "3"]
    assert "(in 2 tuning studies, one job each)" in out


def test_a_shape_is_the_median_of_its_kept_probes_and_a_speed_change_is_seen(tmp_path):
    """One probe taken on a busy machine (7x) does not decide the estimate: the median of
    the kept probes does; a fresh probe far from them says the machine's speed moved, and
    then the old ones are dropped."""
    from kanfair.studies.plan import KEEP, ProbeCache, drifted

    cache = ProbeCache(tmp_path / "probes.json")
    for step in (1.0, 7.0, 1.2):
        cache.add("kan", Probe(step, 0.001))
    assert cache.get("kan").step_s == 1.2
    for step in (1.0,) * KEEP:
        cache.add("kan", Probe(step, 0.001))
    assert len(cache.samples("kan")) == KEEP and cache.get("kan").step_s == 1.0
    assert drifted(Probe(2.0, 0.001), cache.get("kan")) and not drifted(Probe(1.3, 0.001), cache.get("kan"))
    cache.add("kan", Probe(2.0, 0.001), fresh_start=True)
    assert cache.samples("kan") == [Probe(2.0, 0.001)]
    cache.save()
    assert ProbeCache(tmp_path / "probes.json").get("kan") == Probe(2.0, 0.001)


def test_probing_says_how_far_it_is_where_no_bar_shows(tmp_path, monkeypatch):
    """A plan that probes for minutes printed nothing off a terminal (tqdm's bar is off there)."""
    import kanfair.cli.plan as plan_cli

    monkeypatch.setattr(plan_cli, "PROGRESS_EVERY_S", 0)
    _, _, err = plan(SWEEP + [f"paths.results_dir={tmp_path / 'results'}"])
    assert re.search(r"kanfair: plan: probed \d+ model shapes so far \(\d+ s of probing\)", err), err
