"""`python scripts/size.py ...`: the sizes the budget matcher gives, as a table; no training.

With -m, every job adds a row and the table is printed when the sweep ends (rows are
collected in this process, so use the default launcher).
"""
from __future__ import annotations

from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig
from tabulate import tabulate

from kanfair import budget as budgets
from kanfair.cli.errors import hydra_main_with_one_line_errors, one_line_errors
from kanfair.config import CONFIG_DIR, SizeConfig, register_configs, validate
from kanfair.cost import count
from kanfair.data import load_task
from kanfair.models import FAMILIES

ROWS: list[dict[str, Any]] = []


def size_row(conf: SizeConfig) -> dict[str, Any]:
    """One table row: the model the budget gives, with its costs."""
    in_dim, out_dim = conf.in_dim, conf.out_dim
    if in_dim is None or out_dim is None:
        task = load_task(conf.dataset, conf.paths.data_dir)
        in_dim, out_dim = in_dim or task.in_dim, out_dim or task.out_dim
    spec, matched = budgets.plan(conf.budget, conf.model, in_dim, out_dim)
    convention = conf.budget.convention
    flops = count(spec, in_dim, out_dim, convention)
    return {
        "model": spec["name"], "in->out": f"{in_dim}->{out_dim}", "hidden": spec["hidden"],
        "settings": FAMILIES[spec["name"]].label(spec), "params": count(spec, in_dim, out_dim, "ops").params,
        "params (kanbefair)": count(spec, in_dim, out_dim, "kanbefair").params,
        f"FLOPs ({convention})": f">= {flops.flops:,.0f}" if flops.skipped else flops.flops,
        "target": matched.target if matched else "",
        "deviation": f"{matched.deviation:+.2%}" if matched else "",
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(tabulate(rows, headers="keys", intfmt=",", floatfmt=",.0f"), flush=True)


class SizeTable(Callback):
    """Prints the rows of a multirun as one table when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print_table(ROWS)


@hydra.main(config_path=CONFIG_DIR, config_name="size", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    with one_line_errors():
        ROWS.append(size_row(validate(cfg)))
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            print_table(ROWS)


def main() -> None:
    register_configs()
    hydra_main_with_one_line_errors(_app)


if __name__ == "__main__":
    main()
