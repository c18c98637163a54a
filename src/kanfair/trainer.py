"""The shared training loop: one optimizer setting, one data order, one protocol for all models.

Knows nothing of Hydra: it takes a model, a Task and a TrainerConfig. Data live on the
device as tensors and are batched by shuffled index, so a step has no per-sample Python.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits
from torch import nn
from tqdm.auto import tqdm

from kanfair.config import TrainerConfig
from kanfair.schema import check
from kanfair.data import Task
from kanfair.data.pde import Physics, derivative_path
from kanfair.models import boosting, count_params
from kanfair.models.pruning import prune, sparsity_penalty

STEP_BAR_MIN_STEPS = 200  # show a per-step bar only on epochs at least this long
PLAIN_EVERY_S = 30.0  # without a terminal, a progress line at most this often


@dataclass
class Splits:
    """The tensors a run trains, selects and reports on (val is None under kanbefair)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: Optional[torch.Tensor]
    y_val: Optional[torch.Tensor]
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass
class FitResult:
    status: str  # "ok" | "diverged"
    metric: str  # the selection/report metric name, e.g. "accuracy" or "kanbefair_rmse"
    history: list[dict[str, float]]
    best_epoch: Optional[int]
    train_time_s: float
    eval_time_s: float
    epochs_run: int  # epochs (a PDE task's steps) trained without a non-finite loss
    n_train: int
    n_val: int
    n_test: int
    compiled: bool
    message: str = ""
    selected: dict[str, float] = field(default_factory=dict)  # history row of best_epoch
    extra: dict = field(default_factory=dict)  # e.g. the continual-learning block


def reported_metric(task: Task, protocol: str) -> str:
    """The metric a run selects on and reports: the task's, but KANbeFair's per-sample RMSE
    for a regression under its own protocol."""
    return task.metric if task.kind != "regression" or protocol == "val" else "kanbefair_rmse"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trainer.device=cuda but no CUDA device is available; use trainer.device=auto")
    return torch.device(name)


def check_validation_split(task: Task, protocol: str, val_fraction: float) -> None:
    """Refuse, naming the key, a validation share that cannot be split (stratified) from
    this task's training rows; the CLI calls it before anything is trained or written."""
    if protocol == "kanbefair":
        return
    rows, held = len(task.x_train), math.ceil(val_fraction * len(task.x_train))
    counts = torch.unique(task.y_train, return_counts=True)[1] if task.kind == "classification" else None
    classes = 1 if counts is None else len(counts)
    check(counts is None or int(counts.min()) >= 2, "trainer.protocol",
          "a class has a single training row, which a stratified validation split cannot place "
          "on both sides", "drop that class's row from the data, or use trainer.protocol=kanbefair")
    check(min(held, rows - held) >= classes, "trainer.val_fraction",
          f"holds out {held} of {rows} training rows; a stratified split needs at least one row "
          f"of each of the {classes} classes on each side", f"set it between {classes / rows:.3g} "
          f"and {1 - classes / rows:.3g}, or use trainer.protocol=kanbefair")


def check_physics_trainer(cfg: TrainerConfig) -> None:
    """Refuse, naming the key, trainer settings that a PDE task would ignore: it trains full
    batch on its collocation points and selects the step of lowest physics loss."""
    defaults = TrainerConfig()
    for key, why in (("batch_size", "trains full batch on its collocation points"),
                     ("protocol", "selects the step of lowest physics loss"),
                     ("val_fraction", "holds out no validation split"),
                     ("val_seed", "holds out no validation split"),
                     ("eval_train", "is scored on its evaluation grid, not its training points"),
                     ("lamb", "trains on its physics loss alone (kanfair adds no sparsity penalty to it)"),
                     ("prune_threshold", "is not pruned by kanfair")):
        check(getattr(cfg, key) == getattr(defaults, key), f"trainer.{key}",
              f"a PDE task {why}, so it would change nothing", f"leave trainer.{key} unset")


