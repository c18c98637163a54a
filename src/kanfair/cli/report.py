"""`kanfair-report` (or `python scripts/report.py`): tables and Pareto plots from run records."""
from __future__ import annotations

import sys

from kanfair.cli.errors import OneLineArgumentParser, one_line_errors
from kanfair.report.tables import COST_COLUMNS, write_report


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="kanfair-report", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/runs", help="folder of run records (*.json)")
    parser.add_argument("--out", default="results/report", help="where table.md, table.csv and plots go")
    parser.add_argument("--by", choices=sorted(COST_COLUMNS), default="params",
                        help="cost axis of the extra plot (params and flops are always drawn)")
    parser.add_argument("--group", default="model",
                        help="record column that splits model families further, e.g. shortcut")
    parser.add_argument("--published", help="the paper's results table, for a side-by-side column: 'kanbefair' (shipped with "
                        "kanfair) or a CSV in its format")
    parser.add_argument("--verdict", action="store_true",
                        help="also verdict.md and verdict.csv: tests over seeds per data set and budget, "
                             "ranks across data sets")
    parser.add_argument("--latex", action="store_true",
                        help="also tables.tex: the comparison and the verdict as booktabs tables for a paper")
    parser.add_argument("--scaling", action="store_true",
                        help="also scaling.md, scaling.csv and plots: the exponent of test RMSE ~ N^-alpha per "
                             "family and task, on the frontier chosen on validation, with bootstrap intervals")
    parser.add_argument("--kan-paper", action="store_true",
                        help="also kan_paper.md: the KAN paper's claims (toy scaling, Feynman under validation "
                             "selection and under the paper's rule, beside its Table 2) with a verdict")
    args = parser.parse_args(argv)
    with one_line_errors():
        written = write_report(args.runs, args.out, args.by, args.group, args.published, args.verdict,
                               args.latex, args.scaling, args.kan_paper)
    print(open(written[0]).read(), end="")
    print(f"wrote {len(written)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
