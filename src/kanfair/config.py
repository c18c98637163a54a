"""The validated configuration: dataclass schemas registered in Hydra's ConfigStore.

Every config group file (`configs/<group>/*.yaml`) extends one schema from here, so a
misspelt key or a wrong type fails at composition, and the range checks in
`__post_init__` run when `validate` turns the composed config into these objects.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A config value that composes but makes no sense; `key` is its full dotted name."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem}; {fix}")


def _check(ok: bool, key: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(key, problem, fix)


def _check_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    _check(value in choices, key, f"unknown value '{value}'",
           f"choose one of {', '.join(choices)}")


def _check_widths(hidden: List[int], key: str) -> None:
    for width in hidden:
        _check(width > 0, key, f"widths must be positive (got {list(hidden)})",
               f"set e.g. {key}=[64]")


ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "sigmoid", "identity")
SHORTCUTS = ("silu", "identity", "zero")
KAN_INITS = ("kanbefair", "efficient")
OPTIMIZERS = ("adam", "adamw", "sgd", "lbfgs")
PROTOCOLS = ("val", "kanbefair")
DEVICES = ("auto", "cpu", "cuda")
BUDGET_KINDS = ("none", "params", "flops")
BUDGET_VARY = ("width", "grid", "width_grid")
FLOP_CONVENTIONS = ("kanbefair", "ops", "macs")
DOWNLOAD = ("auto", "never", "always")
TASK_KINDS = ("classification", "regression")
AUDIO_FEATURES = ("waveform", "mfcc", "melspec")
LOGGERS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")


@dataclass
class ModelConfig:
    """Fields every model family has; `name` picks the family in the model registry."""

    name: str = MISSING
    hidden: List[int] = field(default_factory=lambda: [64])

    def __post_init__(self) -> None:
        _check_widths(self.hidden, "model.hidden")


@dataclass
class MLPConfig(ModelConfig):
    name: str = "mlp"
    activation: str = "relu"
    batch_norm: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.activation, ACTIVATIONS, "model.activation")


@dataclass
class SplineConfig(ModelConfig):
    """Grid settings shared by every model with B-spline functions."""

    grid_size: int = 5
    spline_order: int = 3
    grid_range: List[float] = field(default_factory=lambda: [-1.0, 1.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.grid_size >= 1, "model.grid_size", f"must be >= 1 (got {self.grid_size})",
               "set e.g. model.grid_size=5")
        _check(self.spline_order >= 0, "model.spline_order",
               f"must be >= 0 (got {self.spline_order})", "set e.g. model.spline_order=3")
        ok = len(self.grid_range) == 2 and self.grid_range[0] < self.grid_range[1]
        _check(ok, "model.grid_range", f"must be [low, high] with low < high (got {list(self.grid_range)})",
               "set e.g. model.grid_range=[-1,1]")


@dataclass
class KANConfig(SplineConfig):
    name: str = "kan"
    hidden: List[int] = field(default_factory=lambda: [16])
    shortcut: str = "silu"
    init: str = "kanbefair"
    grid_update_every: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.shortcut, SHORTCUTS, "model.shortcut")
        _check_choice(self.init, KAN_INITS, "model.init")
        _check(self.grid_update_every >= 0, "model.grid_update_every",
               f"must be >= 0 (got {self.grid_update_every})", "use 0 to switch grid updates off")


@dataclass
class BSplineMLPConfig(SplineConfig):
    name: str = "bspline_mlp"
    batch_norm: bool = False


@dataclass
class BSplineFirstMLPConfig(BSplineMLPConfig):
    name: str = "bspline_first_mlp"


@dataclass
class ContinualConfig:
    """Class-incremental learning: the classes of each task, trained in sequence."""

    tasks: List[List[int]] = field(default_factory=list)


@dataclass
class DatasetConfig:
    """`root`: a folder holding the data set (else data_dir/<name>, then system locations);
    `download`: auto (when not found), never, or always. `path`, `target`, `task`: a user
    table for dataset=csv; `path`, `text_column`, `label_column`: dataset=text_csv;
    `features`: audio input (waveform as the paper, or mfcc / melspec)."""

    name: str = MISSING
    root: Optional[str] = None
    download: str = "auto"
    path: Optional[str] = None
    target: Optional[str] = None
    task: str = "classification"
    features: str = "waveform"
    text_column: str = "text"
    label_column: str = "label"
    continual: ContinualConfig = field(default_factory=ContinualConfig)

    def __post_init__(self) -> None:
        _check_choice(self.download, DOWNLOAD, "dataset.download")
        _check_choice(self.features, AUDIO_FEATURES, "dataset.features")
        _check_choice(self.task, TASK_KINDS, "dataset.task")
        for classes in self.continual.tasks:
            _check(len(classes) > 0, "dataset.continual.tasks", "a task has no classes",
                   "e.g. dataset.continual.tasks=[[0,1,2],[3,4,5],[6,7,8]]")


@dataclass
class TrainerConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    eval_batch_size: int = 4096
    epochs: int = 20
    protocol: str = "val"
    val_fraction: float = 0.1
    device: str = "auto"
    threads: int = 0
    compile: bool = False
    rerun: bool = False

    def __post_init__(self) -> None:
        _check_choice(self.optimizer, OPTIMIZERS, "trainer.optimizer")
        _check(self.lr > 0, "trainer.lr", f"must be > 0 (got {self.lr})", "set e.g. trainer.lr=1e-3")
        _check(self.weight_decay >= 0, "trainer.weight_decay",
               f"must be >= 0 (got {self.weight_decay})", "set e.g. trainer.weight_decay=0")
        _check(self.batch_size > 0, "trainer.batch_size", f"must be > 0 (got {self.batch_size})",
               "set e.g. trainer.batch_size=128")
        _check(self.eval_batch_size > 0, "trainer.eval_batch_size",
               f"must be > 0 (got {self.eval_batch_size})", "set e.g. trainer.eval_batch_size=4096")
        _check(self.epochs >= 0, "trainer.epochs", f"must be >= 0 (got {self.epochs})",
               "set e.g. trainer.epochs=20")
        _check_choice(self.protocol, PROTOCOLS, "trainer.protocol")
        _check(0 < self.val_fraction < 1, "trainer.val_fraction",
               f"must be in (0, 1) (got {self.val_fraction})", "set e.g. trainer.val_fraction=0.1")
        _check_choice(self.device, DEVICES, "trainer.device")
        _check(self.threads >= 0, "trainer.threads", f"must be >= 0 (got {self.threads})",
               "use 0 for torch's default")


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
        _check_choice(self.kind, BUDGET_KINDS, "budget.kind")
        _check_choice(self.convention, FLOP_CONVENTIONS, "budget.convention")
        _check_choice(self.vary, BUDGET_VARY, "budget.vary")
        _check(self.tolerance > 0, "budget.tolerance", f"must be > 0 (got {self.tolerance})",
               "set e.g. budget.tolerance=0.02")
        if self.kind != "none":
            _check((self.target is None) != (self.match is None), "budget.target",
                   "give exactly one of budget.target and budget.match",
                   "e.g. budget.target=1e5, or budget.match={name:kan,hidden:[16]}")
            _check(self.target is None or self.target > 0, "budget.target",
                   f"must be > 0 (got {self.target})", "set e.g. budget.target=1e5")


@dataclass
class LoggerConfig:
    """name=none keeps records only; name=wandb also logs each run to Weights & Biases."""

    name: str = "none"
    project: str = "kanfair"
    entity: Optional[str] = None
    mode: str = "offline"
    tags: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_choice(self.name, LOGGERS, "logger.name")
        _check_choice(self.mode, WANDB_MODES, "logger.mode")


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


@dataclass
class SizeConfig(TrainConfig):
    """scripts/size.py: a run's config plus the input/output sizes (default: the dataset's)."""

    in_dim: Optional[int] = None
    out_dim: Optional[int] = None


MODEL_SCHEMAS: dict[str, type] = {
    "mlp": MLPConfig,
    "kan": KANConfig,
    "bspline_mlp": BSplineMLPConfig,
    "bspline_first_mlp": BSplineFirstMLPConfig,
}


def model_spec(model: Any) -> dict[str, Any]:
    """A model spec as a plain dict with every key of its family's schema (defaults filled
    in and range-checked), from a config dataclass or any mapping with a `name`."""
    fields = dataclasses.asdict(model) if dataclasses.is_dataclass(model) else dict(model)
    name = fields.get("name")
    _check(name in MODEL_SCHEMAS, "model.name", f"unknown model '{name}'",
           f"choose one of {', '.join(MODEL_SCHEMAS)}")
    return dataclasses.asdict(MODEL_SCHEMAS[name](**fields))


def register_configs() -> None:
    """Make the schemas available to the group files as `/schema/<group>/<name>`."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="size_schema", node=SizeConfig)
    for name, schema in MODEL_SCHEMAS.items():
        store.store(group="schema/model", name=name, node=schema)
    for group, schema in (("dataset", DatasetConfig), ("trainer", TrainerConfig),
                          ("budget", BudgetConfig), ("logger", LoggerConfig),
                          ("paths", PathsConfig)):
        store.store(group=f"schema/{group}", name="base", node=schema)


def validate(cfg: DictConfig) -> TrainConfig:
    """Resolve and type-check a composed config; raises ConfigError naming the bad key."""
    name = cfg.model.get("name")
    _check(name in MODEL_SCHEMAS, "model.name", f"unknown model '{name}'",
           f"choose one of {', '.join(MODEL_SCHEMAS)}")
    return OmegaConf.to_object(cfg)
