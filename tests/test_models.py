"""Models against direct per-edge evaluation, exact parameter counts, init, grid update."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch._inductor.utils import run_and_get_code

from kanfair.models import build, count_params
from kanfair.models.bspline_mlp import BSplineActivation
from kanfair.models.kan import KAN, KANLinear
from test_bspline import cox_de_boor, knots_by_definition

BASE = {"silu": F.silu, "identity": lambda t: t}


def kan_spec(hidden, grid_size=5, order=3, shortcut="silu", **extra):
    return {"name": "kan", "hidden": hidden, "grid_size": grid_size, "spline_order": order,
            "grid_range": [-1.0, 1.0], "shortcut": shortcut, "init": "kanbefair", **extra}


def per_edge(layer: KANLinear, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """sum_i s_b·b(x_i) + s_s·sum_j c_ij·B_j(x_i) + bias, one edge at a time."""
    knots = knots_by_definition(layer.grid_size, layer.spline_order, low, high, x.dtype)
    knots = knots.to(x.device)
    out = torch.zeros(x.shape[0], layer.out_features, dtype=x.dtype, device=x.device)
    for o, i in itertools.product(range(layer.out_features), range(layer.in_features)):
        basis = cox_de_boor(x[:, i], knots, layer.spline_order)
        phi = layer.spline_scale[o, i] * (basis @ layer.coef[o, i])
        if layer.shortcut != "zero":
            phi = phi + layer.base_scale[o, i] * BASE[layer.shortcut](x[:, i])
        out[:, o] += phi
    return out + layer.bias


@pytest.mark.parametrize("shortcut, init", [("silu", "kanbefair"), ("identity", "efficient"),
                                            ("zero", "kanbefair")])
def test_kan_layer_equals_direct_per_edge_evaluation(shortcut, init, device, engine):
    torch.manual_seed(0)
    layer = KANLinear(4, 3, grid_size=6, spline_order=3, grid_range=(-2.0, 2.0),
                      shortcut=shortcut, init=init).to(device)
    with torch.no_grad():  # make every parameter matter
        layer.coef.normal_()
        layer.spline_scale.uniform_(0.5, 1.5)
        layer.bias.normal_()
    x = torch.rand(64, 4, device=device) * 6 - 3  # inside, on both extensions and outside the grid
    assert torch.allclose(layer(x), per_edge(layer, x, -2.0, 2.0), atol=1e-5)


def test_kan_layer_gradients_pass_gradcheck_for_input_and_every_weight(device, engine):
    torch.manual_seed(0)
    layer = KANLinear(3, 2, grid_size=4, spline_order=3).double().to(device)
    x = (torch.rand(5, 3, dtype=torch.float64, device=device) * 2.4 - 1.2).requires_grad_()
    params = tuple(layer.parameters())
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["coef", "spline_scale", "base_scale", "bias"]

    def forward(inp, *weights):
        return torch.func.functional_call(layer, dict(zip(names, weights)), (inp,))
    assert torch.autograd.gradcheck(forward, (x, *params))


@pytest.mark.parametrize("shortcut, expected", [("silu", 127_066), ("identity", 127_066),
                                                ("zero", 114_362)])
def test_kan_parameter_count_of_the_issue(shortcut, expected):
    assert count_params(build(kan_spec([16], shortcut=shortcut), 784, 10)) == expected


@pytest.mark.parametrize("widths, grid_size, order, shortcut", [
    ([5, 3, 2], 3, 2, "silu"), ([7, 4, 4, 1], 10, 3, "zero"), ([2, 5, 1], 20, 5, "identity"),
    ([9, 1], 1, 0, "silu")])
def test_kan_parameter_count_is_the_trainable_values_used(widths, grid_size, order, shortcut):
    model = build(kan_spec(widths[1:-1], grid_size, order, shortcut), widths[0], widths[-1])
    per_edge_count = grid_size + order + 1 + (shortcut != "zero")
    expected = sum(a * b * per_edge_count + b for a, b in zip(widths[:-1], widths[1:]))
    assert count_params(model) == expected


@pytest.mark.parametrize("name", ["bspline_mlp", "bspline_first_mlp"])
@pytest.mark.parametrize("widths, grid_size, order", [([784, 32, 10], 5, 3), ([6, 8, 8, 2], 3, 2)])
def test_bspline_mlp_parameter_count(name, widths, grid_size, order):
    spec = {"name": name, "hidden": widths[1:-1], "grid_size": grid_size,
            "spline_order": order, "grid_range": [-1, 1], "batch_norm": False}
    linear = sum(b * (a + 1) for a, b in zip(widths[:-1], widths[1:]))
    activated = sum(widths[1:-1]) if name == "bspline_mlp" else sum(widths[:-1])
    assert count_params(build(spec, widths[0], widths[-1])) == linear + activated * (grid_size + order)


def test_mlp_structure_and_count():
    spec = {"name": "mlp", "hidden": [128], "activation": "gelu", "batch_norm": True}
    model = build(spec, 784, 10)
    assert [type(m).__name__ for m in model] == ["Linear", "BatchNorm1d", "GELU", "Linear"]
    assert count_params(model) == 784 * 128 + 128 + 2 * 128 + 128 * 10 + 10


def test_bspline_activation_equals_per_channel_evaluation(engine):
    torch.manual_seed(0)
    act = BSplineActivation(3, grid_size=4, spline_order=2, grid_range=(-1.0, 1.0))
    with torch.no_grad():
        act.coef.normal_()
    x = torch.rand(5, 20, 3) * 3 - 1.5
    knots = knots_by_definition(4, 2, -1.0, 1.0, torch.float32)
    expected = torch.stack([cox_de_boor(x[..., c], knots, 2) @ act.coef[c] for c in range(3)], -1)
    assert torch.allclose(act(x), expected, atol=1e-6)


def test_kanbefair_init_follows_pykan():
    torch.manual_seed(0)
    layer = KANLinear(400, 50, grid_size=5, spline_order=3)
    assert torch.all(layer.spline_scale == 1) and torch.all(layer.bias == 0)
    # s_b = 1/sqrt(d_in) + (2·randn - 1)·0.1: mean 1/sqrt(d_in) - 0.1, std 0.2
    assert layer.base_scale.mean().item() == pytest.approx(400 ** -0.5 - 0.1, abs=0.01)
    assert layer.base_scale.std().item() == pytest.approx(0.2, abs=0.01)
    # the splines start as small noise: |spline| <= 0.05/G at the grid points
    points = torch.linspace(-1, 1, 6).reshape(-1, 1).expand(-1, 400)
    values = torch.einsum("pij,oij->poi", layer_basis(layer, points), layer.coef)
    assert values.abs().max() <= 0.05 / 5 + 1e-6


def layer_basis(layer: KANLinear, x: torch.Tensor) -> torch.Tensor:
    knots = knots_by_definition(layer.grid_size, layer.spline_order, -1.0, 1.0, x.dtype).to(x.device)
    return cox_de_boor(x, knots, layer.spline_order)


def test_efficient_init_uses_kaiming_uniform_scales():
    torch.manual_seed(0)
    layer = KANLinear(100, 20, init="efficient")
    bound = 1 / 100 ** 0.5
    for scale in (layer.base_scale, layer.spline_scale):
        assert scale.abs().max() <= bound and scale.std() > bound / 3


def test_grid_update_moves_each_grid_and_preserves_the_function(device, engine):
    """Cubic splines reproduce cubic polynomials on any grid, so when every edge holds a
    cubic the least-squares refit onto the new grid must preserve the layer exactly."""
    torch.manual_seed(0)
    layer = KANLinear(3, 2, grid_size=8, spline_order=3).double().to(device)
    z = torch.linspace(-1, 1, 200, dtype=torch.float64, device=device)
    design = layer_basis(layer, z)
    polys = torch.randn(2, 3, 4, dtype=torch.float64, device=device)  # a cubic per edge
    targets = torch.einsum("oid,dp->oip", polys, torch.stack([z ** d for d in range(4)]))
    with torch.no_grad():
        layer.coef.copy_(torch.linalg.lstsq(design, targets.reshape(6, -1).t()).solution.t()
                         .reshape(2, 3, -1))
    x = torch.rand(256, 3, dtype=torch.float64, device=device) * 1.2 - 0.6
    before = layer(x)
    layer.update_grid(x)
    assert layer.knots.shape == (3, 8 + 2 * 3 + 1)
    lows = layer.knots[:, 3]
    assert torch.all(lows < x.min(0).values) and torch.all(lows > x.min(0).values - 0.05)
    assert torch.allclose(layer(x), before, atol=1e-8)


def test_kan_updates_its_grids_every_n_training_steps():
    torch.manual_seed(0)
    model = KAN([2, 3, 1], grid_update_every=2)
    x = torch.rand(32, 2) * 0.5
    for _ in range(2):
        model(x)
    assert model.layers[0].knots.dim() == 1
    model(x)  # third training step: the update runs first
    assert model.layers[0].knots.dim() == 2
    model.eval()
    steps = int(model.steps)
    model(x)
    assert int(model.steps) == steps


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'kna'.*kan"):
        build({"name": "kna", "hidden": [1]}, 2, 2)


@pytest.mark.slow
@pytest.mark.parametrize("make_layer", [lambda: KANLinear(30, 7), lambda: BSplineActivation(30)],
                         ids=["kan_layer", "bspline_activation"])
def test_compiled_spline_layers_match_eager(make_layer, engine):
    """Compiled on CPU: the C++ kernels as opaque ops, or without them Inductor's fused loops."""
    torch.manual_seed(0)
    layer = make_layer()
    compiled = torch.compile(layer)
    x = (torch.rand(64, 30) * 3 - 1.5).requires_grad_()
    eager_out = layer(x)
    eager_grads = torch.autograd.grad(eager_out.square().sum(), [x, layer.coef])

    def forward_backward():
        out = compiled(x)
        return out, torch.autograd.grad(out.square().sum(), [x, layer.coef])

    (compiled_out, compiled_grads), code = run_and_get_code(forward_backward)
    for op in ("kanfair.spline_basis.default", "kanfair.spline_basis_backward_.default"):
        assert (op in "\n".join(code)) == (engine == "native")
    assert torch.allclose(eager_out, compiled_out, atol=1e-6)
    for a, b in zip(eager_grads, compiled_grads):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name, batch_norm, order", [
    ("bspline_mlp", False, ["Linear", "BSplineActivation", "Linear", "BSplineActivation", "Linear"]),
    ("bspline_mlp", True, ["Linear", "BatchNorm1d", "BSplineActivation", "Linear", "BatchNorm1d",
                           "BSplineActivation", "Linear"]),
    ("bspline_first_mlp", False, ["BSplineActivation", "Linear", "BSplineActivation", "Linear",
                                  "BSplineActivation", "Linear"]),
])
def test_bspline_mlp_layer_order(name, batch_norm, order):
    model = build({"name": name, "hidden": [5, 4], "batch_norm": batch_norm}, 3, 2)
    assert [type(layer).__name__ for layer in model] == order
    splines = [layer.channels for layer in model if isinstance(layer, BSplineActivation)]
    assert splines == ([3, 5, 4] if name == "bspline_first_mlp" else [5, 4])
