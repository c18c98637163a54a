"""Write the experiment of MLPs sized to the pruned KANs: python scripts/kan_paper_pruned_mlps.py (see --help)."""
import sys

from kanfair.cli.pruned_mlps import main

if __name__ == "__main__":
    sys.exit(main())
