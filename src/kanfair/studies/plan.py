"""What a sweep will cost before it runs: timing probes per model shape, cached per
machine, and a wall-time estimate for the launcher (scripts/plan.py is the command).

Hand-written because no library predicts a training run's time. The probes run kanfair's
own training step and evaluation (`trainer.time_steps`) for a few batches of the run's
real rows, with its batch sizes, optimizer, device and thread count, so they time the code the runs will run. A run's estimate is then counted from its
shape: epochs x steps per epoch x step time, plus the rows each epoch scores, plus those
scored once (the train split at the end under `trainer.eval_train=last`), plus loading
its data.
"""
from __future__ import annotations

import heapq
import json
import math
import os
import platform
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from kanfair.config import TrainConfig, TrainerConfig
from kanfair.data import Task
from kanfair.models.engine import gpu_kernels, native
from kanfair.results import atomic_write_json
from kanfair.trainer import StepTiming, make_splits, time_steps

PROBE_STEPS = 4  # timed training steps per shape (after one warm-up step)
NEUTRAL_SPEC_KEYS = ("grid_range", "init")  # values, not shapes: they change no timing

Probe = StepTiming  # a shape's probe is the trainer's own step timing


@dataclass(frozen=True)
class RunShape:
    """What a run's time depends on besides its model: rows per split, batches, epochs."""

    epochs: int
    batch_size: int
    train_rows: list[int]  # one entry per training phase: the split, or each continual task
    scored_rows_per_epoch: int  # val + test (+ train under eval_train=every) after each scored epoch
    scored_rows_once: list[int]  # scored once, not per epoch: the train split at the end
    # (eval_train=last), or after each continual task the test rows of the tasks seen
    scored_epochs: int = 0  # how many epochs are scored (trainer.eval_every); 0: all


def scored_epochs(trainer: TrainerConfig) -> int:
    """Every eval_every-th epoch and the last (of a grid-extension stage), as `trainer.fit`
    scores them."""
    epochs = trainer.stage_epochs
    return epochs // trainer.eval_every + (epochs % trainer.eval_every != 0)


def run_shape(task: Task, trainer: TrainerConfig, tasks: list[list[int]]) -> RunShape:
    """The rows and batches a run of `task` goes through, as `trainer.fit` (or
    `fit_continual`, with `tasks`) will split and score them; under a grid schedule, those
    of one stage (each stage has its own model size, so its own probe)."""
    if tasks:
        train = [int(torch.isin(task.y_train, torch.tensor(c)).sum()) for c in tasks]
        test = [int(torch.isin(task.y_test, torch.tensor(c)).sum()) for c in tasks]
        return RunShape(trainer.epochs, trainer.batch_size, train, 0,
                        [sum(test[:t + 1]) for t in range(len(tasks))])
    if task.physics is not None:  # full batch; a scoring takes the collocation points and the grid
        n_train = len(task.x_train)
        return RunShape(trainer.stage_epochs, n_train, [n_train], n_train + len(task.x_test), [],
                        scored_epochs(trainer))
    splits = make_splits(task, trainer.protocol, trainer.val_fraction, trainer.val_seed)
    n_train, n_test = len(splits.x_train), len(splits.x_test)
    n_val = 0 if splits.x_val is None else len(splits.x_val)
    every = trainer.eval_train == "every"
    return RunShape(trainer.stage_epochs, trainer.batch_size, [n_train],
                    n_val + n_test + (n_train if every else 0), [] if every else [n_train],
                    scored_epochs(trainer))


def estimate_seconds(shape: RunShape, probe: Probe, data_s: float) -> float:
    """A run's wall time from its shape and its model's probe."""
    steps = sum(math.ceil(rows / shape.batch_size) for rows in shape.train_rows)
    scored = ((shape.scored_epochs or shape.epochs) * shape.scored_rows_per_epoch
              + sum(shape.scored_rows_once))
    return data_s + shape.epochs * steps * probe.step_s + scored * probe.eval_row_s


