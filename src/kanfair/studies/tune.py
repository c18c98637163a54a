"""Equal tuning effort per family: one Optuna study per (data set, family, budget).

Each family gets `tune.trials` trials of its search space (configs/search/<family>.yaml)
at the same matched budget, the same epochs and a seeded TPE sampler, scored on the
validation split (protocol=val: tuning on the test set is refused); its best
configuration is then re-run on seeds 0..tune.seeds-1. Every trial and final run is an
ordinary kanfair run and record, labelled in its config with tune.study, tune.trial and
tune.phase (trial | final).

A tuner is a chaotic process: a last-bit difference in one trial (another CPU kernel set)
sends TPE elsewhere, so one study's best configuration is one draw. `tune.repeats` runs
the whole study again, independently: repeat r (labelled tune.repeat) samples with
tune.sampler_seed + r and holds out the validation split of trainer.val_seed + r, and
re-runs its own best configuration on the seeds. The verdict then replicates over repeats
(kanfair.report.verdict). Repeat 0 is the study without repeats, so earlier records resume.

Optuna is driven through its ask-and-tell API rather than Hydra's optuna sweeper plugin,
which pins optuna < 3: here a study is one Hydra job, so any launcher (joblib locally,
submitit on SLURM) runs the families in parallel, all studies in one storage. By default
one worker drives a study, sequentially, which keeps its trial sequence a function of its
seed alone: the sampler is reseeded from tune.sampler_seed, the number of finished trials
and the draws rejected for the next one (KnobRule) before every ask, so a study restarted
after a kill draws exactly what an uninterrupted one would. A trial killed mid-run is closed as failed and not counted, so
its values are drawn again; finished trials are never repeated.

With tune.workers=N, N jobs drive one study at once (_drive_shared): each claims a trial
under a lock held in the storage (a PostgreSQL advisory lock; a file lock for sqlite on
one machine), so that no more than tune.trials are ever running or finished and no two
carry the same values; a claimed trial beats a heartbeat, and one whose worker died is
closed by the next claim and its slot drawn again; the finals run once, by the first
worker to find every trial finished. The trial sequence then depends on which job
finishes first: tune.repeats measures what that changes.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import hashlib
import itertools
import json
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Mapping, Optional, Union

import numpy as np
import optuna
import sqlalchemy
from omegaconf import DictConfig, OmegaConf

from kanfair.budget import BudgetError
from kanfair.config import TuneRunConfig, validate
from kanfair.data import Task, load_task
from kanfair.models import FAMILIES, model_spec
from kanfair.report.metrics import HIGHER_IS_BETTER
from kanfair.results import Record, config_hash
from kanfair.runner import SizedModel, run_or_stored
from kanfair.schema import ConfigError, check

COUNTED = "status"  # user attribute set when a trial's run has finished (ok, diverged or failed)
REJECTED = "rejected_for"  # a draw not trained (width alone cannot fit it, or a running or finished
# trial of a shared study has its values): the trial index it was drawn for
MAX_REDRAWS = 1000
STALE_HEARTBEATS = 4  # a shared study's running trial silent for this many heartbeats is dead
WAIT_S = 2.0  # a worker with nothing to claim looks again this often (a trial may die and free its slot)
LABELS = ("study", "trial", "phase")
Runner = Callable[[DictConfig, Optional[str], int], Record]


@dataclass
class TuneResult:
    study: str
    repeat: int
    best_trial: int  # its index among the study's finished trials (the runs' tune.trial)
    best_params: dict[str, Any]
    best_value: float
    trials: list[Record]  # the runs of this call (finished trials from earlier calls are not repeated)
    finals: list[Record]


def flatten_space(space: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """{"trainer.lr": {"low": ..., "high": ..., "log": true}, "model.shortcut": {"choices": [...]}}."""
    leaves: dict[str, dict[str, Any]] = {}
    for key, value in space.items():
        path = f"{prefix}{key}"
        check(isinstance(value, Mapping), f"tune.space.{path}",
              f"is {value!r}, not a range or a set of choices",
              "write {low: 1, high: 10[, log: true]} or {choices: [a, b]} (see configs/search/)")
        if "choices" in value or "low" in value:
            check("choices" not in value or bool(value["choices"]), f"tune.space.{path}",
                  "offers no choices, so there is nothing to sample",
                  f"give one or more, e.g. {{choices: [a, b]}}, or remove it with ~tune.space.{path} "
                  "(the model's own value is kept)")
            check("choices" in value or ("high" in value and value["low"] <= value["high"]), f"tune.space.{path}",
                  f"is a range with low {value.get('low')!r} above high {value.get('high')!r}",
                  "write {low: <smaller>, high: <larger>}")
            leaves[path] = dict(value)
        else:
            leaves.update(flatten_space(value, path + "."))
    return leaves


def unflatten(leaves: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """flatten_space's inverse: {"model.grid_size": {...}} -> {"model": {"grid_size": {...}}}."""
    nested: dict[str, Any] = {}
    for path, leaf in leaves.items():
        *parents, last = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = dict(leaf)
    return nested


