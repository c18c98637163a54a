"""Equal tuning per family: python scripts/tune.py -m model=mlp,kan budget.target=2000 ... (see README)."""
from kanfair.cli.tune import main

if __name__ == "__main__":
    main()
