"""Re-run a verdict's runs under another CPU kernel set: python scripts/robust.py --runs DIR --out DIR (see README)."""
import sys

from kanfair.cli.robust import main

if __name__ == "__main__":
    sys.exit(main())
