"""scripts/size.py: the table of matched sizes, and one-line refusals."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO


def run_size(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "size.py"), *overrides],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("families", [("kan", "mlp", "bspline_mlp", "bspline_first_mlp"),
                                      ("fourier_kan", "rbf_kan", "cheby_kan", "rational_kan")])
def test_four_families_match_1e6_flops_at_fmnist_shapes_within_2_percent(families):
    done = run_size("-m", f"model={','.join(families)}", "in_dim=784", "out_dim=10",
                    "budget=flops", "budget.target=1e6", "budget.vary=width_grid")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in families}
    assert len(rows) == 4
    for line in rows.values():
        deviation = float(re.search(r"([+-]\d+\.\d+)%\s*$", line).group(1))
        assert abs(deviation) <= 2.0 and "784->10" in line


def test_unreachable_budget_exits_nonzero_with_the_closest_size_in_one_line():
    done = run_size("model=kan", "in_dim=784", "out_dim=10", "budget=params", "budget.target=10")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "closest: hidden=[1]" in lines[0]


def test_shapes_default_to_the_dataset():
    done = run_size("model=mlp", "dataset=wine", "budget=params", "budget.target=700")
    assert done.returncode == 0, done.stderr
    assert "13->3" in done.stdout
