"""`python scripts/kan_paper_pruned_mlps.py`: write the experiment that sizes the Feynman MLPs
to each equation's pruned KAN (phase 2 of experiment=kan_paper_pruned), from its records."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from kanfair.cli.errors import OneLineArgumentParser, one_line_errors
from kanfair.report.kan_paper import feynman_frame, pruned_sizes
from kanfair.results import read_records
from kanfair.schema import ConfigError

ACTIVATIONS, HIDDEN, EPOCHS = "tanh,relu,silu", '"[5],[5,5]"', 250  # kan_paper's Feynman MLPs


def experiment_yaml(sizes: dict[str, int], runs: str, tolerance: float) -> str:
    """The experiment: experiment=kan_paper_pruned's grids plus, per equation, its MLPs (the
    kan_paper activations and depths, as many steps) sized to `sizes[equation]` trainable
    parameters (budget.convention=ops counts the trainable ones)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# @package _global_",
             f"# Written by scripts/kan_paper_pruned_mlps.py on {stamp} from the records in",
             f"# {runs}: phase 2 of experiment=kan_paper_pruned (which it includes, so its",
             "# done runs resume): per Feynman equation,",
             "# MLPs of width-5 shape (tanh, relu, silu; depth 2 and 3, 250 steps, as kan_paper's) resized",
             "# to the trainable parameters of that equation's pruned KAN (its lamb chosen on validation).",
             "defaults:", "  - kan_paper_pruned", "  - _self_", "", "hydra:", "  sweeper:", "    grids:"]
    for dataset, size in sorted(sizes.items()):
        lines += [f"      {dataset.removeprefix('feynman_')}_mlp_at_pruned:", f"        dataset: {dataset}",
                  "        model: mlp", f"        model.activation: {ACTIVATIONS}", f"        model.hidden: {HIDDEN}",
                  "        budget: params", "        budget.convention: ops", f"        budget.target: {size}",
                  f"        budget.tolerance: {tolerance:g}", f"        trainer.epochs: {EPOCHS}"]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = OneLineArgumentParser(prog="kan_paper_pruned_mlps", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/kan_paper_pruned/runs", help="the pruned KANs' records")
    parser.add_argument("--out", default="configs/experiment/kan_paper_pruned_mlp.yaml", help="the experiment to write")
    parser.add_argument("--tolerance", type=float, default=0.25,
                        help="budget.tolerance: a width-5-shaped MLP moves in steps of a whole unit of width, "
                             "coarse at a few dozen parameters (default 0.25)")
    args = parser.parse_args(argv)
    with one_line_errors():
        sizes = pruned_sizes(feynman_frame(read_records(args.runs, print))) if Path(args.runs).is_dir() else {}
        if not len(sizes):
            raise ConfigError("--runs", f"{args.runs} holds no pruned KAN's record",
                              "run experiment=kan_paper_pruned first, or give its runs folder")
        Path(args.out).write_text(experiment_yaml(dict(sizes), args.runs, args.tolerance))
    print(f"wrote {args.out}: MLPs sized to the pruned KANs of {len(sizes)} equations ({sizes.min()} to "
          f"{sizes.max()} parameters); run it with python train.py experiment={Path(args.out).stem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