def make_splits(task: Task, protocol: str, val_fraction: float, val_seed: int = 0) -> Splits:
    """Hold out a seeded (stratified for classification) validation share under protocol=val;
    `val_seed` (trainer.val_seed), not the run's seed, so every model and seed of a
    comparison sees the same split."""
    if protocol == "kanbefair":
        return Splits(task.x_train, task.y_train, None, None, task.x_test, task.y_test)
    check_validation_split(task, protocol, val_fraction)
    stratify = task.y_train.numpy() if task.kind == "classification" else None
    idx_tr, idx_val = train_test_split(
        torch.arange(len(task.x_train)).numpy(), test_size=val_fraction,
        stratify=stratify, random_state=val_seed)
    idx_tr, idx_val = torch.as_tensor(idx_tr), torch.as_tensor(idx_val)
    return Splits(task.x_train[idx_tr], task.y_train[idx_tr], task.x_train[idx_val],
                  task.y_train[idx_val], task.x_test, task.y_test)


# One LBFGS "step" (one epoch full batch) allows up to 20 iterations, as one pykan step does;
# history and line search as pykan's
LBFGS_SETTINGS = {"max_iter": 20, "history_size": 10, "line_search_fn": "strong_wolfe"}
# pykan's tolerances (KAN.train / MultKAN.fit): its steps never stop early, and it keeps a
# curvature pair down to y·s = 1e-32, where torch's LBFGS hard-codes y·s > 1e-10
PYKAN_TOLERANCES = {"tolerance_grad": 1e-32, "tolerance_change": 1e-32, "tolerance_ys": 1e-32}
TORCH_CURVATURE_THRESHOLD = 1e-10
LBFGS_OPTIMIZERS = ("lbfgs", "pykan_lbfgs")


def lbfgs_settings(cfg: TrainerConfig) -> dict:
    """What an LBFGS run's record states of its optimizer: the class, what one step allows,
    and the tolerances (the curvature one: below it a step's y·s is not remembered)."""
    if cfg.optimizer == "pykan_lbfgs":
        return {"implementation": "kan.LBFGS (pykan)", **LBFGS_SETTINGS, **PYKAN_TOLERANCES}
    defaults = torch.optim.LBFGS([torch.zeros(1, requires_grad=True)]).defaults
    return {"implementation": "torch.optim.LBFGS", **LBFGS_SETTINGS, "tolerance_grad": defaults["tolerance_grad"],
            "tolerance_change": defaults["tolerance_change"], "tolerance_ys": TORCH_CURVATURE_THRESHOLD}


