"""dataset=openml: an OpenML task by id (dataset.task_id) with its official split
(dataset.repeat, dataset.fold), or an OpenML data set by id (dataset.dataset_id, a seeded
80/20 split), read through the `openml` package and its cache.

Offline once cached. openml 0.15 deletes a task's (or data set's) cache folder when any
step of loading it fails, which offline is every step it has to download, so the files it
would read are looked for first, and a missing one is refused in one line naming it, with
how to fetch it; openml is called only when everything is there, or to download
(dataset.download auto or always). The cache is dataset.root if set, else openml's own
($OPENML_CACHE_DIR, its config file, ~/.cache/openml); inside it, per server,
org/openml/www/tasks/<id>/ (task.xml, datasplits.arff) and datasets/<id>/
(description.xml, features.xml, dataset_<id>.pq or dataset.arff).

Columns are encoded as the R data sets' (kanfair.data.rpackages: one-hot categories,
missing values to the column mean, standardised over all rows, constant columns dropped).
A suite is a config that lists task ids (OpenML's get_suite needs the server):
experiment=openml_cc18.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanfair.config import DatasetConfig
from kanfair.data import Task
from kanfair.data.sources import DataUnavailable, check_column
from kanfair.schema import ConfigError, check

SERVER_FOLDER = Path("org", "openml", "www")  # openml.org's folder in a root cache


def cache_folder(cfg: DatasetConfig) -> Path:
    """openml's cache folder for openml.org (dataset.root as its root cache, if set)."""
    import openml

    if cfg.root:
        openml.config.set_root_cache_directory(Path(cfg.root).expanduser())
    return Path(openml.config.get_cache_directory())


def dataset_files(folder: Path, dataset_id: int, classification: bool) -> list[Path]:
    """What openml reads of a cached data set, missing ones only: its description, its
    features (a classification task reads its class labels there) and its data (parquet,
    else ARFF)."""
    base = folder / "datasets" / str(dataset_id)
    wanted = [base / "description.xml"] + ([base / "features.xml"] if classification else [])
    missing = [path for path in wanted if not path.is_file()]
    if not (base / f"dataset_{dataset_id}.pq").is_file() and not (base / "dataset.arff").is_file():
        missing.append(base / "dataset.arff")
    return missing


def task_dataset_id(task_xml: Path) -> int:
    """The data set a cached task.xml names (oml:data_set_id)."""
    found = re.search(r"<oml:data_set_id>\s*(\d+)\s*</oml:data_set_id>", task_xml.read_text(encoding="utf8"))
    if not found:
        raise DataUnavailable(f"{task_xml} names no data set (oml:data_set_id): it is not an OpenML task "
                              "description; delete it and fetch the task again")
    return int(found.group(1))


def _asked(cfg: DatasetConfig) -> tuple[str, int, str]:
    """The key given, its id, and what it names: ("task_id", 31, "task")."""
    return ("task_id", cfg.task_id, "task") if cfg.task_id is not None else ("dataset_id", cfg.dataset_id, "data set")


def _fetch_line(key: str, ident: int, folder: Path) -> str:
    call = (f"openml.tasks.get_task({ident}, download_splits=True, download_data=True)" if key == "task_id"
            else f"openml.datasets.get_dataset({ident}, download_data=True)")
    return (f"run once where openml.org is reachable (dataset.download=auto fetches it), or there: "
            f"python -c \"import openml; {call}\", and copy {folder.parent.parent.parent} here "
            f"(or point dataset.root at it)")


def check_cached(cfg: DatasetConfig, folder: Path) -> bool:
    """True when every file openml will read is cached; else, with dataset.download=never,
    a ConfigError naming the first missing file; else False (openml downloads them)."""
    key, ident, noun = _asked(cfg)
    if key == "task_id":
        task_dir = folder / "tasks" / str(ident)
        missing = [task_dir / name for name in ("task.xml", "datasplits.arff") if not (task_dir / name).is_file()]
        if not missing:
            missing = dataset_files(folder, task_dataset_id(task_dir / "task.xml"), classification=True)
    else:
        missing = dataset_files(folder, ident, classification=False)
    if missing and cfg.download == "never":
        raise ConfigError(f"dataset.{key}", f"OpenML {noun} {ident} is not in the cache ({missing[0]} is "
                          "missing) and dataset.download=never", _fetch_line(key, ident, folder))
    return not missing


