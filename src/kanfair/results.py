"""Run records: one JSON file per run, written atomically, keyed by the resolved config.

A record is the unit every table and plot is cut from, so it carries the model's cost,
the protocol and the full config. Writing goes through a temp file and a rename, so a
killed run leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import reprlib
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

from kanfair.unread import unread_keys

STATUSES = ("ok", "diverged", "failed")


@dataclass
class Record:
    run_id: str
    status: str
    model: str
    dataset: str
    task: str
    metric: str
    protocol: str
    seed: int
    hidden: list[int]
    params: int
    params_kanbefair: int
    flops: float
    flops_convention: str
    model_spec: dict[str, Any]
    budget: Optional[dict[str, Any]]
    test_metric: Optional[float]
    final_test: Optional[float]
    best_epoch: Optional[int]
    val_metric: Optional[float]
    train_metric: Optional[float]
    test_metrics: dict[str, float]
    epochs: int
    epochs_run: int
    data_time_s: float
    train_time_s: float
    eval_time_s: float
    time_per_epoch_s: Optional[float]
    samples_per_s: Optional[float]
    n_train: int
    n_val: int
    n_test: int
    compiled: bool
    config: dict[str, Any]
    config_hash: str
    history: list[dict[str, float]]
    started_at: str
    finished_at: str
    kanfair_version: str
    message: str = ""
    split: str = ""  # dataset.split where the data set has a choice (kanbefair, seeded, ...)
    extra: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # the data's fingerprint (kanfair.data.fingerprint)
    environment: dict[str, Any] = field(default_factory=dict)  # host, device, threads, versions
    widths: list[int] = field(default_factory=list)  # the body's layer widths, [in] + hidden + [out]

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"record status must be one of {STATUSES}, got '{self.status}'")


# where results go, who watches, and what cannot change a run's numbers are not what was run
# (trainer.eval_train: how often the train split is scored, which selects nothing)
NOT_HASHED = ("paths", "logger", "trainer.rerun", "trainer.eval_train", "tune.trials", "tune.seeds",
              "tune.storage", "tune.repeats", "tune.workers", "tune.worker", "tune.heartbeat_s")
# keys added after records were written: hashed only when set away from the value that
# reproduces the earlier behaviour, so that earlier records still resume
HASHED_UNLESS = {"dataset.split": None, "dataset.split_seed": 0, "dataset.source": None,
                 "dataset.package": None, "dataset.object": None, "dataset.task_id": None,
                 "dataset.dataset_id": None, "dataset.repeat": 0, "dataset.fold": 0,
                 "dataset.pde": {"interior": None, "boundary": None, "initial": None, "eval_grid": None,
                                 "seed": 0, "weights": {}},
                 "trainer.val_seed": 0, "trainer.dtype": "float32", "trainer.eval_every": 1,
                 "trainer.grid_schedule": [], "trainer.steps_per_grid": None, "trainer.grid_update_every": 0,
                 "trainer.grid_update_until": None, "trainer.lamb": 0.0, "trainer.lamb_l1": 1.0,
                 "trainer.lamb_entropy": 2.0, "trainer.prune_threshold": None,
                 "trainer.prune_inputs": False, "tune.repeat": 0}
# keys that change no result (scripts/bench_eval.py and tests/test_trainer.py check it),
# hashed as the value the earliest records hold, whatever their value, so records resume
HASHED_AS = {"trainer.eval_batch_size": 4096}


def config_hash(config: dict[str, Any], data: Optional[dict[str, Any]] = None) -> str:
    """Hash of the resolved config with the keys its run does not read at their defaults
    (kanfair.unread), without the keys in NOT_HASHED, without those of HASHED_UNLESS while
    they hold their earlier behaviour's value, and with those of HASHED_AS set to their
    fixed value; `data`, the hashed part of the data's fingerprint (kanfair.data.fingerprint),
    joins it when not empty."""
    relevant = json.loads(json.dumps({**config, "data": data} if data else config, default=str))
    for dotted, (default, _) in unread_keys(relevant).items():
        group, key = dotted.split(".", 1)
        relevant[group][key] = json.loads(json.dumps(default))
    rules = ([(dotted, None, None) for dotted in NOT_HASHED]
             + [(dotted, (value,), None) for dotted, value in HASHED_UNLESS.items()]
             + [(dotted, None, (value,)) for dotted, value in HASHED_AS.items()])
    for dotted, only_if, hashed_as in rules:
        *parents, leaf = dotted.split(".")
        node = relevant
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if not (isinstance(node, dict) and leaf in node):
            continue
        if hashed_as:
            node[leaf] = hashed_as[0]
        elif only_if is None or node[leaf] == only_if[0]:
            del node[leaf]
    blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_id_for(model: str, dataset: str, seed: int, hash_: str) -> str:
    return f"{dataset}-{model}-s{seed}-{hash_}"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def strict(value: Any) -> Any:
    """`value` with every non-finite float as None: strict JSON (a bare NaN or Infinity token
    is not JSON, and other readers refuse it); the record's status says why a number is missing."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write strict JSON to `path` via a temp file in the same directory and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(strict(payload), handle, indent=1, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; shared results stay readable
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename:
            raise
        # a full disk surfaces in write or fsync as "[Errno 28] No space left on device": say where
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


