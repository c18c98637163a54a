"""What data a run saw, for its record and its hash, so that a user's file that changed at
the same path is a new run, not one that resume skips as done.

A user's file (dataset.path) is fingerprinted by size, modification time and SHA-256; only
the content hash enters the run hash (the same bytes are the same run, however often the
file is touched). A named data set is its name and DATA_VERSION, kanfair's preparation of
it (splits, encodings), which enters the hash only once it moves past 1, so that records
written before fingerprints existed still resume.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from kanfair.config import DatasetConfig

DATA_VERSION = 1  # bump when a loader's output for a named data set changes


def fingerprint(cfg: DatasetConfig) -> dict[str, Any]:
    """The record's `data` block: file, bytes, modified and sha256 for dataset.path, else
    name and version."""
    if not cfg.path:
        return {"name": cfg.name, "version": DATA_VERSION}
    path = Path(cfg.path)
    if not path.is_file():
        return {"file": str(path)}  # the loader refuses it in one line
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    stat = path.stat()
    return {"file": str(path.resolve()), "bytes": stat.st_size,
            "modified": dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).isoformat(),
            "sha256": digest.hexdigest()}


def hashed_part(data: dict[str, Any]) -> dict[str, Any]:
    """What of a fingerprint the run hash takes (see the module docstring)."""
    if "sha256" in data:
        return {"sha256": data["sha256"]}
    if data.get("version", DATA_VERSION) != 1:
        return {"version": data["version"]}
    return {}
