"""`python scripts/compare_runs.py FIRST SECOND`: do two runs folders hold the same runs
with the same numbers? Exit 0 where they do, 1 where not (each difference named)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from tabulate import tabulate

from kanfair.cli.errors import OneLineArgumentParser, one_line_errors
from kanfair.report.twins import compare_runs
from kanfair.schema import ConfigError


def main(argv: Optional[list[str]] = None) -> int:
    parser = OneLineArgumentParser(
        prog="kanfair-compare", description="Compare two runs folders run by run: the run ids each holds and "
        "each shared run's metrics and per-epoch losses.",
        epilog="e.g. python scripts/compare_runs.py results/cluster_check/slurm/runs results/cluster_check/joblib/runs")
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance (default 1e-6)")
    parser.add_argument("--runs", action="store_true", help="list every shared run")
    args = parser.parse_args(argv)
    with one_line_errors():
        for folder in (args.first, args.second):
            if not any(Path(folder).glob("*.json")):
                raise ConfigError(folder, "holds no records", "give a runs folder (<results_dir>/runs)")
        twins = compare_runs(args.first, args.second, args.rtol)
    shown = twins.rows if args.runs else twins.differing
    if shown:
        print(tabulate([{k: v for k, v in row.items() if k != "same"} for row in shown], headers="keys"))
    for side, ids in (("first", twins.only_first), ("second", twins.only_second)):
        if ids:
            print(f"only in the {side}: {', '.join(ids)}")
    print(twins.summary())
    return 0 if not (twins.differing or twins.only_first or twins.only_second) else 1
