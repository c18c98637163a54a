"""A sweep's run count, done count and estimated wall time, no training:
python scripts/plan.py experiment=kanbefair_vision dataset=fmnist hydra/launcher=joblib (see README)."""
import sys

from kanfair.cli.plan import main

if __name__ == "__main__":
    sys.exit(main())
