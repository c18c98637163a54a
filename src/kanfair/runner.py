"""One run: a composed config -> its task -> the model sized to its budget -> fit -> the
record, written atomically to the results store.

Hydra-free (it takes an OmegaConf config that anything may compose), so that every face
calls the same path: the `kanfair-train` app (cli/train.py), the tuner (tune.py), the
Python API (api.py) and the planner (cli/plan.py, for run ids and sizes). Kinds of run
(continual tasks today) branch here and nowhere else.
"""
from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from kanfair import budget as budgets
from kanfair.config import TrainConfig, validate
from kanfair.cost import Cost, count
from kanfair.data import Task, continual, load_task
from kanfair.data.fingerprint import fingerprint, hashed_part
from kanfair.loggers import open_logger
from kanfair.models import FAMILIES, REFERENCES, build, count_params, family, model_spec
from kanfair.models.engine import gpu_kernels, native
from kanfair.models.text import EmbeddingBagFront
from kanfair.results import (Record, config_hash, finished_ok, record_path, run_id_for, set_aside_if_not_this_run,
                             write_job_copy, write_record)
from kanfair.schema import check
from kanfair.trainer import (FitResult, GridExtension, check_physics_trainer, check_validation_split, fit,
                             fit_boosting, fit_continual)
from kanfair.unread import said_once
from kanfair.version import __version__


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class SizedModel:
    """The model a run trains: concrete spec, budget match, the width it takes as input
    and, for text, the EmbeddingBag in front of it (left out of params, FLOPs and budget)."""

    spec: dict[str, Any]
    matched: Optional[budgets.Match]
    in_dim: int
    embedding: Optional[dict[str, int]] = None

    @classmethod
    def for_task(cls, conf: TrainConfig, task: Task) -> "SizedModel":
        spec, in_dim, embedding = model_spec(conf.model), task.in_dim, None
        if conf.trainer.grid_schedule:
            spec = first_stage(spec, conf, task)
        if task.vocab_size:
            if not spec["hidden"]:
                raise ValueError("a text task needs model.hidden: its first width is the "
                                 "EmbeddingBag size, e.g. model.hidden=[64]")
            in_dim = spec["hidden"][0]
            spec = {**spec, "hidden": spec["hidden"][1:]}
            embedding = {"vocab_size": task.vocab_size, "dim": in_dim,
                         "params": task.vocab_size * in_dim}
        spec, matched = budgets.plan(conf.budget, spec, in_dim, task.out_dim)
        return cls(spec, matched, in_dim, embedding)

    def at_knob(self, knob: str, value: int) -> "SizedModel":
        """The same model with its family's knob at `value` (a grid-extension stage)."""
        return replace(self, spec={**self.spec, knob: value})

    @property
    def hidden(self) -> list[int]:
        return ([self.in_dim] if self.embedding else []) + list(self.spec["hidden"])

    def cost(self, out_dim: int, convention: str) -> Cost:
        return count(self.spec, self.in_dim, out_dim, convention)

    def budget_block(self) -> Optional[dict[str, Any]]:
        """What the record says of the budget: the match made, or None (budget=none)."""
        return self.matched.as_dict() if self.matched else None

    def build(self, out_dim: int) -> tuple[nn.Module, int]:
        """The model, and its parameter count without the embedding."""
        body = build(self.spec, self.in_dim, out_dim)
        if not self.embedding:
            return body, count_params(body)
        front = EmbeddingBagFront(self.embedding["vocab_size"], self.in_dim, body)
        return front, count_params(body)


@dataclass
class ReferenceModel:
    """A reference line (model=hgb) where a run has a SizedModel: its settings, the input
    width, the budget of the comparison it stands beside (marked `reference`: nothing was
    matched) and, once fitted, its size in tree nodes (no FLOPs are counted for trees)."""

    spec: dict[str, Any]
    budget: Optional[dict[str, Any]]
    in_dim: int
    nodes: int = 0
    embedding: Optional[dict[str, int]] = None
    hidden: list[int] = field(default_factory=list)

    @classmethod
    def for_task(cls, conf: TrainConfig, task: Task) -> "ReferenceModel":
        name = conf.model.name
        check(not task.vocab_size and task.physics is None and not conf.dataset.continual.tasks, "model",
              f"{name} is a reference for tabular features; {task.name} is a text, PDE or continual task",
              "compare it on a tabular data set, or choose a neural family")
        check(task.kind == "classification" or task.out_dim == 1, "model",
              f"{name} fits one target; {task.name} has {task.out_dim}", "choose a neural family")
        check(not conf.trainer.grid_schedule, "trainer.grid_schedule", f"{name} has no grid to extend",
              "leave trainer.grid_schedule unset")
        budget = conf.budget
        target = budget.target
        if budget.kind != "none" and budget.match is not None:
            target = budgets.target_of(budget.match, task.in_dim, task.out_dim, budget.kind, budget.convention)
        block = None if budget.kind == "none" else {"kind": budget.kind, "target": target,
                                                    "convention": budget.convention, "reference": True}
        return cls(asdict(conf.model), block, task.in_dim)

    def cost(self, out_dim: int, convention: str) -> Cost:
        return Cost(self.nodes, 0.0, convention)

    def budget_block(self) -> Optional[dict[str, Any]]:
        return self.budget


