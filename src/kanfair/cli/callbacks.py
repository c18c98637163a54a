"""Hydra callbacks of the train app."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class PrintComparison(Callback):
    """When a multirun ends, print the comparison table of the results store."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from kanfair.report import comparison_table

        runs = Path(config.paths.results_dir) / "runs"
        if runs.exists() and any(runs.glob("*.json")):
            print(f"\nComparison of the runs in {runs} (python scripts/report.py for plots):\n")
            print(comparison_table(runs), flush=True)
