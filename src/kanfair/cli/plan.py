"""`python scripts/plan.py <the overrides of a multirun>`: how many runs a sweep has, how
many the results store already holds, and how long the rest will take with the chosen
launcher, before anything is trained.

The jobs are the sweeper's own: Hydra composes the sweep (any sweeper, `grids` too) and
each job's config exactly as `train.py -m` would, so that the run ids, and so the "done"
count, are those of the real sweep. Composing a job from scratch takes ~0.15 s; the
planner composes once per choice of config groups (model=, dataset= ...) and applies each
job's value overrides to a copy with Hydra's own override code (~7 ms a job).
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from hydra._internal.callbacks import Callbacks
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import setup_globals
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from tabulate import tabulate
from tqdm import tqdm

from kanfair.cli.errors import OneLineArgumentParser, one_line_errors
from kanfair.cli.train import threads_per_job
from kanfair.config import CONFIG_DIR, ConfigError, TrainConfig, register_configs, validate
from kanfair.data import Task, continual, load_task
from kanfair.data.fingerprint import fingerprint
from kanfair.errors import describe
from kanfair.studies.plan import (ENOUGH, Probe, ProbeCache, RunShape, cache_path, drifted, estimate_seconds,
                                  probe_model, run_shape, shape_key, wall_seconds)
from kanfair.results import finished_ok, record_path
from kanfair.models import REFERENCES, family
from kanfair.runner import SizedModel, run_key
from kanfair.trainer import fit_boosting
from kanfair.studies.tune import KnobRule, flatten_space, study_name


PROGRESS_EVERY_S = 30  # a plain progress line while probing, as the trainer's (trainer.Progress)


def sweep_configs(overrides: list[str], config_dir: Optional[str] = None, config_name: str = "train"
                  ) -> tuple[DictConfig, list[tuple[list[str], DictConfig]]]:
    """The sweep's Hydra config and its jobs: (overrides, composed config without the
    `hydra` node) each, in launch order (`config_name`: another app's primary config,
    e.g. tune or size)."""
    register_configs()
    setup_globals()
    search_path = create_config_search_path(f"file://{CONFIG_DIR}")
    if config_dir:
        search_path.append("command-line", f"file://{Path(config_dir).resolve()}")
    GlobalHydra.instance().clear()
    hydra = Hydra.create_main_hydra2(task_name=config_name, config_search_path=search_path)
    try:
        master = hydra.compose_config(config_name, overrides, run_mode=RunMode.MULTIRUN)
        with read_write(master), open_dict(master):  # what the jobs will see: a job's threads depend on it
            master.hydra.mode = RunMode.MULTIRUN
        loader = hydra.config_loader
        sweeper = Plugins.instance().instantiate_sweeper(
            config=master, hydra_context=HydraContext(config_loader=loader, callbacks=Callbacks(master)),
            task_function=lambda cfg: None)
        parser = OverridesParser.create(config_loader=loader)
        arguments = sweeper._parse_config() + list(master.hydra.overrides.task)
        batches = sweeper.split_arguments(parser.parse_overrides(arguments), None)
        composed: dict[tuple[str, ...], DictConfig] = {}
        jobs = []
        for job in (list(job) for batch in batches for job in batch):
            parsed = parser.parse_overrides(job)
            groups = tuple(o.input_line for o in parsed if o.key_or_group.startswith("hydra")
                           or loader.repository.group_exists(o.key_or_group))
            if groups not in composed:
                base = loader.load_sweep_config(master, list(groups))
                HydraConfig.instance().set_config(base)
                with read_write(base), open_dict(base):
                    del base["hydra"]
                composed[groups] = base
            cfg = copy.deepcopy(composed[groups])
            ConfigLoaderImpl._apply_overrides_to_config(
                [o for o in parsed if o.input_line not in groups], cfg)
            jobs.append((job, cfg))
        return master, jobs
    finally:
        GlobalHydra.instance().clear()


@dataclass(frozen=True)
class Launcher:
    """How the sweep's jobs run: `workers` at once (None: unknown, e.g. a cluster), each
    with `threads` torch threads (0: torch's default); `fresh_process`: each job starts a
    Python process of its own (submitit), which costs `start_s` before its run."""

    name: str
    workers: Optional[int]
    threads: int
    fresh_process: bool = False
    start_s: float = 0.0


def launcher_of(master: DictConfig, workers: Optional[int] = None) -> Launcher:
    """The sweep's launcher; `workers` (--workers) says how many of its jobs run at once
    where the launcher cannot (a cluster's free slots)."""
    target = str(master.hydra.launcher.get("_target_", ""))
    name = target.rsplit(".", 1)[-1]
    threads = threads_per_job(master.hydra)
    fresh_process = "submitit" in target
    if workers is not None:
        return Launcher(f"{name} with {workers} jobs at once", workers, threads, fresh_process)
    if name == "BasicLauncher":
        return Launcher("basic (one job at a time)", 1, threads)
    if name == "JoblibLauncher":
        cores = os.cpu_count() or 1
        jobs = master.hydra.launcher.get("n_jobs") or 1
        workers = cores if jobs < 0 else jobs
        each = f"{threads} threads" if threads else "torch's default threads"
        return Launcher(f"joblib ({workers} jobs x {each})", workers, threads)
    return Launcher(name, None, threads, fresh_process)


def job_start_seconds(cache: ProbeCache) -> float:
    """What a job's own Python process costs before its run: interpreter, torch and
    kanfair imported, timed once per machine (kept in the probe cache)."""
    key = json.dumps({"job start": sys.executable})
    kept = cache.get(key)
    if kept is None:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import kanfair.cli.train, kanfair.runner"], check=True)
        cache.add(key, Probe(time.perf_counter() - start, 0.0))
        cache.save()
        kept = cache.get(key)
    return kept.step_s


@dataclass(frozen=True)
class Measured:
    """What a done run's record says of its time: data + training + evaluation seconds,
    and when it started and finished."""

    seconds: float
    started: dt.datetime
    finished: dt.datetime

    @classmethod
    def of(cls, record: dict[str, Any]) -> "Measured":
        return cls(record["data_time_s"] + record["train_time_s"] + record["eval_time_s"],
                   dt.datetime.fromisoformat(record["started_at"]),
                   dt.datetime.fromisoformat(record["finished_at"]))


@dataclass
class PlannedRun:
    overrides: list[str]
    model: str
    run_id: str
    done: bool
    seconds: float = 0.0  # estimate; 0 for a done run unless the planner compares
    measured: Optional[Measured] = None  # a done run's record, when comparing
    runs: int = 1  # a tuning study (kanfair-tune job) makes many
    jobs: list[float] = field(default_factory=list)  # a study's jobs' seconds (tune.workers); [] = [seconds]

    def job_seconds(self) -> list[float]:
        return self.jobs or [self.seconds]


def range_means(space: dict[str, dict[str, Any]], knob: Optional[str]) -> dict[str, Any]:
    """The mean of each sampled model range but the size knob's: log-uniform
    (high - low) / ln(high / low), uniform (low + high) / 2; rounded for integers."""
    means = {}
    for key, leaf in space.items():
        if not key.startswith("model.") or key == f"model.{knob}" or "choices" in leaf:
            continue
        low, high = leaf["low"], leaf["high"]
        mean = ((high - low) / math.log(high / low) if leaf.get("log") and high > low else (low + high) / 2)
        means[key] = round(mean) if isinstance(low, int) and isinstance(high, int) else mean
    return means


def study_jobs(run_s: float, trials: int, seeds: int, repeats: int, workers: int) -> list[float]:
    """The seconds of a study's tune.workers jobs: its trials shared among them as evenly as
    they go, then the finals run by one, repeat after repeat."""
    shares = [trials // workers + (worker < trials % workers) for worker in range(workers)]
    return [repeats * (share + (seeds if worker == 0 else 0)) * run_s for worker, share in enumerate(shares)]


class Planner:
    """Estimates each job's time: loads each data set once, probes each model shape once
    (or takes the probe from the machine's cache)."""

    def __init__(self, launcher: Launcher, cache: ProbeCache, reprobe: bool, compare: bool = False):
        self.launcher, self.cache, self.reprobe, self.compare = launcher, cache, reprobe, compare
        self.tasks: dict[str, tuple[Task, float, dict[str, Any]]] = {}
        self.shapes: dict[str, RunShape] = {}  # by data set and trainer: splitting is not free
        self.probe_s = 0.0
        self.fresh: set[str] = set()  # shapes probed in this call
        self.checked = self.drift = False  # the machine's speed checked against the kept probes; moved
        self.from_cache: set[str] = set()
        self.said_at = time.perf_counter()

    def _task(self, conf: TrainConfig) -> tuple[Task, float, dict[str, Any]]:
        """The task (for continual runs, its tasks' classes), the seconds a run spends loading
        it (timed on a second load, after any first-time download or cache build) and its
        fingerprint."""
        key = json.dumps([asdict(conf.dataset), conf.paths.data_dir], sort_keys=True, default=str)
        if key not in self.tasks:
            load_task(conf.dataset, conf.paths.data_dir)
            start = time.perf_counter()
            task = load_task(conf.dataset, conf.paths.data_dir)
            seconds = time.perf_counter() - start
            if conf.dataset.continual.tasks:  # what the runs train on: the tasks' classes
                task = continual.for_tasks(task, conf.dataset.continual.tasks)
            self.tasks[key] = (task, seconds, fingerprint(conf.dataset))
        return self.tasks[key]

    def plan_study(self, overrides: list[str], cfg: DictConfig) -> PlannedRun:
        """A kanfair-tune job: its repeats x (trials + final seeds) runs, each estimated as
        a run of the job's config, averaged over the batch sizes the search space offers
        (the other tuned values are taken to cost alike). Its runs are drawn as the study
        goes, so none counts as done here; a resumed study skips the ones it finished."""
        space = OmegaConf.to_container(cfg.tune.space, resolve=True)
        sizes = ((space.get("trainer") or {}).get("batch_size") or {}).get("choices") or [cfg.trainer.batch_size]
        flat = flatten_space(space)
        conf = validate(cfg)
        rule = KnobRule.of(conf, self._task(conf)[0], flat)
        # a size knob where width alone meets the budget, as trials have it; the other sampled
        # model ranges at their means (a boosting study's max_iter: timed at the model's
        # default of 100, trials that drew 50..500 took twice the estimate)
        typical = {**range_means(flat, rule.knob), **rule.typical(rule.cut(flat))}
        per_run = []
        for size in sizes:
            sized = copy.deepcopy(cfg)
            sized.trainer.batch_size = size
            sized.budget.vary = "width"
            for key, value in typical.items():
                OmegaConf.update(sized, key, value, merge=False)
            per_run.append(self.plan(overrides, sized).seconds)
        runs, run_s = cfg.tune.repeats * (cfg.tune.trials + cfg.tune.seeds), statistics.mean(per_run)
        return PlannedRun(overrides, cfg.model.name, study_name(cfg), False, runs * run_s, runs=runs,
                          jobs=study_jobs(run_s, cfg.tune.trials, cfg.tune.seeds, cfg.tune.repeats, cfg.tune.workers))

    def plan(self, overrides: list[str], cfg: DictConfig) -> PlannedRun:
        conf = validate(cfg)
        task, data_s, data = self._task(conf)
        run_id, hash_ = run_key(cfg, data)
        planned = PlannedRun(overrides, conf.model.name, run_id, not conf.trainer.rerun
                             and finished_ok(conf.paths.results_dir, run_id, hash_, conf.seed))
        if planned.done:
            if not self.compare:
                return planned
            planned.measured = Measured.of(json.loads(
                record_path(conf.paths.results_dir, run_id).read_text()))
        threads = conf.trainer.threads or self.launcher.threads or torch.get_num_threads()
        if conf.model.name in REFERENCES:
            planned.seconds = data_s + self._reference_fit(conf, task, threads)
            return planned
        sized = SizedModel.for_task(conf, task)
        knob = family(conf.model.name).knob
        stages = [sized.at_knob(knob, value) for value in conf.trainer.grid_schedule] or [sized]
        shape = self._shape(conf, task)
        planned.seconds = data_s + sum(estimate_seconds(shape, self._cached_probe(conf, task, stage, threads), 0.0)
                                       for stage in stages)
        return planned

    def _cached_probe(self, conf: TrainConfig, task: Task, sized: SizedModel, threads: int) -> Probe:
        """The probe of this model shape: the median of its kept probes, probed again where
        it has fewer than ENOUGH, under --reprobe, and for the first shape of each call (a
        check of the machine's speed: where it moved by DRIFT or more, every shape is probed
        afresh and its old probes dropped)."""
        key = shape_key(sized.spec, sized.in_dim, task.out_dim, conf.trainer, threads, task)
        kept = self.cache.get(key)
        again = self.reprobe or self.drift or not self.checked or len(self.cache.samples(key)) < ENOUGH
        if key not in self.fresh and again:
            fresh = self._probe(conf, task, sized, threads)
            if not self.checked and drifted(fresh, kept):
                self.drift = True
                print(f"kanfair: plan: this machine now runs a probed step in {fresh.step_s / kept.step_s:.2g}x "
                      "the time its kept probes say; probing every shape again", flush=True)
            self.checked = True
            self.cache.add(key, fresh, fresh_start=self.drift or self.reprobe)
            self.fresh.add(key)
            self._progress()
        elif key not in self.fresh:
            self.from_cache.add(key)
        return self.cache.get(key)

    def _progress(self) -> None:
        """A line every PROGRESS_EVERY_S while probing where stderr is not a terminal (there
        tqdm's bar is off): a study of large shapes probes for minutes (the KAN paper's at
        G = 1000 for over a quarter of an hour, in silence, before this line)."""
        if not sys.stderr.isatty() and time.perf_counter() - self.said_at >= PROGRESS_EVERY_S:
            print(f"kanfair: plan: probed {len(self.fresh)} model shapes so far ({self.probe_s:.0f} s of probing)",
                  file=sys.stderr, flush=True)
            self.said_at = time.perf_counter()

    def _reference_fit(self, conf: TrainConfig, task: Task, threads: int) -> float:
        """A reference line's run is one fit: timed once per data set and settings (a fit
        is its own probe), and kept in the probe cache as a step of that time."""
        key = json.dumps({"reference": asdict(conf.model), "dataset": asdict(conf.dataset),
                          "protocol": conf.trainer.protocol, "threads": threads}, sort_keys=True, default=str)
        probe = None if self.reprobe and key not in self.fresh else self.cache.get(key)
        if probe is None:
            before, start = torch.get_num_threads(), time.perf_counter()
            torch.set_num_threads(threads)
            try:
                fitted = fit_boosting(asdict(conf.model), task, conf.trainer, conf.seed)[0]
            finally:
                self.probe_s += time.perf_counter() - start
                torch.set_num_threads(before)
            probe = Probe(fitted.train_time_s + fitted.eval_time_s, 0.0)
            self.cache.add(key, probe)
            self.fresh.add(key)
        elif key not in self.fresh:
            self.from_cache.add(key)
        return probe.step_s

    def _shape(self, conf: TrainConfig, task: Task) -> RunShape:
        """The run's shape, computed once per data set and trainer settings."""
        key = json.dumps([asdict(conf.dataset), asdict(conf.trainer)], sort_keys=True, default=str)
        if key not in self.shapes:
            self.shapes[key] = run_shape(task, conf.trainer, conf.dataset.continual.tasks)
        return self.shapes[key]

    def _probe(self, conf: TrainConfig, task: Task, sized: SizedModel, threads: int) -> Probe:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        start = time.perf_counter()
        try:
            torch.manual_seed(conf.seed)
            return probe_model(sized.build(task.out_dim)[0], task, conf)
        finally:
            self.probe_s += time.perf_counter() - start
            torch.set_num_threads(before)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary(runs: list[PlannedRun], launcher: Launcher) -> str:
    """The plan as text: a row per model family, then the totals and the wall time."""
    by_model: dict[str, list[PlannedRun]] = defaultdict(list)
    for run in runs:
        by_model[run.model].append(run)
    rows = []
    for model, group in by_model.items():
        todo = [run.seconds for run in group if not run.done]
        rows.append({"model": model, "runs": sum(run.runs for run in group),
                     "done": sum(run.runs for run in group if run.done),
                     "to run": sum(run.runs for run in group if not run.done),
                     "median job": _duration(statistics.median(todo)) if todo else "",
                     "compute": _duration(sum(todo))})
    todo = [launcher.start_s + seconds for run in runs if not run.done for seconds in run.job_seconds()]
    total, done = sum(run.runs for run in runs), sum(run.runs for run in runs if run.done)
    per_study = len(runs[0].job_seconds()) if runs else 1
    lines = [tabulate(rows, headers="keys", intfmt=","), "",
             f"runs: {total:,}; done: {done:,}; to run: {total - done:,}"
             + (f" (in {len(runs):,} tuning studies, {'one job' if per_study == 1 else f'{per_study} jobs'} each)"
                if total > len(runs) else ""),
             f"compute: {_duration(sum(todo))} ({sum(todo):,.0f} s)"
             + (f", of which {launcher.start_s:.1f} s a job to start its Python process" if launcher.start_s else "")]
    longest = max(todo, default=0.0)
    if launcher.workers is None:
        lines.append(f"wall: depends on how many jobs {launcher.name} runs at once; --workers N says "
                     f"(the longest job: {_duration(longest)})")
    else:
        wall = wall_seconds(todo, launcher.workers)
        lines.append(f"wall with {launcher.name}: {_duration(wall)} ({wall:,.0f} s)")
    if todo:
        lines.append(f"longest job: {_duration(longest)}; on a cluster, a time limit with a "
                     f"{TIME_LIMIT_MARGIN:.0%} margin: hydra.launcher.timeout_min={time_limit_min(longest)}")
    return "\n".join(lines)


TIME_LIMIT_MARGIN = 0.5  # over the longest job's estimate: probes vary, and a job loads its data first


def time_limit_min(seconds: float) -> int:
    """A cluster job's time limit for a job estimated at `seconds`: the margin on top,
    whole minutes, at least 5 (SLURM's pre-timeout signal needs the room)."""
    return max(5, math.ceil(seconds * (1 + TIME_LIMIT_MARGIN) / 60))


def comparison(runs: list[PlannedRun]) -> str:
    """The estimates of the done runs against their records: per run, the time the record
    counts (data + training + evaluation); for the sweep, the records' span (first start to
    last finish) against the estimated wall time."""
    done = [run for run in runs if run.measured]
    if not done:
        return "no done runs to compare"
    rows = [{"run id": run.run_id, "estimate s": run.seconds, "measured s": run.measured.seconds,
             "estimate / measured": run.seconds / run.measured.seconds} for run in done]
    estimated = sum(run.seconds for run in done)
    measured = sum(run.measured.seconds for run in done)
    span = max(run.measured.finished for run in done) - min(run.measured.started for run in done)
    return "\n".join([
        tabulate(rows, headers="keys", floatfmt=",.2f"), "",
        f"{len(done)} done runs: estimated {estimated:,.0f} s, measured {measured:,.0f} s "
        f"(estimate / measured {estimated / measured:.3f})",
        f"records span {span.total_seconds():,.0f} s from the first start to the last finish"])


def main(argv: Optional[list[str]] = None) -> int:
    parser = OneLineArgumentParser(
        prog="kanfair-plan",
        description="Count a sweep's runs, the ones already done, and estimate the wall time "
                    "of the rest from short timing probes (cached per machine); trains nothing.",
        epilog="e.g. python scripts/plan.py experiment=kanbefair_vision dataset=fmnist "
               "hydra/launcher=joblib")
    parser.add_argument("overrides", nargs="*", help="the overrides of the multirun, as for train.py -m")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted and ignored")
    parser.add_argument("--config-dir", help="your own configs, as train.py's --config-dir")
    parser.add_argument("--reprobe", action="store_true", help="probe every model shape again")
    parser.add_argument("--runs", action="store_true", help="also list every run with its estimate")
    parser.add_argument("--compare", action="store_true",
                        help="also estimate the done runs and compare with their records' times")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="jobs running at once (e.g. a cluster's free slots): the wall time on N of them")
    parser.add_argument("--tune", action="store_true",
                        help="plan a kanfair-tune sweep (each job a tuning study) instead of train.py's")
    args = parser.parse_intermixed_args(argv)  # flags may follow the overrides
    with one_line_errors():
        if args.tune and args.compare:
            raise ConfigError("--compare", "compares runs with their records, but a study's runs are "
                              "drawn as it goes", "drop --compare with --tune")
        master, jobs = sweep_configs(args.overrides, args.config_dir, "tune" if args.tune else "train")
        if args.workers is not None and args.workers < 1:
            raise ConfigError("--workers", f"must be >= 1 (got {args.workers})", "e.g. --workers 16")
        launcher = launcher_of(master, args.workers)
        cache = ProbeCache(cache_path())
        if launcher.fresh_process:
            launcher = dataclasses.replace(launcher, start_s=job_start_seconds(cache))
        planner = Planner(launcher, cache, args.reprobe, args.compare)
        runs = []
        try:
            for overrides, cfg in tqdm(jobs, desc="planning", unit="run", disable=None):
                try:
                    runs.append(planner.plan_study(overrides, cfg) if args.tune else planner.plan(overrides, cfg))
                except Exception as error:
                    raise ConfigError(" ".join(overrides), describe(error),
                                      "the sweep would fail on this job too: fix it first") from error
        finally:
            if planner.fresh:
                cache.save()
        if args.runs:
            print(tabulate([{"run id": r.run_id, "overrides": " ".join(r.overrides), "done": r.done,
                             "estimate": "" if r.done else _duration(r.seconds)} for r in runs],
                           headers="keys"))
        print(f"probed {len(planner.fresh)} model shapes in {planner.probe_s:.0f} s; "
              f"{len(planner.from_cache)} from the cache ({cache.path})")
        print(summary(runs, launcher), flush=True)
        if args.compare:
            print(comparison(runs))
    return 0
