"""Do two runs folders hold the same runs with the same numbers? (a sweep under SLURM
against the same sweep under joblib, or on another machine). Run by run: the run ids
each has, and each shared run's metrics, relative difference against `rtol`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kanfair.results import read_store

COMPARED = ("test_metric", "val_metric", "train_metric", "final_test")


@dataclass
class Twins:
    only_first: list[str]
    only_second: list[str]
    rows: list[dict[str, Any]]  # per shared run: its id, status each side, the largest relative difference
    rtol: float

    @property
    def differing(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if not row["same"]]

    def summary(self) -> str:
        largest = max((row["largest relative difference"] for row in self.rows), default=0.0)
        return (f"{len(self.rows)} runs in both, {len(self.only_first)} only in the first, "
                f"{len(self.only_second)} only in the second; {len(self.rows) - len(self.differing)} of "
                f"{len(self.rows)} with the same status and {', '.join(COMPARED)} and per-epoch losses within "
                f"{self.rtol:g} relative (largest difference {largest:.3g})")


def _relative(a: Any, b: Any) -> float:
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    return abs(a - b) / max(abs(a), abs(b), 1e-300) if a != b else 0.0


def _numbers(record: dict[str, Any]) -> list[Any]:
    losses = [row.get("running_train_loss", row.get("train_loss")) for row in record["history"]]  # older records
    return [record[key] for key in COMPARED] + losses


def compare_runs(first: str | Path, second: str | Path, rtol: float = 1e-6) -> Twins:
    a = {r["run_id"]: r for r in read_store(first).records}
    b = {r["run_id"]: r for r in read_store(second).records}
    rows = []
    for run_id in sorted(a.keys() & b.keys()):
        x, y = _numbers(a[run_id]), _numbers(b[run_id])
        largest = max(map(_relative, x, y), default=0.0) if len(x) == len(y) else float("inf")
        rows.append({"run id": run_id, "status": f"{a[run_id]['status']} / {b[run_id]['status']}",
                     "largest relative difference": largest,
                     "same": a[run_id]["status"] == b[run_id]["status"] and largest <= rtol})
    return Twins(sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys()), rows, rtol)
