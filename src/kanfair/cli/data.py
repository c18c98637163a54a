"""`kanfair-data list|prepare` (or `python -m kanfair.cli.data`): what data is here, and fetching it for offline use.

`prepare` downloads (or imports from a system package) and decodes each named task into
--data-dir, the same folder `paths.data_dir` names for runs, so that later runs, on this
machine or on an offline node sharing the folder, need no network.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from kanfair.cli.errors import OneLineArgumentParser, one_line_errors
from kanfair.config import DatasetConfig
from kanfair.data import load_task, task_domains
from kanfair.data import rpackages, tabular, vision
from kanfair.data.sources import DataUnavailable, candidate_roots

EMBEDDED = ("symbolic", "pde")  # generated here, nothing to fetch
USER_FILES = ("csv", "text_csv")  # a user's own table: nothing to fetch


def availability(name: str, domain: str, data_dir: str) -> str:
    """A cheap look at whether a task can run here (no data is decoded)."""
    if domain in EMBEDDED or name in tabular.BUNDLED or name in rpackages.SKLEARN_REGRESSION:
        return "embedded"
    if name in USER_FILES:
        return "your table (dataset.path=...)"
    if name == "rdata":
        return "an R package's data frame (dataset.package=... dataset.object=...)"
    if name in rpackages.PRESETS:
        package = rpackages.PRESETS[name].package
        found = [c for c in rpackages.package_candidates(package, data_dir, None) if (c / "data").is_dir()]
        return f"on disk ({found[0]})" if found else f"missing: run `prepare` (R package {package})"
    cfg = DatasetConfig(name=name)
    if name in vision.VISION and (Path(data_dir) / name / vision.CACHE_NAME).exists():
        return f"ready ({Path(data_dir) / name})"
    wanted = {"titanic": ("train.csv",)}.get(name, (tabular.FEATURES_FILE,) if name in tabular.UCI_IDS else ())
    for root in candidate_roots(cfg, data_dir):
        if root.is_dir() and any(root.iterdir()) and all((root / f).exists() for f in wanted):
            return f"on disk ({root})"
    return "missing: run `prepare`" if name != "titanic" else "missing: put Kaggle's train.csv in data_dir/titanic"


def list_tasks(data_dir: str) -> None:
    rows = sorted(task_domains().items(), key=lambda item: (item[1], item[0]))
    width = max(len(name) for name, _ in rows)
    for name, domain in rows:
        print(f"{name:{width}s}  {domain:9s}  {availability(name, domain, data_dir)}")


def prepare(names: list[str], data_dir: str, package: Optional[str] = None) -> int:
    """Fetch each task into data_dir (dataset=rdata: the R package `package`); 2 if any could
    not be (each said in one line)."""
    failures = 0
    domains = task_domains()
    for name in names:
        if name == "rdata" and package:
            try:
                folder = rpackages.extract_debian_package(package, data_dir)
                print(f"rdata: extracted {rpackages.debian_package(package)} to {folder}")
            except (DataUnavailable, OSError) as error:
                print(f"kanfair: error: {error}", file=sys.stderr)
                failures += 1
            continue
        if name == "rdata":
            print("kanfair: error: rdata reads an R package's data frame: name the package with --package "
                  "(e.g. prepare rdata --package mlbench)", file=sys.stderr)
            failures += 1
            continue
        if name not in domains:
            print(f"kanfair: error: unknown task '{name}'; see `python -m kanfair.cli.data list`",
                  file=sys.stderr)
            failures += 1
            continue
        if name in USER_FILES:
            print(f"kanfair: error: {name} is your own table, there is nothing to prepare: give it to "
                  f"a run as dataset={name} dataset.path=<file>", file=sys.stderr)
            failures += 1
            continue
        if availability(name, domains[name], data_dir) == "embedded":
            print(f"{name}: embedded, nothing to prepare")
            continue
        try:
            if name in rpackages.PRESETS and availability(name, domains[name], data_dir).startswith("missing"):
                folder = rpackages.extract_debian_package(rpackages.PRESETS[name].package, data_dir)
                print(f"{name}: extracted {rpackages.debian_package(rpackages.PRESETS[name].package)} to {folder}")
            task = load_task(DatasetConfig(name=name), data_dir)
            print(f"{name}: ready ({len(task.x_train)} train, "
                  f"{len(task.x_test)} test, {task.in_dim} inputs)")
        except (DataUnavailable, ValueError, OSError) as error:
            print(f"kanfair: error: {error}", file=sys.stderr)
            failures += 1
    return 2 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="kanfair-data", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="where data sets live (paths.data_dir)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every task with its domain and whether it is available here")
    fetch = commands.add_parser("prepare", help="download/convert tasks into --data-dir")
    fetch.add_argument("names", nargs="+")
    fetch.add_argument("--package", help="with rdata: the R package to extract from Debian's r-cran-<package>")
    args = parser.parse_args(argv)
    with one_line_errors():
        if args.command == "list":
            list_tasks(args.data_dir)
            return 0
        return prepare(args.names, args.data_dir, args.package)


if __name__ == "__main__":
    sys.exit(main())
