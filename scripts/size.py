"""Matched model sizes for a budget, no training: python scripts/size.py -m model=kan,mlp ... (see README)."""
from kanfair.cli.size import main

if __name__ == "__main__":
    main()
