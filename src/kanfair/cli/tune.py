"""`kanfair-tune ...`: the Hydra app around kanfair.studies.tune (one family's study per job)."""
from __future__ import annotations

import statistics
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from kanfair.cli.errors import hydra_main_with_one_line_errors, one_line_errors
from kanfair.cli.train import threads_per_job
from kanfair.config import CONFIG_DIR, register_configs
from kanfair.studies.tune import tune


@hydra.main(config_path=CONFIG_DIR, config_name="tune", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    with one_line_errors():
        hydra_conf = HydraConfig.get()
        for result in tune(cfg, job_dir=hydra_conf.runtime.output_dir, threads=threads_per_job(hydra_conf)):
            if not result.finals:  # another worker of the study runs them
                continue
            tests = [r.test_metric for r in result.finals if r.test_metric is not None]
            spread = f" ± {statistics.stdev(tests):.4g}" if len(tests) > 1 else ""
            print(f"kanfair: tuned {result.study} (tune.repeat={result.repeat}): best trial {result.best_trial} "
                  f"(val {result.best_value:.6g}), test {result.finals[0].metric} {statistics.mean(tests):.6g}"
                  f"{spread} over {len(tests)} seeds; "
                  + ", ".join(f"{k}={v}" for k, v in result.best_params.items()), flush=True)


def one_job_per_worker(argv: list[str]) -> list[str]:
    """`tune.workers=N` on the command line makes N jobs a study: a sweep over tune.worker
    (added with -m where the user did not sweep it)."""
    workers = [word.split("=", 1)[1] for word in argv if word.startswith("tune.workers=")]
    if not workers or not workers[-1].isdigit() or int(workers[-1]) < 2 \
            or any(word.startswith("tune.worker=") for word in argv):
        return argv
    multirun = [] if any(word in ("-m", "--multirun") for word in argv) else ["-m"]
    return [argv[0], *multirun, *argv[1:], f"tune.worker=range(0,{workers[-1]})"]


def main() -> None:
    register_configs()
    sys.argv = one_job_per_worker(sys.argv)
    hydra_main_with_one_line_errors(_app)


if __name__ == "__main__":
    main()
