"""model=pykan (issue 43): pykan's own MultKAN equals kanfair's KAN with the same
coefficients, before and after one grid extension, and is sized by the KAN formulas."""
from __future__ import annotations

import pytest
import torch

from kanfair import budget as budgets
from kanfair.config import BudgetConfig
from kanfair.cost import count
from kanfair.models import FAMILIES, build, count_params, model_spec

WIDTHS = [3, 4, 2]
SPEC = {"name": "pykan", "hidden": WIDTHS[1:-1], "grid_size": 5, "spline_order": 3}


def twins(size: float = 1.0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """kanfair's KAN with random coefficients and scales (of order `size`), and pykan's KAN
    holding the same numbers: its coef (in, out, G+K) is kanfair's (out, in, G+K), its scales
    transposed, its extended grid kanfair's knots per input; kanfair's output bias 0 (pykan's
    is fixed at 0)."""
    torch.manual_seed(0)
    ours = build({"name": "kan", "hidden": WIDTHS[1:-1], "grid_size": 5, "spline_order": 3}, WIDTHS[0],
                 WIDTHS[-1]).double()
    theirs = build(model_spec(SPEC), WIDTHS[0], WIDTHS[-1]).double()
    with torch.no_grad():
        for layer, act in zip(ours.layers, theirs.kan.act_fun):
            layer.coef.normal_(0, size)
            layer.spline_scale.uniform_(0.5, 1.5)
            layer.base_scale.uniform_(-size, size)
            layer.bias.zero_()
            act.coef.copy_(layer.coef.permute(1, 0, 2))
            act.scale_sp.copy_(layer.spline_scale.t())
            act.scale_base.copy_(layer.base_scale.t())
            act.grid.copy_(layer.knots.expand(layer.in_features, -1))
    return ours, theirs


def points() -> torch.Tensor:
    inside = torch.rand(200, WIDTHS[0], dtype=torch.float64) * 2 - 1
    knots = torch.linspace(-1, 1, 6, dtype=torch.float64)[:, None].expand(-1, WIDTHS[0])  # G=5's knots
    return torch.cat([inside, knots])


def test_pykans_forward_equals_kanfairs_with_the_same_coefficients():
    ours, theirs = twins()
    x = points()
    with torch.no_grad():
        expected, got = ours(x), theirs(x)
    assert expected.abs().max() > 0.1  # a test on outputs near 0 tests nothing
    assert torch.allclose(got, expected, rtol=0, atol=1e-10 * float(expected.abs().max()))


def test_after_one_refine_pykan_still_equals_kanfair():
    """Both extend G=5 -> 10 by least squares on the same inputs, on the same range [-1, 1].
    Where every layer's inputs lie in that range, the finer grid holds the coarse splines
    exactly, so the two fits agree on those inputs (outside it, a coarse spline's tail on
    its extended knots has no exact fine twin, and two least-squares solvers may differ)."""
    ours, theirs = twins(size=0.25)
    x = torch.cat([points(), torch.rand(400, WIDTHS[0], dtype=torch.float64) * 2 - 1])
    with torch.no_grad():
        hidden = ours.layers[0](x)
    assert hidden.abs().max() < 1 and hidden.std() > 0.05  # inside the grid, and spread over it
    FAMILIES["kan"].refine(ours, 10, x)
    FAMILIES["pykan"].refine(theirs, 10, x)
    assert theirs.grid_size == 10 and ours.layers[0].grid_size == 10
    with torch.no_grad():
        expected, got = ours(x), theirs(x)
    assert expected.abs().max() > 0.1
    assert torch.allclose(got, expected, rtol=0, atol=1e-10 * float(expected.abs().max()))


def test_the_trainable_count_is_the_kan_formula_without_the_output_bias():
    for grid in (3, 5, 20):
        spec = model_spec({**SPEC, "grid_size": grid})
        model = build(spec, WIDTHS[0], WIDTHS[-1])
        edges = sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
        assert count_params(model) == count(spec, WIDTHS[0], WIDTHS[-1], "ops").params == edges * (grid + 3 + 2)


@pytest.mark.parametrize("target", [20_000, 100_000])
def test_pykan_sized_to_a_budget_matches_within_tolerance(target):
    """In trainable parameters (convention ops), what the built model counts."""
    spec, matched = budgets.plan(BudgetConfig(kind="params", target=target, convention="ops"), model_spec(SPEC), 64, 10)
    built = count_params(build(spec, 64, 10))
    assert abs(built - target) <= 0.02 * target and built == matched.achieved
