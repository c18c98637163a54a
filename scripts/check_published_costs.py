"""Recount every row of KANbeFair's published results table with kanfair's `kanbefair` convention.

Usage: python scripts/check_published_costs.py [PATH/TO/kanbefair_results.csv]   (default: the shipped copy)
Input/output sizes of the vision and symbolic sets are known; those of the tabular sets
are inferred from their MLP rows (the unique sizes that reproduce every MLP row's
parameter count). Prints the rows that do not reproduce and a count; exits 1 if any.
"""
from __future__ import annotations

import argparse
import collections
import csv
import itertools
import lzma
import sys

from kanfair.cost import count
from kanfair.report.tables import published_path

KNOWN_SHAPES = {
    "MNIST": (784, 10), "FMNIST": (784, 10), "KMNIST": (784, 10), "EMNIST-Letters": (784, 37),
    "EMNIST-Balanced": (784, 47), "Cifar10": (2352, 10), "Cifar100": (2352, 100),
    "SVHN": (2352, 10),
}


def spec_of(row: dict) -> dict:
    hidden = [int(width) for width in row["hidden"].split("_")]
    if row["model"] == "MLP":
        return {"name": "mlp", "hidden": hidden, "activation": row["activation"],
                "batch_norm": row["batch_norm"] == "True"}
    low, high = (float(v) for v in row["grid_range"].split("_"))
    return {"name": "kan", "hidden": hidden, "grid_size": int(row["grid_size"]),
            "spline_order": int(row["spline_order"]), "shortcut": row["shortcut"],
            "grid_range": [low, high]}


def infer_shape(rows: list[dict]) -> tuple[int, int]:
    mlps = [r for r in rows if r["model"] == "MLP"][:4]
    for d_in, d_out in itertools.product(range(1, 4000), range(1, 200)):
        if all(count(spec_of(r), d_in, d_out).params == int(r["num_parameters"]) for r in mlps):
            return d_in, d_out
    raise ValueError(f"no input/output size reproduces the MLP rows of {rows[0]['dataset']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="kanbefair",
                        help="KANbeFair's results table: 'kanbefair' (the copy kanfair ships, the default) or a CSV")
    path = published_path(parser.parse_args().csv)
    with (lzma.open(path, "rt") if path.suffix == ".xz" else open(path)) as handle:
        rows = list(csv.DictReader(handle))
    by_dataset = collections.defaultdict(list)
    for row in rows:
        by_dataset[row["dataset"]].append(row)
    shapes = {name: KNOWN_SHAPES.get(name) or ((2, 1) if name.startswith("Special") else
                                                infer_shape(group))
              for name, group in by_dataset.items()}
    mismatches = 0
    for row in rows:
        cost = count(spec_of(row), *shapes[row["dataset"]], "kanbefair")
        if (cost.params, cost.flops) != (int(row["num_parameters"]), float(row["flops"])):
            mismatches += 1
            print(f"mismatch: {row['dataset']} {row['model']} {row['hidden']}: kanfair "
                  f"{cost.params}/{cost.flops:.0f}, published {row['num_parameters']}/{row['flops']}")
    print(f"{len(rows) - mismatches} of {len(rows)} published rows reproduced exactly "
          f"(params and FLOPs, kanbefair convention)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