def suggest(trial: optuna.Trial, key: str, spec: Mapping[str, Any]) -> Any:
    """One value of a search-space leaf (choices are offered to Optuna as JSON strings, so
    lists such as grid ranges can be choices too)."""
    if "choices" in spec:
        labels = [json.dumps(choice) for choice in spec["choices"]]
        return spec["choices"][labels.index(trial.suggest_categorical(key, labels))]
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(key, low, high, log=log)
    return trial.suggest_float(key, float(low), float(high), log=log)


def sampled_knob(conf: TuneRunConfig, space: Mapping[str, Any]) -> Optional[str]:
    """The family's size knob (grid_size, degree, ...) where the search space samples it."""
    knob = FAMILIES[conf.model.name].knob if conf.model.name in FAMILIES else None
    return knob if f"model.{knob}" in space else None


@dataclass
class KnobRule:
    """Each trial trains what it sampled: the matcher varies width only (budget.vary=width),
    and a draw whose size knob (grid_size, degree, ...) width alone cannot fit to the budget,
    given the draw's other model values, is rejected before anything trains and drawn again.
    The knob's range is first cut to the values that fit with some choice of the others."""

    conf: TuneRunConfig
    task: Task
    knob: Optional[str]

    @classmethod
    def of(cls, conf: TuneRunConfig, task: Task, space: Mapping[str, Any]) -> "KnobRule":
        return cls(conf, task, sampled_knob(conf, space))

    def fits(self, values: Mapping[str, Any]) -> bool:
        """Does width alone size the model of these sampled values to the budget?"""
        if self.knob is None:
            return True
        model = {**model_spec(self.conf.model),
                 **{k[len("model."):]: v for k, v in values.items() if k.startswith("model.")}}
        try:
            width_only = dataclasses.replace(self.conf.budget, vary="width")
            SizedModel.for_task(dataclasses.replace(self.conf, model=model, budget=width_only), self.task)
            return True
        except BudgetError:
            return False

    def cut(self, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The space with the knob's values cut to those that fit with some combination of
        the other model choices (a range stays a range where they are contiguous); one line
        says so; a ConfigError where none fits."""
        if self.knob is None:
            return space
        key, leaf, values, combos = self._grid(space)
        fitting = [v for v in values if any(self.fits({**combo, key: v}) for combo in combos)]
        configured = str(values) if "choices" in leaf else f"{values[0]}..{values[-1]}"
        budget = (f"{self.conf.budget.target:,.0f} {self.conf.budget.kind}" if self.conf.budget.target
                  else "the budget") + f" within {self.conf.budget.tolerance:.0%}"
        check(bool(fitting), f"tune.space.{key}", f"no value in {configured} lets width alone meet {budget} on "
              f"{self.task.name}", "widen the range, raise budget.tolerance, or change budget.target")
        contiguous = "choices" not in leaf and fitting == list(range(fitting[0], fitting[-1] + 1))
        if fitting != values:
            print(f"kanfair: tune {self.conf.model.name} on {self.task.name}: {key} sampled in "
                  f"{f'{fitting[0]}..{fitting[-1]}' if contiguous else fitting} of {configured}, where width alone "
                  f"meets {budget}; a draw that does not fit with its other values is drawn again", flush=True)
        return {**space, key: {**leaf, "low": fitting[0], "high": fitting[-1]} if contiguous else {"choices": fitting}}

    def _grid(self, space: Mapping[str, Any]) -> tuple[str, dict, list, list[dict[str, Any]]]:
        """The knob's key, leaf and values, and every combination of the other model choices
        (a range of another model key by its two ends)."""
        key = f"model.{self.knob}"
        leaf = space[key]
        values = list(leaf["choices"]) if "choices" in leaf else list(range(int(leaf["low"]), int(leaf["high"]) + 1))
        others = {k: (s["choices"] if "choices" in s else [s["low"], s["high"]])
                  for k, s in space.items() if k.startswith("model.") and k != key}
        return key, leaf, values, [dict(zip(others, combo)) for combo in itertools.product(*others.values())]

    def typical(self, space: Mapping[str, Any]) -> dict[str, Any]:
        """A draw of the (cut) space's model values that fits, its knob nearest the middle
        of the knob's values: what the planner times a study's runs at. Empty without a knob."""
        if self.knob is None:
            return {}
        key, _, values, combos = self._grid(space)
        middle = values[len(values) // 2]
        for value in sorted(values, key=lambda v: (abs(v - middle), v)):
            for combo in combos:
                if self.fits({**combo, key: value}):
                    return {**combo, key: value}
        return {}


def study_name(cfg: DictConfig) -> str:
    """<dataset>-<model>-<budget>-<hash of everything a trial does not vary>."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("seed", None)
    for label in LABELS:
        resolved["tune"].pop(label, None)
    budget = cfg.budget
    size = f"{budget.kind}{budget.target:g}" if budget.target is not None else f"{budget.kind}-matched"
    return f"{cfg.dataset.name}-{cfg.model.name}-{size}-{config_hash(resolved)[:10]}"


def storage_address(cfg: DictConfig) -> str:
    return cfg.tune.storage or f"sqlite:///{(Path(cfg.paths.results_dir) / 'tune.db').resolve()}"


@contextlib.contextmanager
def sole_driver(url: str, name: str) -> Iterator[None]:
    """With tune.workers=1 one worker drives a study: a second would close the first's
    running trial as interrupted, and the first would die telling it. A lock in the
    storage (StorageLock) refuses the second at once, in one line."""
    if not url.startswith(("sqlite:///", "postgresql")):
        yield
        return
    with StorageLock(url).held(name, wait=False) as got:
        if not got:
            raise ConfigError("tune", f"study {name} is being tuned by another kanfair-tune right now "
                              "(its lock in the storage is held)", "let that one finish, then run the command "
                              "again: it resumes where the study stands; or tune with tune.workers=N")
        yield


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock's 64-bit key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class StorageLock:
    """A named lock that every worker of a storage sees: a PostgreSQL advisory lock (on its
    own connection, so it is released when the holder dies), or, for sqlite (one
    machine), an OS lock on a file beside the database."""

    def __init__(self, url: str):
        self.url = url
        self.engine = (sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
                       if url.startswith("postgresql") else None)

    @contextlib.contextmanager
    def held(self, name: str, wait: bool = True) -> Iterator[bool]:
        """Hold the lock `name` in the block; with wait=False, yield False at once where
        another worker holds it."""
        if self.engine is None:
            path = Path(self.url[len("sqlite:///"):]).with_suffix(f".{name}.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                yield True
            return
        with self.engine.connect() as connection:
            take = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            got = connection.execute(sqlalchemy.text(f"SELECT {take}(:key)"), {"key": lock_key(name)}).scalar()
            connection.commit()
            try:
                yield got is not False
            finally:
                if got is not False:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
                    connection.commit()


@contextlib.contextmanager
def creating(url: str) -> Iterator[None]:
    """One worker at a time opens a storage: the first creates its tables, and workers
    creating them at once (a fresh sweep's first jobs) fail in SQLAlchemy, or, on a fresh
    PostgreSQL database, with "CREATE TYPE studydirection" (optuna issue 1092)."""
    if not url.startswith(("sqlite:///", "postgresql")):
        yield
        return
    with StorageLock(url).held("kanfair-create-tables"):
        yield


def storage_url(cfg: DictConfig, heartbeat_s: Optional[int] = None) -> optuna.storages.RDBStorage:
    """The study storage; with `heartbeat_s`, one where running trials beat a heartbeat and
    those silent for STALE_HEARTBEATS beats can be failed (a shared study's)."""
    url = storage_address(cfg)
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}  # parallel jobs wait
    beats = ({"heartbeat_interval": heartbeat_s, "grace_period": STALE_HEARTBEATS * heartbeat_s}
             if heartbeat_s else {})
    try:
        with creating(url):
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, **beats)
    except Exception as error:  # SQLAlchemy's words name no key
        raise ConfigError("tune.storage", f"cannot open '{url}' ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''})",
                          "give an SQLAlchemy URL such as sqlite:///results/tune.db, or leave it unset") from error


