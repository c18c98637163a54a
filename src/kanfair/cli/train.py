"""`python train.py ...`: the Hydra app around one run (kanfair.runner.run).

It only wires Hydra to the runner: it composes the config, gives each job of a parallel
sweep its share of the cores, and turns errors into one line.
"""
from __future__ import annotations

import os

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from kanfair.cli.errors import hydra_main_with_one_line_errors, one_line_errors
from kanfair.config import CONFIG_DIR, register_configs
from kanfair.runner import run


def threads_per_job(hydra_conf: DictConfig) -> int:
    """Torch threads for one job of a parallel sweep so that jobs x threads <= cores, or
    the CPUs a cluster job asked for (hydra.launcher.cpus_per_task: without cgroups torch
    would see, and use, every core of the node); 0 leaves torch's default (sequential
    jobs). trainer.threads overrides it."""
    launcher = hydra_conf.launcher if "launcher" in hydra_conf else {}
    if hydra_conf.mode == RunMode.MULTIRUN and launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)
    jobs = launcher.get("n_jobs")
    if not jobs or hydra_conf.mode != RunMode.MULTIRUN:
        return 0
    cores = os.cpu_count() or 1
    jobs = cores if jobs < 0 else min(jobs, cores)
    return max(1, cores // jobs)


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    with one_line_errors():
        hydra_conf = HydraConfig.get()
        run(cfg, job_dir=hydra_conf.runtime.output_dir, threads=threads_per_job(hydra_conf))


def main() -> None:
    register_configs()
    hydra_main_with_one_line_errors(_app)


if __name__ == "__main__":
    main()
