"""The KAN paper's tasks (issue 28, item 2): each toy function and Feynman equation against
values worked out by hand, and every task generated inside its stated domain."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kanfair.cli import data as data_cli
from kanfair.config import DatasetConfig
from kanfair.data import kan_paper, load_task

PI, E = math.pi, math.e
HAND = {  # name: [(inputs, value worked out by hand), ...]
    "kan_toy_bessel": [((0.0,), 1.0), ((2.404825557695773 / 20,), 0.0)],  # J0's first zero
    "kan_toy_exp_sin": [((0.5, 0.0), E), ((0.0, 1.0), E)],
    "kan_toy_xy": [((0.5, -0.4), -0.2)],
    "kan_toy_100d": [((1.0,) * 100, E), ((0.0,) * 100, 1.0), ((1.0,) * 50 + (0.0,) * 50, math.sqrt(E))],
    "kan_toy_4d": [((0.5, 0.5, 0.0, 0.0), math.sqrt(E))],
    "feynman_i_6_2": [((0.0, 1.0), 1 / math.sqrt(2 * PI)), ((1.0, 1.0), math.exp(-0.5) / math.sqrt(2 * PI))],
    "feynman_i_6_2b": [((1.0, 1.0, 0.5), 1 / math.sqrt(PI / 2)), ((0.5, -0.5, 1.0), math.exp(-0.5) / math.sqrt(2 * PI))],
    "feynman_i_9_18": [((1.0, 0.0, 0.0, 0.0, 0.0, 0.0), 1.0), ((0.5, -1.0, 1.0, 0.0, 0.0, 0.0), 0.1)],
    "feynman_i_12_11": [((0.5, PI / 6), 1.25)],
    "feynman_i_13_12": [((0.6, 0.5), 0.6)],
    "feynman_i_15_3x": [((0.5, 0.6), 0.625)],
    "feynman_i_16_6": [((0.5, 0.5), 0.8)],
    "feynman_i_18_4": [((1.0, 0.5), 0.75)],
    "feynman_i_26_2": [((1.0, PI / 2), PI / 2), ((0.5, PI / 2), PI / 6)],
    "feynman_i_27_6": [((1.0, 1.0), 0.5)],
    "feynman_i_29_16": [((1.0, 0.3, 0.3), 0.0), ((1.0, PI, 0.0), 2.0)],
    "feynman_i_30_3": [((0.5, PI), 0.5), ((1.0, 2.0), 1.0)],
    "feynman_i_30_5": [((1.0, 2.0), PI / 6)],
    "feynman_i_37_4": [((0.25, 0.0), 2.25), ((1.0, PI), 0.0)],
    "feynman_i_40_1": [((2.0, 0.0), 2.0), ((1.0, 1.0), 1 / E)],
    "feynman_i_44_4": [((2.0, E), 2.0)],
    "feynman_i_50_26": [((0.0, 0.5), 1.5), ((PI / 2, 1.0), 0.0)],
    "feynman_ii_2_42": [((3.0, 0.5), 1.0)],
    "feynman_ii_6_15a": [((3.0, 4.0, 4 * PI), 5.0)],
    "feynman_ii_11_7": [((2.0, 0.5, 0.0), 3.0)],
    "feynman_ii_11_27": [((1.0, 1.5), 3.0)],
    "feynman_ii_35_18": [((2.0, 0.0), 1.0)],
    "feynman_ii_36_38": [((1.0, 2.0, 3.0), 7.0)],
    "feynman_ii_38_3": [((1.0, 0.5), 2.0)],
    "feynman_iii_9_52": [((2.0, 0.4, 0.4), 2.0), ((1.0, PI, 0.0), 4 / PI ** 2)],
    "feynman_iii_10_19": [((2.0, 2.0), 3.0)],
    "feynman_iii_17_37": [((2.0, 0.5, PI), 1.0)],
}


def test_there_are_the_five_toy_functions_and_the_27_feynman_equations():
    assert sorted(HAND) == sorted(kan_paper.FORMULAS)
    assert len(kan_paper.TOY) == 5 and len(kan_paper.FEYNMAN) == 27


@pytest.mark.parametrize("name", sorted(HAND))
def test_each_formula_gives_the_values_worked_out_by_hand(name):
    formula = kan_paper.FORMULAS[name]
    for inputs, value in HAND[name]:
        assert len(inputs) == len(formula.domain), name
        got = float(formula.fn(*(np.array([v]) for v in inputs))[0])
        assert got == pytest.approx(value, rel=1e-12, abs=1e-12), (name, inputs)


@pytest.mark.parametrize("name", sorted(HAND))
def test_each_task_is_1000_rows_each_side_drawn_inside_its_domain(name):
    task = load_task(DatasetConfig(name=name))
    low, high = np.array(kan_paper.FORMULAS[name].domain).T
    assert task.kind == "regression" and len(task.x_train) == len(task.x_test) == 1000
    for x in (task.x_train.numpy(), task.x_test.numpy()):
        assert x.shape[1] == len(low) and (x >= low - 1e-6).all() and (x <= high + 1e-6).all()
    assert np.isfinite(task.y_train.numpy()).all() and np.isfinite(task.y_test.numpy()).all()
    assert float(task.y_train.std()) > 1e-3, "a constant target tests nothing"


def test_kanfair_data_list_shows_them_as_embedded(tmp_path, capsys):
    status = data_cli.main(["--data-dir", str(tmp_path), "list"])
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = {row[0]: row for row in listed if row and row[0] in HAND}
    assert status == 0 and len(rows) == 32 and all(row[-1] == "embedded" for row in rows.values())