def labelled(cfg: DictConfig, params: Mapping[str, Any], phase: str, trial: int, study: str,
             seed: int) -> DictConfig:
    """The run of one trial (or final seed): the base config with the sampled values."""
    run_cfg = copy.deepcopy(cfg)
    for key, value in params.items():
        if OmegaConf.select(run_cfg, key, default=KeyError) is KeyError:
            raise ConfigError(f"tune.space.{key}", f"'{key}' is not a key of this config",
                              "name config keys, e.g. trainer.lr or model.grid_size")
        OmegaConf.update(run_cfg, key, value, merge=False)
    run_cfg.tune.study, run_cfg.tune.trial, run_cfg.tune.phase, run_cfg.seed = study, trial, phase, seed
    return run_cfg


def _of_repeats(conf: TuneRunConfig) -> str:
    return f" (tune.repeat={conf.tune.repeat} of {conf.tune.repeats})" if conf.tune.repeats > 1 else ""


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if COUNTED in t.user_attrs]


def close_interrupted(study: optuna.Study) -> None:
    """Trials left running by a killed tuner end as failed and uncounted; as the sampler is
    reseeded from the number of finished trials, the next ask draws the same values again."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def repeat_config(cfg: DictConfig, repeat: int) -> DictConfig:
    """The study of repeat `repeat`: its own sampler seed and validation split."""
    repeated = copy.deepcopy(cfg)
    repeated.tune.repeat = repeat
    repeated.tune.sampler_seed = cfg.tune.sampler_seed + repeat
    repeated.trainer.val_seed = cfg.trainer.val_seed + repeat
    return repeated


def tune(cfg: DictConfig, job_dir: Optional[str] = None, threads: int = 0,
         runner: Runner = run_or_stored) -> list[TuneResult]:
    """Tune one family (the model of `cfg`) and re-run its best configuration over seeds,
    once per repeat (tune.repeats): one result per repeat."""
    check(cfg.trainer.protocol == "val", "trainer.protocol",
          "tuning selects on the validation split; protocol kanbefair selects on the test set",
          "use trainer.protocol=val")
    check(cfg.budget.kind != "none", "budget", "tuning needs a budget, so that no trial changes the model's size",
          "set budget=params budget.target=<n> (or budget=flops)")
    check(cfg.tune.repeat == 0, "tune.repeat", "is a label the tuner sets on each repeat's runs",
          "set tune.repeats=<n> for n independent repeats")
    conf = validate(cfg)
    space = flatten_space(OmegaConf.to_container(cfg.tune.space, resolve=True))
    knob = sampled_knob(conf, space)
    check(knob is None or cfg.budget.vary == "width", "budget.vary",
          f"is {cfg.budget.vary}, but the tuner samples model.{knob} itself (only where width alone meets "
          "the budget), so that each trial trains what it sampled", "use budget.vary=width (the tuner's default)")
    task = load_task(conf.dataset, conf.paths.data_dir)
    check(task.physics is None, "dataset", f"{task.name} is a PDE task: it has no validation split to "
          "tune on (its runs select on the physics loss)", "compare PDE models at fixed settings "
          "(experiment=pinn), or tune on a supervised task")
    rule = KnobRule.of(conf, task, space)
    space = rule.cut(space)
    cfg = copy.deepcopy(cfg)
    OmegaConf.update(cfg, "tune.space", unflatten(space), merge=False)  # the study and its runs name the cut
    higher = HIGHER_IS_BETTER[task.metric]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = []
    for repeat in range(conf.tune.repeats):
        repeated = repeat_config(cfg, repeat)
        name = study_name(repeated)
        if conf.tune.workers > 1:
            results.append(_drive_shared(repeated, validate(repeated), space, rule, higher, name, job_dir,
                                         threads, runner))
            continue
        with sole_driver(storage_address(repeated), name):
            results.append(_drive(repeated, validate(repeated), space, rule, higher, name, job_dir, threads, runner))
    return results


def draw_seed(sampler_seed: int, index: int, redraw: int) -> int:
    """TPE's seed for trial `index`'s draw after `redraw` rejected draws (the first draw's
    seed is the one every earlier version used, so their studies resume)."""
    if redraw == 0:
        return sampler_seed * 1_000_003 + index
    return int(np.random.SeedSequence([sampler_seed, index, redraw]).generate_state(1)[0])


def _drive(cfg: DictConfig, conf: TuneRunConfig, space: dict, rule: KnobRule, higher: bool, name: str,
           job_dir: Optional[str], threads: int, runner: Runner) -> TuneResult:
    """The study's trials (those not yet finished), one after another, then its finals."""
    study = optuna.create_study(study_name=name, storage=storage_url(cfg), load_if_exists=True,
                                direction="maximize" if higher else "minimize")
    close_interrupted(study)
    runs = []
    while len(done := finished_trials(study)) < conf.tune.trials:
        trial, values = _draw(study, conf, space, rule, name, len(done))
        runs.append(_train(study, trial, values, len(done), cfg, conf, name, job_dir, threads, runner))
    return _finish(study, cfg, conf, higher, name, runs, job_dir, threads, runner, run_finals=True)


