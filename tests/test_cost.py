"""Cost model: the paper's published numbers, trainable counts, fvcore cross-check."""
from __future__ import annotations

import pytest

from kanfair.models import model_spec
from kanfair.cost import count, macs_by_fvcore
from kanfair.models.kan import basis_ops
from kanfair.models import build, count_params

# Rows of KANbeFair's published results table (dataset, in, out, model, hidden, shortcut or
# activation, G, K, params, FLOPs), copied as literals; scripts/check_published_costs.py
# recounts the whole table.
PUBLISHED = [
    ("Special_sphharm01", 2, 1, "KAN", "5_5", "silu", 5, 5, 531, 22580),
    ("Cifar10", 2352, 10, "KAN", "4", "zero", 5, 3, 94494, 2456480),
    ("MNIST", 784, 10, "KAN", "8", "zero", 5, 5, 76242, 3563472),
    ("MNIST", 784, 10, "KAN", "2", "identity", 20, 5, 44476, 2013584),
    ("SVHN", 2352, 10, "KAN", "8", "zero", 10, 5, 321250, 15041216),
    ("KMNIST", 784, 10, "KAN", "16", "silu", 3, 2, 101658, 1426848),
    ("Income", 14, 2, "KAN", "4", "silu", 3, 3, 582, 13146),
    ("EMNIST-Balanced", 784, 47, "KAN", "16", "silu", 20, 5, 372351, 16863328),
    ("EMNIST-Balanced", 784, 47, "KAN", "2", "identity", 10, 3, 26641, 676434),
    ("Special_sphharm01", 2, 1, "KAN", "5_5_5_5", "zero", 10, 3, 1371, 36450),
    ("Rice", 7, 2, "KAN", "4", "silu", 20, 5, 1014, 45703),
    ("Bean", 16, 7, "KAN", "8", "zero", 5, 5, 2223, 103224),
    ("KMNIST", 784, 10, "KAN", "8", "identity", 5, 3, 69890, 1664224),
    ("EMNIST-Balanced", 784, 47, "KAN", "2", "zero", 20, 2, 39937, 747900),
    ("Bank", 16, 2, "KAN", "16", "silu", 3, 3, 2610, 58912),
    ("Titanic", 9, 2, "KAN", "2", "identity", 10, 3, 356, 8954),
    ("SVHN", 2352, 10, "KAN", "2", "silu", 3, 3, 42528, 975466),
    ("Telescope", 10, 2, "KAN", "16", "zero", 5, 5, 2322, 107712),
    ("Cifar100", 2352, 100, "KAN", "8", "identity", 3, 2, 157036, 2196992),
    ("FMNIST", 784, 10, "KAN", "4", "zero", 3, 5, 31774, 1483192),
    ("Cifar100", 2352, 100, "KAN", "4", "silu", 10, 3, 157032, 4003636),
    ("FMNIST", 784, 10, "KAN", "8", "silu", 10, 2, 95298, 1604664),
    ("Card", 23, 2, "KAN", "8", "zero", 5, 3, 2010, 52000),
    ("Student", 36, 3, "KAN", "2", "identity", 5, 5, 1019, 43914),
    ("Telescope", 10, 2, "MLP", "256", "gelu", None, None, 3330, 9756),
    ("MNIST", 784, 10, "MLP", "64", "gelu", None, None, 50890, 102668),
    ("Titanic", 9, 2, "MLP", "32", "relu", None, None, 386, 738),
    ("Card", 23, 2, "MLP", "32", "gelu", None, None, 834, 2076),
    ("Special_ellipeinc", 2, 1, "MLP", "5_5_5_5", "relu", None, None, 111, 201),
    ("SVHN", 2352, 10, "MLP", "64", "gelu", None, None, 151242, 303372),
    ("Spam", 57, 2, "MLP", "32", "gelu", None, None, 1922, 4252),
    ("Special_ellipkinc", 2, 1, "MLP", "5", "gelu", None, None, 21, 114),
    ("Special_ellipkinc", 2, 1, "MLP", "100_100", "gelu", None, None, 10501, 23414),
]


def _spec(model, hidden, fn, grid, order):
    widths = [int(w) for w in hidden.split("_")]
    if model == "MLP":
        return {"name": "mlp", "hidden": widths, "activation": fn}
    return {"name": "kan", "hidden": widths, "grid_size": grid, "spline_order": order, "shortcut": fn}


@pytest.mark.parametrize("row", PUBLISHED, ids=lambda r: f"{r[0]}-{r[3]}-{r[4]}-{r[5]}")
def test_kanbefair_convention_reproduces_the_published_table(row):
    _, d_in, d_out, model, hidden, fn, grid, order, params, flops = row
    cost = count(_spec(model, hidden, fn, grid, order), d_in, d_out, "kanbefair")
    assert (cost.params, cost.flops) == (params, flops)