def first_stage(spec: dict[str, Any], conf: TrainConfig, task: Task) -> dict[str, Any]:
    """The spec a grid-extension run starts from (its knob at the schedule's first value),
    or a ConfigError naming the key that cannot work with a schedule."""
    schedule, owner = conf.trainer.grid_schedule, family(spec["name"])
    extendable = ", ".join(name for name, f in FAMILIES.items() if f.refine)
    check(owner.refine is not None, "trainer.grid_schedule",
          f"model {spec['name']} has no resolution knob to extend", f"choose one of {extendable}, "
          "or leave trainer.grid_schedule unset")
    check(schedule[0] >= owner.knob_min, "trainer.grid_schedule",
          f"starts at {schedule[0]}, but {spec['name']} needs model.{owner.knob} >= {owner.knob_min}",
          f"start the schedule at {owner.knob_min} or more")
    check(conf.budget.kind == "none" or conf.budget.vary == "width", "budget.vary",
          f"is {conf.budget.vary}, but trainer.grid_schedule sets model.{owner.knob} stage by stage",
          "use budget.vary=width (the budget then sizes the first stage)")
    check(not task.vocab_size and not conf.dataset.continual.tasks, "trainer.grid_schedule",
          "grid extension refits the edge functions on the training inputs, which a text or "
          "continual task does not give the model directly", "leave trainer.grid_schedule unset")
    return model_spec({**spec, owner.knob: schedule[0]})


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_kernel_set() -> str:
    """ATen's CPU kernel set (DEFAULT, AVX2, AVX512; ATEN_CPU_CAPABILITY lowers it): the
    kernels of transcendental functions and reductions differ in the last bit between sets,
    and a tuner amplifies that, so a record says which set made it."""
    return torch.backends.cpu.get_cpu_capability()


@functools.cache
def blas() -> str:
    """The BLAS torch was built with (mkl, openblas, ...), from its build settings."""
    match = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return match.group(1) if match else "unknown"


def environment(device_name: str) -> dict[str, Any]:
    """Where a run ran: its timings, and its last float digits, depend on this."""
    on_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    device = f"cuda: {torch.cuda.get_device_name()}" if on_cuda else f"cpu: {_cpu_name()}"
    return {"host": platform.node(), "device": device,
            "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
            "cpu_kernels": native.active() and not on_cuda,
            "gpu_kernels": gpu_kernels.active() and on_cuda,
            **({"gpu_kernels_failed": gpu_kernels.failure()} if gpu_kernels.failure() else {}),
            "cpu_kernel_set": cpu_kernel_set(), "blas": blas(),
            "torch": torch.__version__, "python": platform.python_version(), **slurm_job()}


