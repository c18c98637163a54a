"""Command-line entry points (kanfair-train, kanfair-size, kanfair-report, kanfair-data).

CONFIG_DIR is the config tree that ships inside the package: in a checkout,
src/kanfair/configs is a link to the top-level configs/ (the one copy people read and
edit); a built wheel holds the files themselves.
"""
from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