def make_optimizer(cfg: TrainerConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "pykan_lbfgs":
        # pykan's copy of torch's LBFGS, the KAN paper's optimizer: its y·s tolerance can be set
        from kan.LBFGS import LBFGS

        return LBFGS(params, lr=cfg.lr, **LBFGS_SETTINGS, **PYKAN_TOLERANCES)
    return torch.optim.LBFGS(params, lr=cfg.lr, **LBFGS_SETTINGS)


def loss_fn(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return F.cross_entropy if kind == "classification" else F.mse_loss


Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def objective_for(task: Task, physics: Optional[Physics], cfg: Optional[TrainerConfig] = None) -> Objective:
    """The task's loss of a batch, (model, x, y) -> (loss, outputs): the criterion of the
    outputs for a supervised task, the weighted physics loss for a PDE task. With `cfg`
    whose trainer.lamb > 0, plus the KAN paper's sparsity penalty on the batch."""
    if physics is not None:
        return physics.loss
    criterion = loss_fn(task.kind)

    def supervised(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if cfg is None or not cfg.lamb:
            outputs = model(x)
            return criterion(outputs, y), outputs.detach()
        scales: list[torch.Tensor] = []
        outputs = model(x, edge_scales=scales)
        penalty = sparsity_penalty(scales, cfg.lamb_l1, cfg.lamb_entropy)
        return criterion(outputs, y) + cfg.lamb * penalty, outputs.detach()
    return supervised


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str,
             batch_size: int) -> dict[str, float]:
    """Metrics over a whole split: accuracy in % for classification; for regression the
    true RMSE and KANbeFair's mean per-sample sqrt of the squared error."""
    model.eval()
    return output_metrics(torch.cat([model(xb) for xb in x.split(batch_size)]), y, kind)


def output_metrics(outputs: torch.Tensor, y: torch.Tensor, kind: str) -> dict[str, float]:
    """`evaluate`'s metrics from a split's outputs (logits, or log-probabilities, for
    classification): one definition for networks and the boosting reference."""
    loss = float(loss_fn(kind)(outputs, y))
    if kind == "classification":
        return {"loss": loss, "accuracy": float((outputs.argmax(1) == y).float().mean() * 100)}
    sq = (outputs - y).pow(2)
    return {"loss": loss, "rmse": float(sq.mean().sqrt()),
            "kanbefair_rmse": float(sq.mean(dim=1).sqrt().mean())}


def maybe_compile(model: nn.Module, enabled: bool) -> tuple[nn.Module, bool]:
    """torch.compile the model when asked; fall back to eager with a warning if it fails."""
    if not enabled:
        return model, False
    try:
        return torch.compile(model), True
    except Exception as error:  # compile support varies by platform and Python version
        warnings.warn(f"torch.compile unavailable ({error}); training eagerly")
        return model, False


def _select(history: list[dict[str, float]], key: str, higher_is_better: bool) -> Optional[int]:
    """Index of the best epoch by `key` (first one on ties)."""
    if not history:
        return None
    sign = 1.0 if higher_is_better else -1.0
    return max(range(len(history)), key=lambda i: (sign * history[i][key], -i))


def _train_epoch(trained: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective,
                 x: torch.Tensor, y: torch.Tensor, cfg: TrainerConfig, generator: torch.Generator,
                 batch_size: int) -> tuple[dict[str, float], str, float]:
    """One pass over (x, y) in shuffled mini-batches: ({running_train_loss, and for
    classification running_train_accuracy: each batch's, before its step, averaged over the
    pass}, "" or why it diverged, seconds spent)."""
    start = time.perf_counter()
    trained.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    batches = order.split(batch_size)
    if len(batches) >= STEP_BAR_MIN_STEPS:
        batches = tqdm(batches, leave=False, unit="step", disable=None)
    classify = y.dtype == torch.int64
    loss_sum, correct = 0.0, 0
    for idx in batches:
        xb, yb = x[idx], y[idx]
        outputs: list[torch.Tensor] = []

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            batch_loss, out = objective(trained, xb, yb)
            outputs[:] = [out]
            batch_loss.backward()
            return batch_loss

        loss = optimizer.step(closure) if cfg.optimizer in LBFGS_OPTIMIZERS else closure()
        if not torch.isfinite(loss):
            return ({"running_train_loss": loss_sum / len(x)}, f"non-finite loss ({float(loss.detach())})",
                    time.perf_counter() - start)
        if cfg.optimizer not in LBFGS_OPTIMIZERS:
            optimizer.step()
        loss_sum += float(loss.detach()) * len(idx)
        if classify:
            correct += int((outputs[0].argmax(1) == yb).sum())
    running = {"running_train_loss": loss_sum / len(x)}
    if classify:
        running["running_train_accuracy"] = correct / len(x) * 100
    return running, "", time.perf_counter() - start


class Progress:
    """The epoch bar on a terminal; elsewhere (a log file under nohup or SLURM, where tqdm
    stays quiet) a plain line on stderr every PLAIN_EVERY_S seconds, so that a long run is
    not silent until it ends."""

    def __init__(self, total: int, name: str, unit: str):
        self.bar = tqdm(total=total, desc=name, unit=unit, disable=None)
        self.total, self.name, self.unit, self.done, self.postfix = total, name, unit, 0, ""
        self.start = self.last = time.monotonic()

    def update(self) -> None:
        self.bar.update()
        self.done += 1
        now = time.monotonic()
        if self.bar.disable and now - self.last >= PLAIN_EVERY_S:
            self.last = now
            print(f"kanfair: {self.name}: {self.unit} {self.done}/{self.total}, {now - self.start:.0f} s"
                  + (f" ({self.postfix})" if self.postfix else ""), file=sys.stderr, flush=True)

    def set_postfix(self, **values: str) -> None:
        self.bar.set_postfix(**values)
        self.postfix = ", ".join(f"{key} {value}" for key, value in values.items())

    def close(self) -> None:
        self.bar.close()


def on_device(tensor: Optional[torch.Tensor], device: torch.device, cfg: TrainerConfig) -> Optional[torch.Tensor]:
    """A run's tensor where its model is: on `device`, floats in trainer.dtype (labels keep
    their integer type); None stays None (no validation split)."""
    if tensor is None:
        return None
    return tensor.to(device, getattr(torch, cfg.dtype) if tensor.is_floating_point() else tensor.dtype)


def _setup(model: nn.Module, task: Task, cfg: TrainerConfig, seed: int):
    """Device, the (possibly compiled) model in trainer.dtype, one optimizer, the loss, the
    data-order RNG and the task's physics moved alongside (None for a supervised task)."""
    device, dtype = resolve_device(cfg.device), getattr(torch, cfg.dtype)
    model = model.to(device, dtype)
    trained, compiled = maybe_compile(model, cfg.compile)
    optimizer = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    physics = task.physics.to(device, dtype) if task.physics is not None else None
    return (device, trained, compiled, optimizer, objective_for(task, physics, cfg),
            torch.Generator().manual_seed(seed), physics)


@dataclass(frozen=True)
class StepTiming:
    """What a model costs under this trainer: one training step at the run's batch size (a
    PDE task: one full-batch step on the collocation points) and evaluation per row scored."""

    step_s: float
    eval_row_s: float


def time_steps(model: nn.Module, task: Task, cfg: TrainerConfig, seed: int, steps: int) -> StepTiming:
    """Time `steps` training steps (after one warm-up step) and one evaluation batch of
    `model` on the task's first train rows, through the same setup, step and evaluation
    that `fit` runs: the one way to time this trainer (the planner's probes use it).
    Changes `model`'s weights: time a throwaway copy."""
    device, trained, _, optimizer, objective, generator, physics = _setup(model, task, cfg, seed)
    batch = len(task.x_train) if physics is not None else cfg.batch_size
    rows = min(len(task.x_train), (steps + 1) * batch)
    x, y = (on_device(t[:rows], device, cfg) for t in (task.x_train, task.y_train))
    _train_epoch(trained, optimizer, objective, x[:batch], y[:batch], cfg, generator, batch)
    if physics is not None:  # a step is the whole collocation set, run `steps` times
        start = time.perf_counter()
        for _ in range(steps):
            _train_epoch(trained, optimizer, objective, x, y, cfg, generator, batch)
        step_s = (time.perf_counter() - start) / steps
        x_test, u_test = on_device(task.x_test, device, cfg), on_device(task.y_test, device, cfg)
        start = time.perf_counter()
        physics.score(trained, x, y, x_test, u_test, cfg.eval_batch_size)
        return StepTiming(step_s, (time.perf_counter() - start) / (len(x) + len(x_test)))
    timed = min(rows, steps * batch)
    _, _, seconds = _train_epoch(trained, optimizer, objective, x[:timed], y[:timed], cfg, generator, batch)
    step_s = seconds / math.ceil(timed / batch)
    eval_rows = min(len(task.x_train), cfg.eval_batch_size)
    x_eval, y_eval = (on_device(t[:eval_rows], device, cfg) for t in (task.x_train, task.y_train))
    evaluate(trained, x_eval[:16], y_eval[:16], task.kind, cfg.eval_batch_size)  # warm-up
    start = time.perf_counter()
    evaluate(trained, x_eval, y_eval, task.kind, cfg.eval_batch_size)
    return StepTiming(step_s, (time.perf_counter() - start) / eval_rows)


@dataclass(frozen=True)
class GridExtension:
    """How a family refines its resolution knob between stages (kanfair.models.Family)."""

    knob: str  # e.g. "grid_size", "frequencies", "degree"
    refine: Callable[[nn.Module, int, torch.Tensor], float]


def fit(model: nn.Module, task: Task, cfg: TrainerConfig, seed: int,
        on_epoch: Optional[Callable[[dict[str, float]], None]] = None,
        extension: Optional[GridExtension] = None) -> FitResult:
    """Train `model` on `task` and select the reported epoch as the protocol says.

    protocol=val: select on the validation split, report test at that epoch.
    protocol=kanbefair: no validation split; report the best test metric over epochs.
    A PDE task: an epoch is one full-batch step on the collocation points; the reported
    step is the scored one of lowest physics loss (the exact solution never selects).
    Every trainer.eval_every-th epoch and the last are scored, and only they can be
    selected. A non-finite loss stops the run with status "diverged" (the epochs done so
    far count).

    With trainer.grid_schedule (and `extension`, the family's refinement), training runs in
    stages of trainer.stage_epochs epochs: the model starts at the schedule's first value
    (the runner builds it so), and before each later stage its knob is refined in place on
    the training inputs and the optimizer starts afresh, as in the KAN paper. Selection
    runs over all stages' scored epochs; extra["grid_extension"] keeps one block per stage.
    With trainer.grid_update_every, a model with `update_grid(x)` (the KAN) moves its grids
    to its layers' training inputs before the epochs `updates_grid` names.
    With trainer.lamb > 0 the loss carries the KAN paper's sparsity penalty; with
    trainer.prune_threshold the KAN is pruned on the training inputs after the first stage
    (whose penalty then stops), the later stages retrain it, and only their epochs can be
    selected; extra["pruning"] says what was pruned.
    """
    device, trained, compiled, optimizer, objective, generator, physics = _setup(model, task, cfg, seed)
    splits = (make_splits(task, cfg.protocol, cfg.val_fraction, cfg.val_seed) if physics is None
              else Splits(task.x_train, task.y_train, None, None, task.x_test, task.y_test))
    x_tr, y_tr, x_val, y_val, x_te, y_te = (on_device(t, device, cfg) for t in vars(splits).values())
    metric = reported_metric(task, cfg.protocol)
    select_on = ("physics_loss" if physics is not None
                 else f"val_{metric}" if cfg.protocol == "val" else f"test_{metric}")
    higher_is_better = task.kind == "classification"

    history: list[dict[str, float]] = []
    status, message = "ok", ""
    train_time = eval_time = 0.0
    bar = Progress(cfg.total_epochs, task.name, "step" if physics else "epoch")
    scored_each_epoch = [("train", x_tr, y_tr)] if cfg.eval_train == "every" else []
    scored_each_epoch += [(split, x, y) for split, x, y in (("val", x_val, y_val), ("test", x_te, y_te))
                          if x is not None]

    def score(splits: list) -> dict[str, float]:
        if physics is not None:
            return physics.score(trained, x_tr, y_tr, x_te, y_te, cfg.eval_batch_size)
        return {f"{split}_{k}": v for split, x, y in splits
                for k, v in evaluate(trained, x, y, task.kind, cfg.eval_batch_size).items()}

    batch_size = len(x_tr) if physics is not None else cfg.batch_size
    score_train_last = cfg.eval_train == "last" and physics is None
    epochs_run = 0
    stages: list[dict] = []
    pruned: dict = {}
    selectable_from = 0  # a pruned run selects among the pruned model's epochs only
    for stage, knob in enumerate(cfg.grid_schedule or [None]):
        residual = 0.0
        if stage == 1 and cfg.prune_threshold is not None:  # the sparsified KAN pruned, then retrained
            pruned = prune(model, x_tr, cfg.prune_threshold, cfg.prune_inputs)
            objective, selectable_from = objective_for(task, physics), len(history)
        if stage:  # refine, then a fresh optimizer (and compiled graph) for the new parameters
            residual = extension.refine(model, knob, x_tr)
            trained, compiled = maybe_compile(model, cfg.compile)
            optimizer = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
        first_row, stage_start = len(history), train_time
        for stage_epoch in range(1, cfg.stage_epochs + 1):
            epoch = epochs_run + 1
            if updates_grid(cfg, stage_epoch):
                model.update_grid(x_tr)
            running, problem, seconds = _train_epoch(trained, optimizer, objective, x_tr, y_tr, cfg,
                                                     generator, batch_size)
            train_time += seconds
            bar.update()
            if problem:
                status, message = "diverged", f"{problem} in {'step' if physics else 'epoch'} {epoch}"
                break
            epochs_run = epoch
            if stage_epoch % cfg.eval_every and stage_epoch != cfg.stage_epochs:
                continue

            start = time.perf_counter()
            row: dict[str, float] = {"epoch": epoch, **running, **score(scored_each_epoch)}
            if knob is not None:
                row.update(stage=stage, **{extension.knob: knob})
            if physics is not None:  # error-vs-time curves; supervised rows stay free of timings
                row["train_time_s"] = train_time
            eval_time += time.perf_counter() - start
            history.append(row)
            bar.set_postfix(loss=f"{row['running_train_loss']:.4g}", test=f"{row[f'test_{metric}']:.4g}")
            if on_epoch is not None:
                on_epoch(row)
        if score_train_last and status == "ok" and len(history) > first_row:
            # the whole train split, once per stage: its last epoch's train metrics (no selection uses them)
            start = time.perf_counter()
            history[-1].update(score([("train", x_tr, y_tr)]))
            eval_time += time.perf_counter() - start
        if knob is not None:
            stages.append(_stage_block(history[first_row:], select_on, higher_is_better, score_train_last,
                                       metric, stage, extension.knob, knob, model, residual,
                                       train_time - stage_start))
        if status != "ok":
            break
    bar.close()

    best = _select(history[selectable_from:], select_on, higher_is_better)
    best = None if best is None else best + selectable_from
    if status == "ok" and best is not None:  # a finite loss can still give non-finite outputs
        bad = [key for key in (select_on, f"test_{metric}") if not math.isfinite(history[best][key])]
        if bad:
            status, message = "diverged", f"{bad[0]} is {history[best][bad[0]]} at the selected epoch"
    selected = _selected_row(history, best, score_train_last)
    extra = {"lbfgs": lbfgs_settings(cfg)} if cfg.optimizer in LBFGS_OPTIMIZERS else {}
    if physics is not None:  # how the operators' derivatives were taken (kanfair.data.pde.Derivatives)
        extra["derivatives"] = derivative_path(model)
    if cfg.lamb:
        extra["sparsity"] = {"lamb": cfg.lamb, "lamb_l1": cfg.lamb_l1, "lamb_entropy": cfg.lamb_entropy,
                             "stages": "the first" if pruned else "all"}
    if pruned:
        extra["pruning"] = {**pruned, "after_stage": 0}
    if cfg.grid_schedule:
        extra["grid_extension"] = {
            "knob": extension.knob, "schedule": list(cfg.grid_schedule), "steps_per_grid": cfg.stage_epochs,
            "selected_stage": None if best is None else int(history[best]["stage"]), "stages": stages}
    return FitResult(
        status=status, metric=metric, history=history,
        best_epoch=None if best is None else history[best]["epoch"],
        train_time_s=train_time, eval_time_s=eval_time, epochs_run=epochs_run,
        n_train=len(x_tr), n_val=0 if x_val is None else len(x_val), n_test=len(x_te),
        compiled=compiled, message=message, selected=selected, extra=extra)


def fit_boosting(spec: dict, task: Task, cfg: TrainerConfig, seed: int) -> tuple[FitResult, int]:
    """The boosting reference (kanfair.models.boosting) on the rows `fit` would train a
    network on: fitted once on the training split (the validation split held out as
    `make_splits` holds it out), then every split scored by `output_metrics` from its
    decision function (the logits of its predicted probabilities). One fit is one epoch.
    Its OpenMP threads are the run's torch threads (trainer.threads, or a launcher's share).
    Returns the result and the fitted trees' node count."""
    splits = make_splits(task, cfg.protocol, cfg.val_fraction, cfg.val_seed)
    classify = task.kind == "classification"
    model = boosting.estimator(spec, task.kind, seed)
    start = time.perf_counter()
    with threadpool_limits(torch.get_num_threads(), user_api="openmp"):  # the run's threads, as torch's
        model.fit(splits.x_train.numpy(), (splits.y_train if classify else splits.y_train[:, 0]).numpy())
    train_time = time.perf_counter() - start

    def outputs(x: torch.Tensor) -> torch.Tensor:
        if not classify:
            return torch.as_tensor(model.predict(x.numpy()), dtype=x.dtype)[:, None]
        raw = torch.as_tensor(model.decision_function(x.numpy()), dtype=x.dtype)
        raw = torch.stack([torch.zeros_like(raw), raw], 1) if raw.dim() == 1 else raw  # binary: log-odds
        logits = torch.full((len(x), task.out_dim), -math.inf, dtype=x.dtype)
        logits[:, torch.as_tensor(model.classes_, dtype=torch.long)] = raw
        return logits

    start = time.perf_counter()
    row: dict[str, float] = {"epoch": 1}
    for split, x, y in (("train", splits.x_train, splits.y_train), ("val", splits.x_val, splits.y_val),
                        ("test", splits.x_test, splits.y_test)):
        if x is not None:
            with threadpool_limits(torch.get_num_threads(), user_api="openmp"):
                scored = output_metrics(outputs(x), y, task.kind)
            row.update({f"{split}_{k}": v for k, v in scored.items()})
    result = FitResult(
        status="ok", metric=reported_metric(task, cfg.protocol), history=[row], best_epoch=1, train_time_s=train_time,
        eval_time_s=time.perf_counter() - start, epochs_run=1, n_train=len(splits.x_train),
        n_val=0 if splits.x_val is None else len(splits.x_val), n_test=len(splits.x_test), compiled=False,
        selected=dict(row), extra={"reference": {"library": "scikit-learn", "estimator": type(model).__name__,
                                                 "iterations": int(model.n_iter_)}})
    return result, boosting.tree_nodes(model)


def updates_grid(cfg: TrainerConfig, stage_epoch: int) -> bool:
    """Whether the grids move to the training inputs before this epoch (1-based within its
    stage): every trainer.grid_update_every-th from the first, while within
    trainer.grid_update_until (pykan: every 5 steps of a stage's first 50)."""
    done = stage_epoch - 1
    return bool(cfg.grid_update_every) and done % cfg.grid_update_every == 0 and (
        cfg.grid_update_until is None or done < cfg.grid_update_until)


def _selected_row(history: list[dict[str, float]], index: Optional[int],
                  score_train_last: bool) -> dict[str, float]:
    """history[index] as reported (empty when nothing was selected): under
    eval_train=last, with the train metrics of its stage's last row, where the train split
    was scored once."""
    if index is None:
        return {}
    selected = dict(history[index])
    if score_train_last:
        stage = selected.get("stage")
        last = [row for row in history if row.get("stage") == stage][-1]
        selected.update({k: v for k, v in last.items() if k.startswith("train_")})
    return selected


def _stage_block(rows: list[dict[str, float]], select_on: str, higher_is_better: bool,
                 score_train_last: bool, metric: str, stage: int, knob: str, value: int,
                 model: nn.Module, residual: float, seconds: float) -> dict:
    """One grid-extension stage in the record: its knob value, trainable parameters, the
    relative change of the outputs its refinement made on the training inputs, its epochs,
    its own selected epoch (on the run's selection metric) and that epoch's metrics (train:
    the stage's last epoch's under eval_train=last), and its training time."""
    selected = _selected_row(rows, _select(rows, select_on, higher_is_better), score_train_last)
    return {"stage": stage, knob: value, "params": count_params(model), "refit_change": residual,
            "first_epoch": rows[0]["epoch"] if rows else None, "last_epoch": rows[-1]["epoch"] if rows else None,
            "selected_epoch": selected.get("epoch"), "train_metric": selected.get(f"train_{metric}"),
            "val_metric": selected.get(f"val_{metric}"), "test_metric": selected.get(f"test_{metric}"),
            "selected": selected, "train_time_s": seconds}


def fit_continual(model: nn.Module, task: Task, cfg: TrainerConfig, seed: int,
                  tasks: list[list[int]]) -> FitResult:
    """Class-incremental learning: train on each task's classes in turn (trainer.epochs each,
    one optimizer, one shared head) and after each task test every task seen so far.

    Reports the T x T accuracy matrix (row t: after task t; null for tasks not yet seen),
    the average final accuracy, and the
    average backward transfer mean_{i<T-1}(acc[T-1][i] - acc[i][i])."""
    if task.kind != "classification":
        raise ValueError("continual learning needs a classification task")
    device, trained, compiled, optimizer, objective, generator, _ = _setup(model, task, cfg, seed)

    def of(x, y, classes):
        keep = torch.isin(y, torch.tensor(classes))
        return on_device(x[keep], device, cfg), on_device(y[keep], device, cfg)

    test_sets = [of(task.x_test, task.y_test, classes) for classes in tasks]
    history: list[dict[str, float]] = []
    matrix: list[list[Optional[float]]] = []
    status, message = "ok", ""
    train_time = eval_time = 0.0
    n_train = 0
    for t, classes in enumerate(tqdm(tasks, desc=f"{task.name} tasks", unit="task", disable=None)):
        x_tr, y_tr = of(task.x_train, task.y_train, classes)
        n_train += len(x_tr)
        for epoch in range(1, cfg.epochs + 1):
            running, problem, seconds = _train_epoch(trained, optimizer, objective, x_tr, y_tr,
                                                     cfg, generator, cfg.batch_size)
            train_time += seconds
            if problem:
                status, message = "diverged", f"{problem} in task {t}, epoch {epoch}"
                break
            history.append({"task": t, "epoch": epoch, **running})
        if status != "ok":
            break
        start = time.perf_counter()
        seen = [evaluate(trained, x, y, task.kind, cfg.eval_batch_size)["accuracy"]
                for x, y in test_sets[:t + 1]]
        matrix.append(seen + [None] * (len(tasks) - t - 1))  # tasks not yet seen: null
        eval_time += time.perf_counter() - start
        history[-1]["test_accuracy"] = sum(seen) / len(seen)

    final = matrix[-1] if len(matrix) == len(tasks) else []
    average = sum(final) / len(final) if final else None
    transfer = (sum(final[i] - matrix[i][i] for i in range(len(tasks) - 1)) / (len(tasks) - 1)
                if final and len(tasks) > 1 else None)
    return FitResult(
        status=status, metric="accuracy", history=history, best_epoch=None,
        train_time_s=train_time, eval_time_s=eval_time, epochs_run=len(history), n_train=n_train, n_val=0,
        n_test=sum(len(x) for x, _ in test_sets), compiled=compiled, message=message,
        selected={} if average is None else {"test_accuracy": average},
        extra={"continual": {"tasks": tasks, "accuracy_matrix": matrix,
                             "average_accuracy": average, "backward_transfer": transfer}})