@dataclass
class Claim:
    """A trial a worker of a shared study has claimed: its index among the study's trials
    and its values."""

    trial: optuna.Trial
    index: int
    values: dict[str, Any]


FINISHED, WAIT = "finished", "wait"  # _claim's other answers


def _drive_shared(cfg: DictConfig, conf: TuneRunConfig, space: dict, rule: KnobRule, higher: bool, name: str,
                  job_dir: Optional[str], threads: int, runner: Runner) -> TuneResult:
    """One of tune.workers jobs on the study: claim a trial, train it, until every trial
    has finished; then the finals, unless another worker is running them."""
    storage = storage_url(cfg, heartbeat_s=conf.tune.heartbeat_s)
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                direction="maximize" if higher else "minimize")
    lock = StorageLock(storage_address(cfg))
    runs = []
    while (claim := _claim(study, storage, lock, conf, space, rule, name)) != FINISHED:
        if claim == WAIT:  # every open slot is running elsewhere; one may yet die and free it
            time.sleep(WAIT_S)
            continue
        with heartbeat(storage, claim.trial._trial_id, conf.tune.heartbeat_s):
            runs.append(_train(study, claim.trial, claim.values, claim.index, cfg, conf, name, job_dir, threads,
                               runner))
    with lock.held(f"{name}:finals", wait=False) as mine:
        if not mine:
            print(f"kanfair: tune {name}: every trial has finished; another worker runs the finals", flush=True)
        return _finish(study, cfg, conf, higher, name, runs, job_dir, threads, runner, run_finals=mine)