@pytest.mark.parametrize("spec, d_in, d_out, params, flops", [
    ({"name": "kan", "hidden": [2], "grid_size": 3, "spline_order": 2}, 784, 10, 12_716, 181_786),
    ({"name": "kan", "hidden": [16], "grid_size": 5, "spline_order": 3}, 784, 10, 139_770, 3_332_448),
    ({"name": "mlp", "hidden": [128], "activation": "relu"}, 784, 10, 101_770, 203_402),
    ({"name": "mlp", "hidden": [128], "activation": "gelu"}, 784, 10, 101_770, 205_196),
])
def test_the_reference_documents_checks(spec, d_in, d_out, params, flops):
    cost = count(spec, d_in, d_out)
    assert (cost.params, cost.flops) == (params, flops)


def test_bspline_mlp_kanbefair_formula_by_hand():
    # layer 784->32: 2·784·32 + 32·(9·3·(5+4.5) + 10 - 7.5 - 1); layer 32->10 likewise
    spline = 9 * 3 * (5 + 4.5) + 2 * 5 - 2.5 * 3 - 1
    spec = {"name": "bspline_mlp", "hidden": [32], "grid_size": 5, "spline_order": 3}
    cost = count(spec, 784, 10)
    assert cost.flops == 2 * 784 * 32 + 32 * spline + 2 * 32 * 10 + 10 * spline
    assert cost.params == 32 * 785 + 32 * 8 + 10 * 33 + 10 * 8
    first = count({**spec, "name": "bspline_first_mlp"}, 784, 10)
    assert first.flops == 2 * 784 * 32 + 784 * spline + 2 * 32 * 10 + 32 * spline


FAMILIES = [
    {"name": "mlp", "hidden": [7, 5], "activation": "gelu", "batch_norm": True},
    {"name": "mlp", "hidden": [3], "activation": "identity"},
    {"name": "kan", "hidden": [4, 3], "grid_size": 3, "spline_order": 2, "shortcut": "silu"},
    {"name": "kan", "hidden": [5], "grid_size": 7, "spline_order": 0, "shortcut": "zero"},
    {"name": "kan", "hidden": [], "grid_size": 10, "spline_order": 5, "shortcut": "identity"},
    {"name": "bspline_mlp", "hidden": [6, 4], "grid_size": 4, "spline_order": 3, "batch_norm": True},
    {"name": "bspline_first_mlp", "hidden": [6], "grid_size": 8, "spline_order": 1},
]


@pytest.mark.parametrize("spec", FAMILIES, ids=lambda s: f"{s['name']}-{s['hidden']}")
@pytest.mark.parametrize("convention", ["ops", "macs"])
def test_trainable_count_equals_the_built_model(spec, convention):
    assert count(spec, 9, 4, convention).params == count_params(build(model_spec(spec), 9, 4))


@pytest.mark.parametrize("spec", FAMILIES, ids=lambda s: f"{s['name']}-{s['hidden']}")
def test_macs_equal_fvcores_count_of_the_built_model(spec):
    model = build(model_spec(spec), 9, 4)
    assert macs_by_fvcore(model, 9) == count(spec, 9, 4, "macs").flops


def test_basis_ops_counts_the_arithmetic_of_the_de_boor_triangle():
    # locate 5 + (1 - u) 1 + normalise K+1; de Boor step k: the two end pieces 1 multiply
    # each, every inner piece 2 multiplies, 2 constant adds and 1 join: 2 + 5(k-1)
    assert [basis_ops(k) for k in range(4)] == [7, 6 + 2 + 2, 6 + 2 + 7 + 3, 6 + 2 + 7 + 12 + 4]


def test_ops_convention_counts_the_basis_once_per_input():
    spec = {"name": "kan", "hidden": [16], "grid_size": 5, "spline_order": 3}
    first_layer = count(spec, 784, 10, "ops").layers[0]
    assert first_layer.flops == 784 * basis_ops(3) + 2 * 784 * 16 * 8 + 16 + 5 * 784 + 2 * 784 * 16 + 16
    assert first_layer.flops < count(spec, 784, 10, "kanbefair").layers[0].flops


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="unknown FLOP convention"):
        count({"name": "mlp"}, 3, 2, "fma")


def test_macs_by_hand():
    """Multiply-accumulates written out: a KAN edge's G+K coefficients (+1 for the shortcut
    weight); a B-spline MLP's Linear layers plus G+K per spline channel."""
    kan = {"name": "kan", "hidden": [5], "grid_size": 4, "spline_order": 3, "shortcut": "silu"}
    assert count(kan, 7, 3, "macs").flops == 7 * 5 * (4 + 3 + 1) + 5 * 3 * (4 + 3 + 1)
    assert count({**kan, "shortcut": "zero"}, 7, 3, "macs").flops == 7 * 5 * 7 + 5 * 3 * 7
    spline_mlp = {"name": "bspline_mlp", "hidden": [5], "grid_size": 4, "spline_order": 3}
    assert count(spline_mlp, 7, 3, "macs").flops == 7 * 5 + 5 * 7 + 5 * 3
    assert count({**spline_mlp, "name": "bspline_first_mlp"}, 7, 3, "macs").flops == 7 * 7 + 7 * 5 + 5 * 7 + 5 * 3
    assert macs_by_fvcore(build(model_spec(kan), 7, 3), 7) == 7 * 5 * 8 + 5 * 3 * 8