def shape_key(spec: dict[str, Any], in_dim: int, out_dim: int, trainer: TrainerConfig,
              threads: int, task: Optional[Task] = None) -> str:
    """The probe cache's key: everything a step's time depends on, on this machine (for a
    PDE task, its point counts: a step is the whole collocation set)."""
    model = {k: v for k, v in spec.items() if k not in NEUTRAL_SPEC_KEYS}
    extra = {} if trainer.dtype == "float32" else {"dtype": trainer.dtype}
    if task is not None and task.physics is not None:
        extra.update(pde=task.name, points=[len(task.x_train), len(task.x_test)]
                     + [len(p) for p in task.physics.points.values()])
    return json.dumps({"model": model, "in": in_dim, "out": out_dim, **extra,
                       "batch_size": trainer.batch_size, "eval_batch_size": trainer.eval_batch_size,
                       "optimizer": trainer.optimizer, "device": trainer.device,
                       "compile": trainer.compile, "threads": threads}, sort_keys=True)


def machine_tag() -> str:
    """Probes are valid on the machine and software that made them (the kernels loaded
    first: whether a probe ran on them must not depend on what the process did before)."""
    native.prepare(3)
    return json.dumps({"host": platform.node(), "processor": platform.processor() or platform.machine(),
                       "cpu_count": os.cpu_count(), "torch": torch.__version__,
                       "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                       "cpu_kernels": native.active(), "gpu_kernels": gpu_kernels.active()},
                      sort_keys=True)


def probe_model(model: torch.nn.Module, task: Task, conf: TrainConfig,
                steps: int = PROBE_STEPS) -> Probe:
    """Time `steps` training steps (after one warm-up step) and one evaluation batch of
    `model` on the task's first train rows, as the trainer runs them (`trainer.time_steps`).
    Changes `model`'s weights: probe a throwaway copy."""
    return time_steps(model, task, conf.trainer, conf.seed, steps)


def cache_path() -> Path:
    """$KANFAIR_CACHE or $XDG_CACHE_HOME/kanfair (default ~/.cache/kanfair) / probes.json."""
    root = os.environ.get("KANFAIR_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kanfair"
    return Path(root) / "probes.json"


KEEP = 5  # probes kept per shape; an estimate takes their median
ENOUGH = 3  # a shape with fewer is probed again on the next plan
DRIFT = 1.5  # a fresh probe this many times off its shape's median: the machine's speed moved


class ProbeCache:
    """The last KEEP probes by shape key for this machine (`machine_tag`); others' entries
    are kept. A shape's probe is the median of its samples, so that one probe taken while
    the machine was busy (an MLP step once timed at 7x a KAN's) does not decide an estimate
    for ever."""

    def __init__(self, path: Path):
        self.path, self.machine = path, machine_tag()
        try:
            self.entries: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: probe again
            self.entries = {}
        if not isinstance(self.entries, dict):
            self.entries = {}

    def samples(self, key: str) -> list[Probe]:
        entry = self.entries.get(self.machine, {}).get(key)
        entries = entry if isinstance(entry, list) else [entry]  # earlier versions kept one probe
        try:
            return [Probe(float(e["step_s"]), float(e["eval_row_s"])) for e in entries if e is not None]
        except (TypeError, KeyError, ValueError):
            return []

    def get(self, key: str) -> Optional[Probe]:
        """The median of the shape's kept probes (None: never probed here)."""
        kept = self.samples(key)
        if not kept:
            return None
        return Probe(statistics.median(p.step_s for p in kept), statistics.median(p.eval_row_s for p in kept))

    def add(self, key: str, probe: Probe, fresh_start: bool = False) -> None:
        """Keep `probe` with the shape's last KEEP - 1 (or alone, after the machine's speed moved)."""
        kept = [] if fresh_start else self.samples(key)[-(KEEP - 1):]
        self.entries.setdefault(self.machine, {})[key] = [asdict(p) for p in [*kept, probe]]

    def save(self) -> None:
        """Written whole to a temporary file, then renamed: a killed planner leaves the old file."""
        atomic_write_json(self.path, self.entries)


def drifted(fresh: Probe, kept: Optional[Probe]) -> bool:
    """Does a fresh probe say the machine now runs at another speed than the kept ones saw?"""
    return kept is not None and not (1 / DRIFT <= fresh.step_s / kept.step_s <= DRIFT)


def wall_seconds(run_seconds: list[float], workers: int) -> float:
    """The sweep's wall time with `workers` parallel jobs, each run going in order to the
    first free worker (how joblib hands out jobs); one worker: the sum."""
    finish = [0.0] * max(1, workers)
    for seconds in run_seconds:
        heapq.heapreplace(finish, finish[0] + seconds)
    return max(finish)