def _claim(study: optuna.Study, storage: optuna.storages.RDBStorage, lock: StorageLock, conf: TuneRunConfig,
           space: dict, rule: KnobRule, name: str) -> Union[Claim, str]:
    """Under the study's lock: FINISHED; WAIT where every trial not finished is running;
    else a new trial (its index the lowest free one, its values no other trial's) with its
    first heartbeat. Running trials whose worker died (heartbeat silent) are closed first."""
    with lock.held(name), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since optuna 2.9
        optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and COUNTED not in t.user_attrs]
        for orphan in [t for t in running if "worker" not in t.user_attrs]:  # a sequential tuner's, killed
            study.tell(orphan.number, state=optuna.trial.TrialState.FAIL)
        running = [t for t in running if "worker" in t.user_attrs]
        done = [t for t in trials if COUNTED in t.user_attrs]
        if len(done) >= conf.tune.trials:
            return FINISHED
        if len(done) + len(running) >= conf.tune.trials:
            return WAIT
        taken = {t.user_attrs["index"] for t in done + running}
        index = next(i for i in itertools.count() if i not in taken)
        trial, values = _draw(study, conf, space, rule, name, index,
                              {_canonical(t.user_attrs["values"]) for t in done + running})
        trial.set_user_attr("worker", conf.tune.worker)
        storage.record_heartbeat(trial._trial_id)
        return Claim(trial, index, values)


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.RDBStorage, trial_id: int, every_s: int) -> Iterator[None]:
    """Beat the trial's heartbeat every `every_s` seconds while the block trains it."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name="kanfair-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


def _draw(study: optuna.Study, conf: TuneRunConfig, space: dict, rule: KnobRule, name: str, index: int,
          taken: Collection[str] = ()) -> tuple[optuna.Trial, dict[str, Any]]:
    """Ask for trial `index` until a draw can be trained: width alone fits it to the budget
    (KnobRule), and no trial in `taken` (a shared study's running and finished ones) has
    its values. A draw not trained is closed as failed, so the sampler learns nothing from it."""
    while True:
        redraw = sum(t.user_attrs.get(REJECTED) == index for t in study.get_trials(deepcopy=False))
        check(redraw < MAX_REDRAWS, f"model.{rule.knob}" if rule.knob else "tune.space",
              f"{MAX_REDRAWS} draws of trial {index} of {name} in a row could not be trained (width alone did "
              f"not fit them to the budget{', or another trial had their values' if taken else ''})",
              "widen budget.tolerance, or the search space")
        study.sampler = optuna.samplers.TPESampler(seed=draw_seed(conf.tune.sampler_seed, index, redraw))
        trial = study.ask()
        values = {key: suggest(trial, key, spec) for key, spec in space.items()}
        if rule.fits(values) and _canonical(values) not in taken:
            trial.set_user_attr("values", values)
            trial.set_user_attr("index", index)
            return trial, values
        trial.set_user_attr(REJECTED, index)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _train(study: optuna.Study, trial: optuna.Trial, values: dict[str, Any], index: int, cfg: DictConfig,
           conf: TuneRunConfig, name: str, job_dir: Optional[str], threads: int, runner: Runner) -> Record:
    """Run trial `index` and tell the study its validation score (failed where it has none)."""
    record = runner(labelled(cfg, values, "trial", index, name, conf.seed), job_dir, threads)
    trial.set_user_attr(COUNTED, record.status)
    trial.set_user_attr("run_id", record.run_id)
    ok = record.status == "ok" and record.val_metric is not None
    if ok:
        study.tell(trial, record.val_metric)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    print(f"kanfair: tune {name}{_of_repeats(conf)}: trial {index + 1}/{conf.tune.trials}: "
          f"{'val ' + f'{record.val_metric:.6g}' if ok else record.status} with "
          + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)
    return record


def _finish(study: optuna.Study, cfg: DictConfig, conf: TuneRunConfig, higher: bool, name: str, runs: list[Record],
            job_dir: Optional[str], threads: int, runner: Runner, run_finals: bool) -> TuneResult:
    """The best finished trial and (where `run_finals`) its configuration re-run on the seeds."""
    completed = [t for t in finished_trials(study) if t.state == optuna.trial.TrialState.COMPLETE]
    check(bool(completed), "tune.trials", f"none of the {conf.tune.trials} trials of {name} ended ok",
          "look at the trials' records (status, message) and narrow the search space")
    best = max(completed, key=lambda t: t.value if higher else -t.value)
    index = best.user_attrs["index"]
    finals = [runner(labelled(cfg, best.user_attrs["values"], "final", index, name, seed), job_dir, threads)
              for seed in range(conf.tune.seeds)] if run_finals else []
    return TuneResult(name, conf.tune.repeat, index, best.user_attrs["values"], best.value, runs, finals)
