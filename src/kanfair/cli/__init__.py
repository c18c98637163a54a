"""Command-line entry points (Hydra apps and small argparse tools)."""
