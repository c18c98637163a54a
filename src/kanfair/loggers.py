"""Experiment trackers beside the run records: none, or Weights & Biases."""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from kanfair.config import LoggerConfig
from kanfair.results import Record


class NoLogger:
    """Records only."""

    def log_epoch(self, row: dict[str, float]) -> None:
        pass

    def finish(self, record: Optional[Record]) -> None:
        pass


class WandbLogger(NoLogger):
    """One wandb run per job: the resolved config, per-epoch metrics, the record as summary.
    wandb's own files (run, cache, settings, artifacts) stay in the job directory."""

    def __init__(self, conf: LoggerConfig, job_dir: str | Path, run_id: str,
                 config: dict[str, Any]) -> None:
        import wandb

        folder = Path(job_dir)
        for variable, sub in (("WANDB_DIR", ""), ("WANDB_CACHE_DIR", "wandb-cache"),
                              ("WANDB_CONFIG_DIR", "wandb-config"), ("WANDB_DATA_DIR", "wandb-data"),
                              ("WANDB_ARTIFACT_DIR", "wandb-artifacts")):
            os.environ[variable] = str(folder / sub)
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=conf.project, entity=conf.entity, mode=conf.mode,
                              dir=str(folder), name=run_id, config=config, tags=list(conf.tags),
                              settings=wandb.Settings(silent=True))

    def log_epoch(self, row: dict[str, float]) -> None:
        self.run.log(dict(row), step=int(row.get("epoch", 0)))

    def finish(self, record: Optional[Record]) -> None:
        if record is not None:
            summary = {k: v for k, v in asdict(record).items() if k not in ("history", "config")}
            self.run.summary.update(summary)
        self.run.finish(exit_code=0 if record is not None and record.status == "ok" else 1)


def open_logger(conf: LoggerConfig, job_dir: Optional[str | Path], run_id: str,
                config: dict[str, Any]) -> NoLogger:
    if conf.name == "wandb":
        return WandbLogger(conf, job_dir or ".", run_id, config)
    return NoLogger()
