"""The KAN paper's sparsification and pruning (kanfair.models.pruning): the penalty and the
edge sizes against computations written here from the paper's and pykan v1's definitions,
pruning that keeps the function of what it keeps, a planted irrelevant input found, and
the pruned record's size against a recount."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from conftest import run_train
from kanfair.config import TrainerConfig
from kanfair.cost import count
from kanfair.data.task import Task
from kanfair.models import build, count_params, family
from kanfair.models.kan import KAN, KANLinear
from kanfair.models.pruning import prune, sparsity_penalty
from kanfair.trainer import GridExtension, fit


def test_the_sparsity_penalty_is_the_papers_l1_plus_entropy():
    """pykan v1's reg: per layer lamb_l1·sum(v) - lamb_entropy·sum(p·log2(p + 1e-4)), p = v/sum(v)."""
    layers = [np.array([[0.5, 0.01], [0.2, 0.0], [0.3, 0.7]]), np.array([[0.05, 1.5, 0.25]])]
    expected = 0.0
    for v in layers:
        p = v.ravel() / v.sum()
        expected += 0.7 * v.sum() + 3.0 * -sum(q * math.log2(q + 1e-4) for q in p)
    got = sparsity_penalty([torch.tensor(v) for v in layers], lamb_l1=0.7, lamb_entropy=3.0)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def _edge_by_scipy(layer: KANLinear, x: np.ndarray, o: int, i: int) -> np.ndarray:
    """phi_oi(x_i) = s_b·silu(x_i) + s_s·sum_j c_j B_j(x_i), each B_j scipy's basis element
    on its own K+2 knots of the layer's table (zero outside them)."""
    knots = layer.knots.double().numpy()
    knots = knots[i] if knots.ndim == 2 else knots
    k, coef = layer.spline_order, layer.coef[o, i].double().detach().numpy()
    spline = sum(c * np.nan_to_num(BSpline.basis_element(knots[j:j + k + 2], extrapolate=False)(x))
                 for j, c in enumerate(coef))
    silu = x / (1 + np.exp(-x))
    return float(layer.base_scale[o, i].detach()) * silu + float(layer.spline_scale[o, i].detach()) * spline


@pytest.mark.parametrize("moved_grid", [False, True])
def test_edge_sizes_are_mean_absolute_activation_over_the_grid_width(moved_grid):
    torch.manual_seed(0)
    layer = KANLinear(3, 2, grid_size=5).double()
    with torch.no_grad():
        layer.coef.normal_()
        layer.spline_scale.uniform_(0.5, 1.5)
    x = torch.rand(200, 3, dtype=torch.float64) * 1.6 - 0.8
    if moved_grid:  # per-input grids of different widths
        layer.update_grid(x * torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64))
    xs = x.numpy()
    expected = np.zeros((2, 3))
    for o in range(2):
        for i in range(3):
            knots = layer.knots.double().numpy()
            knots = knots[i] if knots.ndim == 2 else knots
            width = knots[layer.grid_size + layer.spline_order] - knots[layer.spline_order]
            expected[o, i] = np.abs(_edge_by_scipy(layer, xs[:, i], o, i)).mean() / (width + 1e-4)
    np.testing.assert_allclose(layer.edge_scales(x).detach().numpy(), expected, rtol=1e-10)


def test_pruning_keeps_the_function_of_the_nodes_it_keeps():
    """A hidden node whose outgoing edges are exactly zero is pruned, and the pruned KAN's
    outputs equal the full one's (each kept parameter sliced to its own edge)."""
    torch.manual_seed(1)
    model = KAN([3, 4, 2], grid_size=4).double()
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.normal_()
        out = model.layers[1]
        out.coef[:, 2] = 0.0
        out.base_scale[:, 2] = 0.0
    x = torch.rand(100, 3, dtype=torch.float64) * 2 - 1
    before = model(x)
    with torch.no_grad():  # an input no edge reads: kept, as the paper keeps every input
        model.layers[0].coef[:, 1] = 0.0
        model.layers[0].base_scale[:, 1] = 0.0
    before = model(x)
    said = prune(model, x, threshold=1e-2)
    assert said["widths_after"] == [3, 3, 2] and said["input_columns"] == [0, 1, 2]
    torch.testing.assert_close(model(x), before, rtol=1e-12, atol=1e-12)
    assert said["params_after"] == count_params(model) == count_params(KAN([3, 3, 2], grid_size=4))
    said = prune(model, x, threshold=1e-2, inputs=True)  # ... and dropped where asked
    assert said["widths_after"] == [2, 3, 2] and said["input_columns"] == [0, 2]
    torch.testing.assert_close(model(x), before, rtol=1e-12, atol=1e-12)