def _openml_call(cfg: DatasetConfig, folder: Path, cached: bool, load: Any) -> Any:
    """`load()` through openml: reading the cache (parquet skipped where only the ARFF is
    there, so that it does not try the network), or downloading what is missing."""
    key, ident, noun = _asked(cfg)
    skip = os.environ.get("OPENML_SKIP_PARQUET")
    if cached and not any((folder / "datasets").glob("*/dataset_*.pq")):
        os.environ["OPENML_SKIP_PARQUET"] = "true"
    try:
        return load()
    except Exception as error:  # openml's errors (network, server, parsing) name no key
        line = str(error).splitlines()[0] if str(error) else type(error).__name__
        if cached:
            raise DataUnavailable(f"openml could not read OpenML {noun} {ident} from its cache {folder} "
                                  f"({line}); delete its folder there and fetch it again") from error
        raise DataUnavailable(f"could not fetch OpenML {noun} {ident} ({line}); "
                              + _fetch_line(key, ident, folder)) from error
    finally:
        if skip is None:
            os.environ.pop("OPENML_SKIP_PARQUET", None)
        else:
            os.environ["OPENML_SKIP_PARQUET"] = skip


def unordered(frame: pd.DataFrame) -> pd.DataFrame:
    """OpenML's nominal columns as unordered categories: openml hands them over as ordered
    pandas categories, but an ARFF nominal has no order (so they are one-hot encoded)."""
    return frame.apply(lambda column: column.cat.as_unordered()
                       if isinstance(column.dtype, pd.CategoricalDtype) else column)


def load(cfg: DatasetConfig, data_dir: str) -> Task:
    """dataset=openml: dataset.task_id (its official split: dataset.repeat, dataset.fold)
    or dataset.dataset_id (its default target, or dataset.target; a seeded 80/20 split)."""
    import openml
    from kanfair.data.rpackages import frame_task

    check((cfg.task_id is None) != (cfg.dataset_id is None), "dataset.task_id",
          "dataset=openml needs exactly one of dataset.task_id and dataset.dataset_id",
          "e.g. dataset.task_id=31 (credit-g with its 10 folds), or dataset.dataset_id=31")
    folder = cache_folder(cfg)
    cached = check_cached(cfg, folder)
    if cfg.dataset_id is not None:
        check(cfg.fold == 0 and cfg.repeat == 0, "dataset.fold", "an OpenML data set has no official folds "
              "(a task has)", "give dataset.task_id for an official split, or leave dataset.fold unset")
        dataset = _openml_call(cfg, folder, cached, lambda: openml.datasets.get_dataset(cfg.dataset_id, download_data=True))
        target = cfg.target or dataset.default_target_attribute
        check(bool(target), "dataset.target", f"OpenML data set {cfg.dataset_id} has no default target",
              "name its target column: dataset.target=<column>")
        frame = unordered(_openml_call(cfg, folder, cached, lambda: dataset.get_data(dataset_format="dataframe")[0]))
        check_column(target, frame.columns, "dataset.target", f"OpenML data set {cfg.dataset_id}")
        return frame_task(f"openml_{cfg.dataset_id}", frame, target, cfg.task, cfg)
    check(cfg.target is None, "dataset.target", "an OpenML task fixes its target",
          "leave dataset.target unset (or use dataset.dataset_id with a target of your choice)")
    check(cfg.task == DatasetConfig.task, "dataset.task", "an OpenML task fixes its kind (its task "
          "type), so it would change nothing", "leave dataset.task unset (dataset.dataset_id reads it)")
    task = _openml_call(cfg, folder, cached,
                        lambda: openml.tasks.get_task(cfg.task_id, download_splits=True, download_data=True))
    kinds = {openml.tasks.TaskType.SUPERVISED_CLASSIFICATION: "classification",
             openml.tasks.TaskType.SUPERVISED_REGRESSION: "regression"}
    check(task.task_type_id in kinds, "dataset.task_id", f"OpenML task {cfg.task_id} is a {task.task_type} "
          "task", "choose a supervised classification or regression task")
    repeats, folds, _ = task.get_split_dimensions()
    check(0 <= cfg.repeat < repeats, "dataset.repeat", f"OpenML task {cfg.task_id} has {repeats} "
          f"repeat(s) (got {cfg.repeat})", f"set it in 0 .. {repeats - 1}")
    check(0 <= cfg.fold < folds, "dataset.fold", f"OpenML task {cfg.task_id} has {folds} fold(s) "
          f"(got {cfg.fold})", f"set it in 0 .. {folds - 1}")
    frame = unordered(_openml_call(cfg, folder, cached, lambda: task.get_dataset().get_data(dataset_format="dataframe")[0]))
    train, test = task.get_train_test_split_indices(fold=cfg.fold, repeat=cfg.repeat)
    fold = f"_r{cfg.repeat}f{cfg.fold}" if cfg.repeat or cfg.fold else ""  # another fold: another table
    return frame_task(f"openml_task_{cfg.task_id}{fold}", frame, task.target_name, kinds[task.task_type_id], cfg,
                      rows=(np.asarray(train), np.asarray(test)))
