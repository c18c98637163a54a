"""Where a data set's files are: one search order for every loader, one clear failure.

Order: `dataset.root` if given, then `<data_dir>/<name>`, then known system locations
(Fashion-MNIST from the Debian/Ubuntu package `dataset-fashion-mnist`), then a download
through the real library when `dataset.download` allows it (`auto`, the default, or
`always`, which downloads first). Compute nodes are often offline: `prepare` (the
`kanfair.cli.data` command) fetches once into data_dir so that later runs need no network.
"""
from __future__ import annotations

import difflib
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from kanfair.config import DatasetConfig
from kanfair.schema import ConfigError

SYSTEM_LOCATIONS: dict[str, list[str]] = {
    "fmnist": ["/usr/share/datasets/fashion-mnist"],
}
SYSTEM_PACKAGES = {"fmnist": "dataset-fashion-mnist"}
CACHE_VERSION = 1


class DataUnavailable(RuntimeError):
    """The data set is neither on disk nor downloadable; the message says how to get it."""


def prepare_command(name: str, data_dir: str | Path = "data", package: Optional[str] = None) -> str:
    """The command that fetches `name` into `data_dir` (dataset=rdata: the R package `package`)."""
    folder = "" if str(data_dir) == "data" else f" --data-dir {data_dir}"
    return f"python -m kanfair.cli.data{folder} prepare {name}" + (f" --package {package}" if package else "")


def check_column(column: Any, columns: Sequence[Any], key: str, where: str) -> None:
    """Refuse a column name that is not in `columns`, naming the key and listing the columns
    quoted (a header's stray space shows), with the closest one written as an override."""
    if column in columns:
        return
    names = [str(name) for name in columns]
    close = difflib.get_close_matches(str(column), names, n=1) or [n for n in names if n.strip() == str(column).strip()]
    hint = f" (did you mean {close[0]!r}? write {key}='{close[0]}')" if close else ""
    raise ConfigError(key, f"column {str(column)!r} is not in {where}",
                      f"its columns are {', '.join(map(repr, names))}{hint}")


def candidate_roots(cfg: DatasetConfig, data_dir: str | Path) -> list[Path]:
    """The folders to look in, in order."""
    roots = [Path(cfg.root)] if cfg.root else []
    roots.append(Path(data_dir) / cfg.name)
    roots += [Path(p) for p in SYSTEM_LOCATIONS.get(cfg.name, [])]
    return roots


def find(cfg: DatasetConfig, data_dir: str | Path, present: Callable[[Path], bool],
         download: Optional[Callable[[Path], None]], manual: str = "") -> Path:
    """The first folder where `present` holds; else download into <data_dir>/<name> when
    allowed; else raise DataUnavailable naming the folders tried and the fix. A data set
    with no open download passes download=None and `manual`, how to get it by hand. A
    failed download removes the folder it created, so that nothing looks half-present."""
    target = Path(data_dir) / cfg.name
    roots = candidate_roots(cfg, data_dir)
    if cfg.download != "always" or download is None:
        for root in roots:
            if present(root):
                return root
    if download is None:
        raise DataUnavailable(f"dataset '{cfg.name}' not found (looked in "
                              f"{', '.join(str(r) for r in roots)}); {manual}")
    reason = "dataset.download=never"
    if cfg.download != "never":
        created = not target.exists()
        try:
            target.mkdir(parents=True, exist_ok=True)
            download(target)
            if present(target):
                return target
            reason = "the download left no usable files"
        except Exception as error:  # offline, mirror down, permission: all say the same
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            reason = f"download failed, no network? ({detail.rstrip(':')})"
        if created:
            shutil.rmtree(target, ignore_errors=True)
    raise DataUnavailable(missing_message(cfg.name, roots, reason))


def missing_message(name: str, roots: Sequence[Path], reason: str) -> str:
    package = SYSTEM_PACKAGES.get(name)
    extra = f", or install the package `{package}`" if package else ""
    return (f"dataset '{name}' not found (looked in {', '.join(str(r) for r in roots)}; "
            f"{reason}); get it with `{prepare_command(name)}` on a machine with internet"
            f"{extra}, or point dataset.root at a copy")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(cache: Path) -> None:
    """Delete the half-written temporaries of `cache` left by a build that was killed on
    this host (the process in their name is gone); a live build's file is left alone."""
    mine = f"{cache.name}.{socket.gethostname()}."  # a host name may itself hold dots
    for leftover in cache.parent.glob(f"{mine}*.tmp"):
        pid = leftover.name[len(mine):].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def cached(cfg: DatasetConfig, data_dir: str | Path, file_name: str,
           build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Decoded tensors from <data_dir>/<name>/<file_name>, or built now and stored there
    atomically (a temporary named by host and process, then a rename). A cache made from
    another dataset.root or by another format version, an unreadable (truncated, corrupt)
    one, or dataset.download=always, is rebuilt."""
    cache = Path(data_dir) / cfg.name / file_name
    source = str(cfg.root or "")
    remove_stale_temporaries(cache)
    if cache.exists() and cfg.download != "always":
        try:
            stored = torch.load(cache, weights_only=True)
        except Exception as error:  # truncated or corrupt: any unpickling error
            print(f"kanfair: the cache {cache} is unreadable ({type(error).__name__}); rebuilding it",
                  file=sys.stderr, flush=True)
            stored = {}
        if stored.get("version") == CACHE_VERSION and stored.get("source") == source:
            return stored
    arrays = {**build(), "version": CACHE_VERSION, "source": source}
    cache.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{cache.name}.{socket.gethostname()}.{os.getpid()}."
    with tempfile.NamedTemporaryFile(dir=cache.parent, prefix=prefix, suffix=".tmp", delete=False) as handle:
        torch.save(arrays, handle)
    Path(handle.name).replace(cache)
    return arrays