REPORTED_FIELDS = ("run_id", "status", "dataset", "model", "metric", "protocol", "seed", "hidden",
                   "epochs", "test_metric", "params")
FIELD_TYPES = {"run_id": str, "dataset": str, "model": str, "metric": str, "protocol": str, "seed": int,
               "hidden": list, "epochs": int, "params": int, "config_hash": str, "config": dict}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def record_problem(record: Any, file_name: Optional[str] = None) -> Optional[str]:
    """Why `record` (a file's parsed JSON) is not a record any reader may use, or None: the one
    validation of resume, reports, `load_runs` and `kanfair-robust`. A record names its run
    (id, status, seed, metric ...) with the right types; an ok one has a finite test metric;
    its run id ends in its seed and config hash; its file is `<run_id>.json` (one file a run)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [key for key in REPORTED_FIELDS if key not in record]
    if missing:
        return f"no {', '.join(missing)}"
    if record["status"] not in STATUSES:
        return f"an unknown status {record['status']!r}"
    for key, kind in FIELD_TYPES.items():
        value = record.get(key)
        if key in record and not (isinstance(value, kind) and not isinstance(value, bool)):
            return f"{key} is {reprlib.repr(value)}, not {'a whole number' if kind is int else 'a ' + kind.__name__}"
    test = record["test_metric"]
    if not (test is None or _is_number(test)):
        return f"test_metric is {reprlib.repr(test)}, not a number"
    if record["status"] == "ok" and not _is_finite(test):
        return "an ok record without a finite test_metric"
    val = record.get("val_metric")
    if record["status"] == "ok" and record["protocol"] == "val" and not _is_finite(val):
        return f"an ok record of protocol val without a finite val_metric (got {reprlib.repr(val)}), which selects it"
    if "config_hash" in record and not record["run_id"].endswith(f"-s{record['seed']}-{record['config_hash']}"):
        return (f"its run id {record['run_id']} does not end in its seed and config hash "
                f"(-s{record['seed']}-{record['config_hash']}): edited by hand?")
    if file_name is not None and file_name != f"{record['run_id']}.json":
        return f"a record of run {record['run_id']} stored under another name (its file is {record['run_id']}.json)"
    return None


@dataclass
class Store:
    """A runs folder as read: the records every reader may use, and each other file with
    why it is not used (a report counts them; nothing is dropped without a word)."""

    records: list[dict[str, Any]]
    not_used: list[tuple[Path, str]]

    def warn_each(self, warn: Callable[[str], None]) -> None:
        for path, why in self.not_used:
            warn(f"kanfair: skipped {path}: {why}")


def read_store(runs_dir: str | Path) -> Store:
    """Every `*.json` file in runs_dir, each validated by `record_problem`."""
    store = Store([], [])
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            store.not_used.append((path, f"not a readable record ({str(error) or type(error).__name__})"))
            continue
        problem = record_problem(record, path.name)
        if problem:
            store.not_used.append((path, problem))
        else:
            store.records.append(record)
    return store


def read_records(runs_dir: str | Path, warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """The usable records of runs_dir (`read_store`); each other file is named through `warn`,
    so one bad file never stops a report."""
    store = read_store(runs_dir)
    store.warn_each(warn)
    return store.records


def record_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / "runs" / f"{run_id}.json"


REQUIRED_FIELDS = tuple(f.name for f in fields(Record)
                        if f.default is MISSING and f.default_factory is MISSING)


def stored_problem(results_dir: str | Path, run_id: str, hash_: str, seed: int) -> Optional[str]:
    """Why the file stored under this run's name is not a record of this run (unreadable, a
    field of the current schema missing, what `record_problem` refuses, another run's id, hash
    or seed), or None: no file, or a record of this run."""
    path = record_path(results_dir, run_id)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return f"not readable JSON ({str(error) or type(error).__name__})"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [key for key in REQUIRED_FIELDS if key not in record]
    if missing:
        return f"not a record of this version (no {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''})"
    problem = record_problem(record, path.name)  # what every reader refuses, said the same way
    if problem:
        return problem
    for key, expected in (("run_id", run_id), ("config_hash", hash_), ("seed", seed)):
        if record[key] != expected:
            return f"another run's record ({key} {record[key]!r}, this run's {expected!r})"
    return None


def set_aside_if_not_this_run(results_dir: str | Path, run_id: str, hash_: str, seed: int) -> Optional[Path]:
    """Move a file under this run's name that is not its record to `<name>.invalid[.N]`
    (which no reader takes), saying so in one line; returns where it went."""
    problem = stored_problem(results_dir, run_id, hash_, seed)
    if problem is None:
        return None
    path = record_path(results_dir, run_id)
    aside = path.with_name(f"{path.name}.invalid")
    number = 1
    while aside.exists():
        aside, number = path.with_name(f"{path.name}.invalid.{number}"), number + 1
    os.replace(path, aside)
    print(f"kanfair: set aside {path} as {aside.name}: {problem}; the run runs", flush=True)
    return aside


def finished_ok(results_dir: str | Path, run_id: str, hash_: str, seed: int) -> bool:
    """Whether the results store already holds an `ok` record of this very run (its id,
    config hash and seed, every field of the current schema); reads only."""
    if stored_problem(results_dir, run_id, hash_, seed) is not None:
        return False
    try:
        return json.loads(record_path(results_dir, run_id).read_text())["status"] == "ok"
    except FileNotFoundError:
        return False


def write_record(record: Record, results_dir: str | Path, job_dir: Optional[str | Path] = None) -> Path:
    """Store the record as `<results_dir>/runs/<run_id>.json` (and a copy in the job dir).
    A run that did not end ok never replaces an ok record of the same config (a rerun that
    failed): it is kept beside it as `<run_id>.json.<status>`, which the store does not read."""
    payload = asdict(record)
    path = record_path(results_dir, record.run_id)
    if record.status != "ok" and finished_ok(results_dir, record.run_id, record.config_hash, record.seed):
        path = path.with_name(f"{path.name}.{record.status}")
        print(f"kanfair: kept the ok record {record_path(results_dir, record.run_id)}; this run's "
              f"{record.status} record is {path}", flush=True)
    atomic_write_json(path, payload)
    write_job_copy(record, job_dir)
    return path


def write_job_copy(record: Record, job_dir: Optional[str | Path]) -> None:
    """The record's copy in its Hydra job folder (`result.json`, beside the job's log)."""
    if job_dir is not None:
        atomic_write_json(Path(job_dir) / "result.json", asdict(record))

