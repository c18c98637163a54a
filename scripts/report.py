"""Tables and Pareto plots from run records: python scripts/report.py --runs DIR --out DIR (see README)."""
import sys

from kanfair.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
