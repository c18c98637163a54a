"""scripts/check_published_costs.py on a small table in the paper's format."""
from __future__ import annotations

import csv
import subprocess
import sys

from conftest import REPO

COLUMNS = ["dataset", "model", "hidden", "activation", "batch_norm", "grid_size", "spline_order",
           "shortcut", "grid_range", "num_parameters", "flops"]
ROWS = [  # the reference's checks (shared/reference/kanbefair.md), and one wrong row
    ["MNIST", "KAN", "2", "", "", "3", "2", "silu", "-1_1", "12716", "181786"],
    ["MNIST", "MLP", "128", "relu", "False", "", "", "", "", "101770", "203402"],
    ["MNIST", "MLP", "128", "gelu", "False", "", "", "", "", "101770", "205196"],
    ["MNIST", "KAN", "16", "", "", "5", "3", "silu", "-1_1", "139770", "3332448"],
    ["MNIST", "MLP", "64", "relu", "False", "", "", "", "", "50000", "101770"],
]


def test_the_published_cost_check_counts_rows_and_names_the_mismatch(tmp_path):
    table = tmp_path / "results.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(ROWS)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "check_published_costs.py"), str(table)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "4 of 5 published rows reproduced exactly" in done.stdout
    # 784·64 + 64 + 64·10 + 10 = 50,890 parameters; 2·784·64 + 64 + 2·64·10 + 10 = 101,706 FLOPs
    assert "mismatch: MNIST MLP 64: kanfair 50890/101706, published 50000/101770" in done.stdout