def _two_of_four(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(rows, 4, generator=gen, dtype=torch.float64) * 2 - 1
    return x, torch.sin(math.pi * x[:, :1]) + x[:, 1:2] ** 2  # inputs 2 and 3 are never read


@pytest.mark.parametrize("lamb, kept", [(1e-2, [0, 1]), (0.0, [0, 1, 2, 3])])
def test_a_sparsified_kan_is_pruned_to_the_inputs_its_function_reads(lamb, kept):
    """With the paper's sparsity (lamb 1e-2) and trainer.prune_inputs the planted irrelevant
    inputs are pruned; without the penalty (the control) the same pruning keeps all four, so
    the finding is the penalty's."""
    (x_tr, y_tr), (x_te, y_te) = _two_of_four(600, 0), _two_of_four(300, 1)
    task = Task("two_of_four", "regression", x_tr.float(), y_tr.float(), x_te.float(), y_te.float(), 1)
    torch.manual_seed(0)
    model = build({"name": "kan", "hidden": [4], "grid_size": 3}, 4, 1)
    cfg = TrainerConfig(optimizer="pykan_lbfgs", lr=1.0, batch_size=100000, dtype="float64", grid_schedule=[3, 5],
                        steps_per_grid=20, lamb=lamb, prune_threshold=1e-2, prune_inputs=True, eval_every=5)
    result = fit(model, task, cfg, 0, extension=GridExtension("grid_size", family("kan").refine))
    pruned = result.extra["pruning"]
    assert result.status == "ok" and pruned["input_columns"] == kept
    assert result.extra["grid_extension"]["selected_stage"] == 1  # only the retrained KAN is selected
    if lamb:
        assert pruned["widths_after"] == [2, 1, 1] and result.selected["test_rmse"] < 0.05
        assert result.extra["sparsity"]["stages"] == "the first"


def test_the_pruned_record_states_the_pruned_model_and_its_recounted_size(tmp_path):
    x, y = _two_of_four(400, 2)
    table = tmp_path / "table.csv"
    table.write_text("a,b,c,d,y\n" + "\n".join(",".join(f"{v:.12g}" for v in (*row, t)) for row, t
                                                in zip(x.tolist(), y[:, 0].tolist())))
    done = run_train("dataset=csv", f"dataset.path={table}", "dataset.target=y", "dataset.task=regression",
                     "model=kan", "model.hidden=[4]", "trainer.optimizer=pykan_lbfgs", "trainer.lr=1",
                     "trainer.batch_size=100000", "trainer.dtype=float64", "trainer.grid_schedule=[3,5]",
                     "trainer.steps_per_grid=20", "trainer.lamb=1e-2", "trainer.prune_threshold=1e-2",
                     "trainer.prune_inputs=true",
                     f"paths.results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    pruned = record["extra"]["pruning"]
    widths = pruned["widths_after"]
    grid = record["model_spec"]["grid_size"]
    assert record["widths"] == widths and record["hidden"] == widths[1:-1] and len(widths) == 3
    assert widths[0] < 4 and pruned["params_before"] > pruned["params_after"]
    assert record["params"] == count_params(KAN(widths, grid_size=grid))  # a recount of the pruned model
    assert record["params"] == count(record["model_spec"], widths[0], 1, "ops").params  # and the formula
    assert record["extra"]["grid_extension"]["selected_stage"] >= 1


@pytest.mark.parametrize("overrides, named", [
    (["model=mlp", "trainer.lamb=1e-2"], "trainer.lamb"),
    (["model=kan", "trainer.prune_threshold=1e-2"], "trainer.prune_threshold"),
    (["model=kan", "trainer.lamb_entropy=10"], "trainer.lamb_entropy"),
    (["model=kan", "trainer.lamb=-1"], "trainer.lamb"),
    (["model=kan", "trainer.prune_inputs=true"], "trainer.prune_inputs"),
])
def test_a_sparsity_or_pruning_key_that_cannot_act_is_one_line(tmp_path, overrides, named):
    done = run_train("dataset=iris", "trainer.epochs=1", *overrides, f"paths.results_dir={tmp_path}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and named in lines[0], done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
