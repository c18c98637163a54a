"""The validated configuration: dataclass schemas registered in Hydra's ConfigStore.

Every config group file (`configs/<group>/*.yaml`) extends one schema from here, so a
misspelt key or a wrong type fails at composition, and the range checks in
`__post_init__` run when `validate` turns the composed config into these objects.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from kanfair.flops import CONVENTIONS as FLOP_CONVENTIONS
from kanfair.models import FAMILIES, REFERENCES, model_spec, schema_of
from kanfair.schema import ConfigError, ModelConfig, check, check_choice

__all__ = ["CONFIG_DIR", "ConfigError", "ModelConfig", "model_spec", "register_configs", "validate"]

# The config tree that ships inside the package: in a checkout, src/kanfair/configs is a link
# to the top-level configs/ (the one copy people read and edit); a built wheel holds the files.
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")

OPTIMIZERS = ("adam", "adamw", "sgd", "lbfgs", "pykan_lbfgs")
PROTOCOLS = ("val", "kanbefair")
DEVICES = ("auto", "cpu", "cuda")
EVAL_TRAIN = ("last", "every")
DTYPES = ("float32", "float64")
BUDGET_KINDS = ("none", "params", "flops")
BUDGET_VARY = ("width", "grid", "width_grid")
DOWNLOAD = ("auto", "never", "always")
TASK_KINDS = ("classification", "regression")
AUDIO_FEATURES = ("waveform", "mfcc", "melspec")
SPLITS = ("kanbefair", "seeded", "folds", "published")
SOURCES = ("csv", "hf")
LOGGERS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")


def check_seed(value: int, key: str) -> None:
    """A seed every generator takes (numpy's are 32-bit)."""
    check(0 <= value < 2**32, key, f"must be in 0 .. 2**32 - 1 (got {value})", f"set e.g. {key}=0")


@dataclass
class ContinualConfig:
    """Class-incremental learning: the classes of each task, trained in sequence."""

    tasks: List[List[int]] = field(default_factory=list)


@dataclass
class PDEConfig:
    """A physics-informed task's points and loss (kanfair.data.pde): `interior` collocation
    points, `boundary` points on the spatial faces, `initial` points at t = 0 (time-dependent
    tasks), the evaluation grid's points per axis, the seed of the sampling, and one weight
    per loss term. Each task's YAML sets them all; other tasks leave them unset."""

    interior: Optional[int] = None
    boundary: Optional[int] = None
    initial: Optional[int] = None
    eval_grid: Optional[int] = None
    seed: int = 0
    weights: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("interior", "boundary", "initial", "eval_grid"):
            value = getattr(self, key)
            check(value is None or value >= 2, f"dataset.pde.{key}", f"must be >= 2 (got {value})",
                  f"set e.g. dataset.pde.{key}=100")
        check_seed(self.seed, "dataset.pde.seed")
        for term, weight in self.weights.items():
            check(math.isfinite(weight) and weight > 0, f"dataset.pde.weights.{term}",
                  f"a loss weight must be a finite number > 0 (got {weight})",
                  f"set e.g. dataset.pde.weights.{term}=1 (drop a term by choosing another task)")


@dataclass
class DatasetConfig:
    """`root`: a folder holding the data set (else data_dir/<name>, then system locations);
    `download`: auto (when not found), never, or always. `path`, `target`, `task`: a user
    table for dataset=csv; `path`, `text_column`, `label_column`: dataset=text_csv;
    `features`: audio input (waveform as the paper, or mfcc / melspec). `package`, `object`:
    dataset=rdata's R package and data frame (with `target` and `task`). `task_id` (with
    `repeat`, `fold`) or `dataset_id`: dataset=openml's task or data set. `split`: kanbefair
    (the paper's rows and encoding), seeded (80/20 with `split_seed`, stratified for
    classification), folds (UrbanSound8K's fold 10) or published (a download's own split);
    null where a data set has one fixed split. `pde`: a physics-informed task's points and
    loss weights (PDEConfig)."""

    name: str = MISSING
    root: Optional[str] = None
    download: str = "auto"
    path: Optional[str] = None
    target: Optional[str] = None
    task: str = "classification"
    features: str = "waveform"
    text_column: str = "text"
    label_column: str = "label"
    split: Optional[str] = None  # set by the data set's YAML where it has a choice
    split_seed: int = 0
    source: Optional[str] = None  # imdb: csv (the paper's file) or hf
    package: Optional[str] = None  # dataset=rdata: the R package ...
    object: Optional[str] = None  # ... and its data frame
    task_id: Optional[int] = None  # dataset=openml: a task (its official split) ...
    dataset_id: Optional[int] = None  # ... or a data set (seeded split)
    repeat: int = 0  # the task's repeat ...
    fold: int = 0  # ... and fold that is the test split
    continual: ContinualConfig = field(default_factory=ContinualConfig)
    pde: PDEConfig = field(default_factory=PDEConfig)

    def __post_init__(self) -> None:
        if self.split is not None:
            check_choice(self.split, SPLITS, "dataset.split")
        if self.source is not None:
            check_choice(self.source, SOURCES, "dataset.source")
        check_choice(self.download, DOWNLOAD, "dataset.download")
        check_choice(self.features, AUDIO_FEATURES, "dataset.features")
        check_choice(self.task, TASK_KINDS, "dataset.task")
        check_seed(self.split_seed, "dataset.split_seed")
        for key in ("task_id", "dataset_id"):
            value = getattr(self, key)
            check(value is None or value >= 1, f"dataset.{key}", f"OpenML ids are >= 1 (got {value})",
                  f"set e.g. dataset.{key}=31")
        for key in ("repeat", "fold"):
            check(getattr(self, key) >= 0, f"dataset.{key}", f"must be >= 0 (got {getattr(self, key)})",
                  f"set e.g. dataset.{key}=0")
        for classes in self.continual.tasks:
            check(len(classes) > 0, "dataset.continual.tasks", "a task has no classes",
                   "e.g. dataset.continual.tasks=[[0,1,2],[3,4,5],[6,7,8]]")
        named = [c for classes in self.continual.tasks for c in classes]
        repeated = sorted({c for c in named if named.count(c) > 1})
        check(not repeated, "dataset.continual.tasks",
              f"class(es) {repeated} appear in more than one task or twice in one",
              "give each class to one task, e.g. [[0,1,2],[3,4,5],[6,7,8]]")


@dataclass
class TrainerConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    eval_batch_size: int = 1024  # the fastest by scripts/bench_eval.py (a KAN builds a batch's dense basis)
    eval_train: str = "last"  # score the whole train split after the last epoch only, or every epoch
    epochs: int = 20
    protocol: str = "val"
    val_fraction: float = 0.1
    val_seed: int = 0
    eval_every: int = 1
    dtype: str = "float32"
    device: str = "auto"
    threads: int = 0
    compile: bool = False
    rerun: bool = False
    grid_schedule: List[int] = field(default_factory=list)  # grid extension: the knob per stage
    steps_per_grid: Optional[int] = None  # epochs per stage (None: trainer.epochs)
    grid_update_every: int = 0  # move a KAN's grids to its inputs every N epochs of a stage (0: never)
    grid_update_until: Optional[int] = None  # ... only in a stage's first N epochs (None: all)
    # the KAN paper's sparsification and pruning (kanfair.models.pruning): the penalty's weight
    # (0: off) and its L1 and entropy shares; pruning after the first grid stage at this threshold
    lamb: float = 0.0
    lamb_l1: float = 1.0
    lamb_entropy: float = 2.0
    prune_threshold: Optional[float] = None
    prune_inputs: bool = False  # prune inputs by the same threshold too (the paper keeps every input)

    @property
    def stage_epochs(self) -> int:
        """Epochs per grid-extension stage (the whole run without a schedule)."""
        return self.steps_per_grid if self.grid_schedule and self.steps_per_grid else self.epochs

    @property
    def total_epochs(self) -> int:
        return self.stage_epochs * max(1, len(self.grid_schedule))

    def __post_init__(self) -> None:
        check_choice(self.optimizer, OPTIMIZERS, "trainer.optimizer")
        check(math.isfinite(self.lr) and self.lr > 0, "trainer.lr", f"must be a finite number > 0 (got {self.lr})",
              "set e.g. trainer.lr=1e-3")
        check(math.isfinite(self.weight_decay) and self.weight_decay >= 0, "trainer.weight_decay",
              f"must be a finite number >= 0 (got {self.weight_decay})", "set e.g. trainer.weight_decay=0")
        check(self.batch_size > 0, "trainer.batch_size", f"must be > 0 (got {self.batch_size})",
               "set e.g. trainer.batch_size=128")
        check(self.eval_batch_size > 0, "trainer.eval_batch_size",
               f"must be > 0 (got {self.eval_batch_size})", "set e.g. trainer.eval_batch_size=1024")
        check(self.epochs >= 1, "trainer.epochs", f"must be >= 1 (got {self.epochs})",
               "set e.g. trainer.epochs=20")
        check(self.optimizer not in ("lbfgs", "pykan_lbfgs") or self.weight_decay == 0, "trainer.weight_decay",
              f"{self.optimizer} takes no weight decay, so it would change nothing",
              "leave trainer.weight_decay=0, or use trainer.optimizer=adam, adamw or sgd")
        check_choice(self.protocol, PROTOCOLS, "trainer.protocol")
        check_choice(self.eval_train, EVAL_TRAIN, "trainer.eval_train")
        check(0 < self.val_fraction < 1, "trainer.val_fraction",
               f"must be in (0, 1) (got {self.val_fraction})", "set e.g. trainer.val_fraction=0.1")
        check_seed(self.val_seed, "trainer.val_seed")
        check(self.eval_every >= 1, "trainer.eval_every", f"must be >= 1 (got {self.eval_every})",
              "set e.g. trainer.eval_every=10 (the last epoch is always scored)")
        check_choice(self.dtype, DTYPES, "trainer.dtype")
        if self.protocol == "kanbefair":  # it holds out nothing: these keys would change nothing
            for key, default in (("val_fraction", 0.1), ("val_seed", 0)):
                check(getattr(self, key) == default, f"trainer.{key}",
                      "protocol kanbefair holds out no validation split, so it would change nothing",
                      f"leave trainer.{key} unset, or use trainer.protocol=val")
        check_choice(self.device, DEVICES, "trainer.device")
        check(self.device != "cuda" or torch.cuda.is_available(), "trainer.device",
              "is cuda but no CUDA device is available here", "use trainer.device=auto (or cpu)")
        check(self.threads >= 0, "trainer.threads", f"must be >= 0 (got {self.threads})",
               "use 0 for torch's default")
        self._check_grid_schedule()
        self._check_sparsity()

    def _check_sparsity(self) -> None:
        for key in ("lamb", "lamb_l1", "lamb_entropy"):
            value = getattr(self, key)
            check(math.isfinite(value) and value >= 0, f"trainer.{key}", f"must be a finite number >= 0 (got {value})",
                  "set e.g. trainer.lamb=1e-2 (0 switches the sparsity penalty off)")
        for key, default in (("lamb_l1", 1.0), ("lamb_entropy", 2.0)):
            check(self.lamb > 0 or getattr(self, key) == default, f"trainer.{key}",
                  "is set while trainer.lamb is 0, so it would change nothing", "set trainer.lamb too, e.g. 1e-2")
        if self.prune_threshold is not None:
            check(math.isfinite(self.prune_threshold) and self.prune_threshold > 0, "trainer.prune_threshold",
                  f"must be a finite number > 0 (got {self.prune_threshold})", "set e.g. trainer.prune_threshold=1e-2")
            check(len(self.grid_schedule) >= 2, "trainer.prune_threshold",
                  "prunes after the first grid stage and retrains the pruned KAN in the later ones, so it "
                  "needs trainer.grid_schedule with two stages or more", "set e.g. trainer.grid_schedule=[3,5,10,20,50]")
        check(not self.prune_inputs or self.prune_threshold is not None, "trainer.prune_inputs",
              "is set without trainer.prune_threshold, so it would change nothing", "set trainer.prune_threshold too")

    def _check_grid_schedule(self) -> None:
        schedule = list(self.grid_schedule)
        check(all(isinstance(v, int) and v >= 1 for v in schedule), "trainer.grid_schedule",
              f"must be whole numbers >= 1 (got {schedule})", "set e.g. trainer.grid_schedule=[3,5,10,20]")
        check(all(a < b for a, b in zip(schedule, schedule[1:])), "trainer.grid_schedule",
              f"must increase from stage to stage (got {schedule})", "set e.g. trainer.grid_schedule=[3,5,10,20]")
        check(self.grid_update_every >= 0, "trainer.grid_update_every",
              f"must be >= 0 (got {self.grid_update_every})", "use 0 to keep the grids where they are")
        if self.grid_update_until is not None:
            check(self.grid_update_every > 0, "trainer.grid_update_until", "is set without "
                  "trainer.grid_update_every, so it would change nothing", "set trainer.grid_update_every too")
            check(self.grid_update_until >= 1, "trainer.grid_update_until",
                  f"must be >= 1 (got {self.grid_update_until})", "set e.g. trainer.grid_update_until=50")
        if self.steps_per_grid is not None:
            check(bool(schedule), "trainer.steps_per_grid", "is set without trainer.grid_schedule, "
                  "so it would change nothing", "set trainer.grid_schedule, or use trainer.epochs")
            check(self.steps_per_grid >= 1, "trainer.steps_per_grid",
                  f"must be >= 1 (got {self.steps_per_grid})", "set e.g. trainer.steps_per_grid=200")


@dataclass
class BudgetConfig:
    """kind=none trains the model as configured; params/flops size it to `target` (or to
    the cost of the model spec `match`) in `convention`, varying `vary`."""

    kind: str = "none"
    target: Optional[float] = None
    match: Any = None  # a model spec (dict); untyped so that an override replaces it whole
    convention: str = "kanbefair"
    tolerance: float = 0.02
    vary: str = "width"

    def __post_init__(self) -> None:
        check_choice(self.kind, BUDGET_KINDS, "budget.kind")
        check_choice(self.convention, FLOP_CONVENTIONS, "budget.convention")
        check_choice(self.vary, BUDGET_VARY, "budget.vary")
        check(self.tolerance > 0, "budget.tolerance", f"must be > 0 (got {self.tolerance})",
               "set e.g. budget.tolerance=0.02")
        check(self.kind != "none" or (self.target is None and self.match is None), "budget.target",
              "is set but budget=none trains the model as configured (it would change nothing)",
              "add budget=params (or budget=flops), or drop budget.target/budget.match")
        if self.kind != "none":
            check((self.target is None) != (self.match is None), "budget.target",
                   "give exactly one of budget.target and budget.match",
                   "e.g. budget.target=1e5, or budget.match={name:kan,hidden:[16]}")
            check(self.target is None or (math.isfinite(self.target) and self.target > 0), "budget.target",
                  f"must be a finite number > 0 (got {self.target})", "set e.g. budget.target=1e5")


@dataclass
class LoggerConfig:
    """name=none keeps records only; name=wandb also logs each run to Weights & Biases."""

    name: str = "none"
    project: str = "kanfair"
    entity: Optional[str] = None
    mode: str = "offline"
    tags: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_choice(self.name, LOGGERS, "logger.name")
        check_choice(self.mode, WANDB_MODES, "logger.mode")


@dataclass
class PathsConfig:
    results_dir: str = "results"
    data_dir: str = "data"


@dataclass
class TrainConfig:
    """The whole run. `model` is typed by the schema its group file extends."""

    model: Any = MISSING
    dataset: DatasetConfig = MISSING
    trainer: TrainerConfig = MISSING
    budget: BudgetConfig = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = MISSING
    experiment: Optional[Any] = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_seed(self.seed, "seed")


# Beyond these a study is a typo, not a plan (each repeat re-runs the whole study, each trial
# trains a model, each seed re-trains the winner; TPE itself slows past a few thousand trials)
TUNE_MAXIMA = {"repeats": 100, "trials": 10_000, "seeds": 100, "workers": 1_000}


@dataclass
class TuneConfig:
    """kanfair-tune: `trials` per family, the best re-run on `seeds` seeds, TPE seeded by
    `sampler_seed`, studies in `storage` (null: sqlite in the results dir), searching
    `space` (configs/search/), the whole study done `repeats` times (kanfair.studies.tune),
    by `workers` jobs at once (`worker` is a job's index among them; a worker whose trial's
    heartbeat, every `heartbeat_s`, has stopped is taken for dead). `study`, `trial`,
    `phase`, `repeat` label the runs the tuner makes."""

    trials: int = 20
    seeds: int = 5
    repeats: int = 1
    sampler_seed: int = 0
    storage: Optional[str] = None
    workers: int = 1
    worker: int = 0
    heartbeat_s: int = 30
    space: Dict[str, Any] = field(default_factory=dict)
    study: Optional[str] = None
    trial: Optional[int] = None
    phase: Optional[str] = None
    repeat: int = 0

    def __post_init__(self) -> None:
        check_seed(self.sampler_seed, "tune.sampler_seed")
        for key, example in (("repeats", 3), ("trials", 20), ("seeds", 5), ("workers", 3)):
            value, most = getattr(self, key), TUNE_MAXIMA[key]
            check(1 <= value <= most, f"tune.{key}", f"must be in 1 .. {most:,} (got {value:,})",
                  f"set e.g. tune.{key}={example}; size a study first with scripts/plan.py --tune")
        check(0 <= self.worker < self.workers, "tune.worker", f"must be in 0 .. {self.workers - 1} for "
              f"tune.workers={self.workers} (got {self.worker})", "leave it out: tune.workers=N sweeps it")
        check(self.heartbeat_s >= 1, "tune.heartbeat_s", f"must be >= 1 second (got {self.heartbeat_s})",
              "leave it at 30, or set e.g. tune.heartbeat_s=10")
        check(self.workers == 1 or (self.storage or "sqlite").startswith(("sqlite", "postgresql")), "tune.storage",
              f"{self.workers} workers share a study through sqlite (one machine) or PostgreSQL, not "
              f"'{self.storage}'", "give a postgresql:// URL (see README: On a cluster)")
        check(bool(self.space), "tune.space", "the search space is empty",
              "pick one with search=<family> (configs/search/)")


@dataclass
class TuneRunConfig(TrainConfig):
    """kanfair-tune: a run's config plus the tuning settings and labels."""

    tune: TuneConfig = MISSING


@dataclass
class SizeConfig(TrainConfig):
    """scripts/size.py: a run's config plus the input/output sizes (default: the dataset's)."""

    in_dim: Optional[int] = None
    out_dim: Optional[int] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, value in (("in_dim", self.in_dim), ("out_dim", self.out_dim)):
            check(value is None or value >= 1, key, f"must be >= 1 (got {value})",
                  f"set e.g. {key}=784, or leave it out for the dataset's")


def register_configs() -> None:
    """Make the schemas available to the group files as `/schema/<group>/<name>`, and the
    resolver hydra/launcher=kanfair_slurm asks for its CPUs with (trainer.threads, at least 1)."""
    if not OmegaConf.has_resolver("kanfair_cpus"):
        OmegaConf.register_new_resolver("kanfair_cpus", lambda threads: max(1, int(threads)))
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="size_schema", node=SizeConfig)
    store.store(name="tune_schema", node=TuneRunConfig)
    for name in [*FAMILIES, *REFERENCES]:
        store.store(group="schema/model", name=name, node=schema_of(name))
    for group, schema in (("dataset", DatasetConfig), ("trainer", TrainerConfig),
                          ("budget", BudgetConfig), ("logger", LoggerConfig),
                          ("paths", PathsConfig)):
        store.store(group=f"schema/{group}", name="base", node=schema)


def recorded_config(config: dict[str, Any]) -> DictConfig:
    """A record's resolved config as the typed config that made it (the schemas the group
    files would have put in place), to run it again."""
    schema = TuneRunConfig if "tune" in config else TrainConfig
    typed_model = {"model": OmegaConf.structured(schema_of(config["model"]["name"]))}
    return OmegaConf.merge(OmegaConf.structured(schema), typed_model, config)


def unknown_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Keys that no schema declares (a `+key=value` override adds one silently)."""
    schema = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(schema):
        return []
    known = {f.name for f in dataclasses.fields(schema)}
    found = []
    for key, child in node.items_ex(resolve=False):
        if key not in known:
            found.append(f"{prefix}{key}")
        elif isinstance(child, DictConfig):
            found += unknown_keys(child, f"{prefix}{key}.")
    return found


def validate(cfg: DictConfig) -> TrainConfig:
    """Resolve and type-check a composed config; raises ConfigError naming the bad key."""
    schema_of(cfg.model.get("name"))
    unknown = unknown_keys(cfg)
    check(not unknown, unknown[0] if unknown else "", "is not a config key: nothing would read it",
          "drop it (a + override adds keys the schema does not know); the keys: --cfg job")
    return OmegaConf.to_object(cfg)