def slurm_job() -> dict[str, Any]:
    """The SLURM job a run ran in, if any: its id, array task, and how often SLURM requeued
    it (a job stopped at its time limit is requeued by hydra/launcher=kanfair_slurm, and its
    unfinished run starts again)."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    return {"slurm": {"job_id": f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"],
                      "requeued": int(os.environ.get("SLURM_RESTART_COUNT", 0))}}


def make_record(conf: TrainConfig, resolved: dict[str, Any], data: dict[str, Any], task: Task,
                sized: SizedModel, params: int, result: Optional[FitResult], started_at: str,
                data_time: float, status: str = "", message: str = "") -> Record:
    """The record of one run; `result` is None when the run failed before training ended."""
    hash_ = config_hash(resolved, hashed_part(data))
    sel = result.selected if result else {}
    metric = result.metric if result else task.metric
    epochs_run = result.epochs_run if result else 0
    train_time = result.train_time_s if result else 0.0
    n_train = result.n_train if result else len(task.x_train)
    metric_of = lambda split: sel.get(f"{split}_{metric}")  # noqa: E731
    flops = sized.cost(task.out_dim, conf.budget.convention)
    return Record(
        run_id=run_id_for(conf.model.name, conf.dataset.name, conf.seed, hash_),
        status=status or (result.status if result else "failed"),
        model=conf.model.name, dataset=task.name, task=task.kind, metric=metric,
        protocol=("continual" if conf.dataset.continual.tasks else "physics" if task.physics is not None
                  else conf.trainer.protocol), seed=conf.seed, hidden=sized.hidden,
        params=params,
        params_kanbefair=sized.cost(task.out_dim, "kanbefair").params,
        flops=flops.flops,
        flops_convention=conf.budget.convention, model_spec=sized.spec,
        budget=sized.budget_block(),
        test_metric=metric_of("test"),
        final_test=result.history[-1][f"test_{metric}"] if result and result.history else None,
        best_epoch=result.best_epoch if result else None,
        val_metric=metric_of("val"), train_metric=metric_of("train"),
        test_metrics={k[5:]: v for k, v in sel.items() if k.startswith("test_")},
        epochs=conf.trainer.total_epochs, epochs_run=epochs_run,
        data_time_s=data_time, train_time_s=train_time, eval_time_s=result.eval_time_s if result else 0.0,
        time_per_epoch_s=train_time / epochs_run if epochs_run else None,
        samples_per_s=n_train * epochs_run / train_time if train_time > 0 else None,
        n_train=n_train, n_val=result.n_val if result else 0,
        n_test=result.n_test if result else len(task.x_test),
        compiled=result.compiled if result else False,
        config=resolved, config_hash=hash_,
        history=result.history if result else [],
        started_at=started_at, finished_at=_now(), kanfair_version=__version__,
        message=message or (result.message if result else ""), split=task.split, data=data,
        extra={**(result.extra if result else {}),
               **({"embedding": sized.embedding} if sized.embedding else {}),
               **({"flops_lower_bound": True, "flops_skipped": flops.skipped} if flops.skipped else {})},
        environment=environment(conf.trainer.device),
        widths=[sized.in_dim, *sized.hidden[1 if sized.embedding else 0:], task.out_dim])


def selected_stage(sized: SizedModel, params: int, result: FitResult) -> tuple[SizedModel, int]:
    """A grid-extension run reports the model of the stage its selected epoch is in: that
    stage's knob (so its FLOPs) and trainable parameters; a pruned run, the pruned widths."""
    pruned = result.extra.get("pruning")
    if pruned:
        widths = pruned["widths_after"]
        sized = replace(sized, spec={**sized.spec, "hidden": widths[1:-1]}, in_dim=widths[0])
    extension = result.extra.get("grid_extension")
    if not extension or extension["selected_stage"] is None:
        return sized, params
    stage = extension["stages"][extension["selected_stage"]]
    return sized.at_knob(extension["knob"], stage[extension["knob"]]), stage["params"]


def summary_line(record: Record) -> str:
    value = "n/a" if record.test_metric is None else f"{record.test_metric:.6g}"
    unit = "step" if record.protocol == "physics" else "epoch"
    where = (f"{unit} {record.best_epoch}" if record.best_epoch
             else "final" if record.protocol == "continual" else "no epoch")
    size = (f"tree nodes {record.params:,} (a reference: no budget sizes it)" if "reference" in record.extra
            else f"params {record.params:,} | {record.flops_convention} FLOPs "
                 f"{'>= ' if record.extra.get('flops_lower_bound') else ''}{record.flops:,.0f}")
    return (f"kanfair: {record.status} | {record.model} {record.hidden} on {record.dataset} | {size} | "
            f"test {record.metric} {value} "
            f"({where}, protocol {record.protocol}) | train {record.train_time_s:.1f} s | "
            f"{record.run_id}")


