"""Hydra callbacks of the train app."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class PrintComparison(Callback):
    """When a multirun ends, print the comparison table of the results store."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from kanfair.report.tables import comparison_table

        runs = Path(config.paths.results_dir) / "runs"
        if runs.exists() and any(runs.glob("*.json")):
            print(f"\nComparison of the runs in {runs} (python scripts/report.py for plots):\n")
            print(comparison_table(runs), flush=True)


class WriteVerdict(Callback):
    """When a tuning run ends, write the report with its verdict to <results_dir>/report
    and print the verdict's sentences."""

    def _write(self, config: DictConfig) -> None:
        from kanfair.report.tables import write_report

        runs = Path(config.paths.results_dir) / "runs"
        if runs.exists() and any(runs.glob("*.json")):
            out = Path(config.paths.results_dir) / "report"
            verdict = next(path for path in write_report(runs, out, verdict=True) if path.name == "verdict.md")
            said = [line for line in verdict.read_text().splitlines()
                    if line.startswith(("At ", "Without ", "Across "))]
            print("\n".join(["", f"Verdict ({verdict}):", *said]), flush=True)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._write(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._write(config)
