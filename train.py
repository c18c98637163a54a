"""Entry point: python train.py model=kan dataset=mnist (see README)."""
from kanfair.cli.train import main

if __name__ == "__main__":
    main()