def run_key(cfg: DictConfig, data: Optional[dict[str, Any]] = None) -> tuple[str, str]:
    """The id (and file name) and the config hash of the record a composed config writes on
    the data that `data` fingerprints (computed when not given)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    data = fingerprint(validate(cfg).dataset) if data is None else data
    hash_ = config_hash(resolved, hashed_part(data))
    return run_id_for(cfg.model.name, cfg.dataset.name, cfg.seed, hash_), hash_


def _built(conf: TrainConfig, sized: SizedModel, task: Task) -> tuple[nn.Module, int]:
    """The run's network, seeded, and its trainable parameters; refused, naming the key,
    when it has none or lacks what the trainer settings ask of it."""
    torch.manual_seed(conf.seed)
    model, params = sized.build(task.out_dim)
    check(not conf.trainer.grid_update_every or hasattr(model, "update_grid"), "trainer.grid_update_every",
          f"model {conf.model.name} has no grid to move to its inputs", "use it with model=kan, or set it to 0")
    for key, value in (("lamb", conf.trainer.lamb), ("prune_threshold", conf.trainer.prune_threshold)):
        check(not value or conf.model.name == "kan", f"trainer.{key}", f"the KAN paper's sparsity and pruning "
              f"read a spline KAN's edges; model {conf.model.name} has none here", "use it with model=kan")
    check(params > 0, "model", f"{conf.model.name} {sized.hidden} has no trainable parameters: "
          "nothing would train", "give the model parameters that require grad")
    return model, params


def run(cfg: DictConfig, job_dir: Optional[str] = None, threads: int = 0) -> Optional[Record]:
    """One run from a composed config; writes its record and returns it, or returns None
    when the results store already has an ok record of the same config (resume)."""
    conf = validate(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    data = fingerprint(conf.dataset)
    run_id, hash_ = run_key(cfg, data)
    ignored = said_once(resolved)
    if ignored:
        print(ignored, flush=True)
    store = record_path(conf.paths.results_dir, run_id).parent
    if store.exists() and not store.is_dir():  # refused before training, creating nothing
        raise FileExistsError(errno.EEXIST, "a file stands where the results store's runs folder goes", str(store))
    set_aside_if_not_this_run(conf.paths.results_dir, run_id, hash_, conf.seed)
    if not conf.trainer.rerun and finished_ok(conf.paths.results_dir, run_id, hash_, conf.seed):
        print(f"kanfair: skipped {run_id}: an ok record exists (trainer.rerun=true runs it again)",
              flush=True)
        return None
    if conf.trainer.threads or threads:
        torch.set_num_threads(conf.trainer.threads or threads)
    start = time.perf_counter()
    task = load_task(conf.dataset, conf.paths.data_dir)
    data_time = time.perf_counter() - start
    tasks = conf.dataset.continual.tasks
    if tasks:
        task = continual.for_tasks(task, tasks)
    reference = conf.model.name in REFERENCES
    sized = ReferenceModel.for_task(conf, task) if reference else SizedModel.for_task(conf, task)
    if task.physics is not None:
        check_physics_trainer(conf.trainer)
        family(conf.model.name).check_twice_differentiable(sized.spec)
    elif not tasks:
        check_validation_split(task, conf.trainer.protocol, conf.trainer.val_fraction)
    model, params = (None, 0) if reference else _built(conf, sized, task)
    print(f"kanfair: run {run_id}; its record goes to "  # said once the run is sure to start
          f"{record_path(conf.paths.results_dir, run_id).resolve()}", flush=True)
    started = _now()
    logger = open_logger(conf.logger, job_dir, run_id, resolved)
    try:
        if reference:
            result, params = fit_boosting(sized.spec, task, conf.trainer, conf.seed)
            sized = replace(sized, nodes=params)
        elif tasks:
            result = fit_continual(model, task, conf.trainer, conf.seed, tasks)
        else:
            owner = family(conf.model.name)
            extension = GridExtension(owner.knob, owner.refine) if conf.trainer.grid_schedule else None
            result = fit(model, task, conf.trainer, conf.seed, on_epoch=logger.log_epoch, extension=extension)
    except Exception as error:
        failed = make_record(conf, resolved, data, task, sized, params, None, started, data_time,
                             "failed", str(error))
        write_record(failed, conf.paths.results_dir, job_dir)
        logger.finish(failed)
        raise
    sized, params = selected_stage(sized, params, result)
    record = make_record(conf, resolved, data, task, sized, params, result, started, data_time)
    write_record(record, conf.paths.results_dir)
    print(summary_line(record), flush=True)  # the record is stored: said even if what follows fails
    write_job_copy(record, job_dir)
    logger.finish(record)
    return record


def run_or_stored(cfg: DictConfig, job_dir: Optional[str] = None, threads: int = 0) -> Record:
    """`run`, or the stored record when the results store already holds it (resume)."""
    record = run(cfg, job_dir, threads)
    if record is None:
        stored = record_path(cfg.paths.results_dir, run_key(cfg)[0])
        record = Record(**json.loads(stored.read_text()))
    return record
