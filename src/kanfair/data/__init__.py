"""Tasks: one entry point, `load_task`, that turns a dataset config into tensors."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from kanfair.config import DatasetConfig, PDEConfig
from kanfair.schema import ConfigError
from kanfair.data.task import Task


# the keys of a user's own data: a source that reads none of them refuses them when set,
# since they would change nothing (and dataset.path would even join the record's hash)
USER_KEYS = ("path", "target", "task", "text_column", "label_column", "features", "package", "object",
             "task_id", "dataset_id", "repeat", "fold")


@dataclass(frozen=True)
class TaskSource:
    domain: str
    load: Callable[[DatasetConfig, str], Task]
    reads: tuple[str, ...] = ()  # which of USER_KEYS the loader reads


def _registry() -> dict[str, TaskSource]:
    from kanfair.data import audio, openml_tasks, pde, rpackages, symbolic, tabular, text, vision

    sources = {name: TaskSource("vision", vision.load) for name in vision.VISION}
    sources.update({name: TaskSource("tabular", tabular.load_bundled) for name in tabular.BUNDLED})
    sources.update({name: TaskSource("tabular", tabular.load_uci) for name in tabular.UCI_IDS})
    sources["csv"] = TaskSource("tabular", tabular.load_csv, ("path", "target", "task"))
    sources["titanic"] = TaskSource("tabular", tabular.load_titanic, ("path",))
    sources["rdata"] = TaskSource("tabular", rpackages.load_rdata, ("target", "task", "package", "object"))
    sources["openml"] = TaskSource("tabular", openml_tasks.load,
                                   ("target", "task", "task_id", "dataset_id", "repeat", "fold"))
    sources.update({name: TaskSource("tabular", rpackages.load_preset)
                    for name in (*rpackages.PRESETS, *rpackages.SKLEARN_REGRESSION)})
    sources.update({name: TaskSource("audio", audio.load, ("features",)) for name in audio.AUDIO})
    sources.update({name: TaskSource("text", text.load_hub) for name in text.HUB})
    sources["imdb"] = TaskSource("text", text.load_hub, ("path",))  # the paper's CSV
    sources["text_csv"] = TaskSource("text", text.load_text_csv, ("path", "text_column", "label_column"))
    sources.update({name: TaskSource("symbolic", symbolic.load) for name in symbolic.FORMULAS})
    sources.update({name: TaskSource("pde", pde.load) for name in pde.PROBLEMS})
    return sources


def task_names() -> list[str]:
    return sorted(_registry())


def task_domains() -> dict[str, str]:
    """Every task name with its domain (vision, tabular, symbolic, ...)."""
    return {name: source.domain for name, source in _registry().items()}


def load_task(cfg: DatasetConfig, data_dir: str = "data") -> Task:
    """Load the task that `cfg.name` names; unknown names raise with the closest ones."""
    sources = _registry()
    if cfg.name not in sources:
        close = difflib.get_close_matches(cfg.name, sources, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown dataset '{cfg.name}'{hint}; see configs/dataset/ for the list")
    source = sources[cfg.name]
    defaults = DatasetConfig(name=cfg.name)
    for key in USER_KEYS:
        if key not in source.reads and getattr(cfg, key) != getattr(defaults, key):
            raise ConfigError(f"dataset.{key}", f"{cfg.name} does not read it (it would change nothing)",
                              f"leave dataset.{key} unset, or use a data set that reads it "
                              f"(dataset=csv: path, target, task; text_csv: path, text_column, label_column; "
                              f"rdata: package, object, target, task; openml: task_id, repeat, fold or dataset_id, target, task)")
    if source.domain != "pde" and cfg.pde != PDEConfig():
        raise ConfigError("dataset.pde", f"{cfg.name} is not a physics-informed task (it would change "
                          "nothing)", "leave dataset.pde unset, or choose a pde_* data set")
    task = source.load(cfg, data_dir)
    if task.kind == "classification" and task.out_dim < 2:
        raise ConfigError("dataset.target", f"{cfg.name}'s target has one class: every model would "
                          "score 100% by predicting it", "choose a target with two or more classes")
    return task
