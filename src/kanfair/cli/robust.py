"""`kanfair-robust` (or `python scripts/robust.py`): re-run a verdict's runs under another CPU
kernel set and say which of its claims survive."""
from __future__ import annotations

import sys

from kanfair.cli.errors import OneLineArgumentParser, one_line_errors
from kanfair.studies.robustness import KERNEL_SETS, write_robustness


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="kanfair-robust", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the study's folder of run records, e.g. results/tuned_2k/runs")
    parser.add_argument("--out", required=True, help="where the reruns (runs/) and robustness.md go")
    parser.add_argument("--kernel-set", choices=KERNEL_SETS, default="default",
                        help="ATEN_CPU_CAPABILITY for the reruns (default: the portable kernels)")
    parser.add_argument("--jobs", type=int, default=1, help="rerun processes side by side (they share the cores)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1 (got {args.jobs})")
    with one_line_errors():
        path = write_robustness(args.runs, args.out, args.kernel_set, args.jobs)
    print(path.read_text(), end="")
    print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
