"""Compare two runs folders run by run: python scripts/compare_runs.py FIRST SECOND (see --help)."""
import sys

from kanfair.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
