"""Fetch data sets for offline runs: python scripts/prepare_data.py [--data-dir DIR] prepare NAME..."""
import sys

from kanfair.cli.data import main

if __name__ == "__main__":
    sys.exit(main())
