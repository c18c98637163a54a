"""The wider KAN family (Fourier, RBF, Chebyshev, rational) and user models: each layer
against a per-edge loop written here from its paper's formula, parameters against numel,
MACs against fvcore, the ops formulas by hand, and the matcher on each family's knob."""
from __future__ import annotations

import contextlib
import itertools
import json
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import run_train
from kanfair.budget import match
from kanfair.cost import count, macs_by_fvcore
from kanfair.models import FAMILIES, build, count_params, model_spec
from kanfair.models.cheby_kan import ChebyKANLayer
from kanfair.models.fourier_kan import FourierKANLayer
from kanfair.models.rational_kan import GroupRational, RationalKAN, rational
from kanfair.models.rbf_kan import RBFKANLayer
from kanfair.schema import ConfigError

NEW = ["fourier_kan", "rbf_kan", "cheby_kan", "rational_kan"]
KNOBS = {"fourier_kan": "frequencies", "rbf_kan": "grid_size", "cheby_kan": "degree",
         "rational_kan": "groups"}
SPECS = [
    {"name": "fourier_kan", "hidden": [5], "frequencies": 3},
    {"name": "fourier_kan", "hidden": [4, 6], "frequencies": 1},
    {"name": "rbf_kan", "hidden": [5], "grid_size": 4, "grid_range": [-1.0, 3.0]},
    {"name": "rbf_kan", "hidden": [1, 3], "grid_size": 2},  # a 1-input layer: no LayerNorm
    {"name": "cheby_kan", "hidden": [5], "degree": 1},
    {"name": "cheby_kan", "hidden": [3, 4], "degree": 6},
    {"name": "rational_kan", "hidden": [5], "groups": 2},
    {"name": "rational_kan", "hidden": [3, 12], "groups": 4, "shared_numerator": False},
    {"name": "rational_kan", "hidden": [2], "groups": 8, "activation": "swish"},
]
IDS = [f"{s['name']}-{s['hidden']}-{s.get(KNOBS[s['name']])}" for s in SPECS]


def randomised(module: torch.nn.Module) -> torch.nn.Module:
    """Every parameter made to matter (no zero bias, no identity rational, no unit affine)."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.5)
    return module


def fourier_edges(layer: FourierKANLayer, x: torch.Tensor) -> torch.Tensor:
    """sum_i sum_{k=1..g} a_oik cos(k x_i) + b_oik sin(k x_i) + bias_o."""
    g = layer.frequencies
    out = layer.bias.expand(x.shape[0], -1).clone()
    for o, i, k in itertools.product(range(layer.out_features), range(layer.in_features), range(1, g + 1)):
        a, b = layer.coef[o, i, k - 1], layer.coef[o, i, g + k - 1]
        out[:, o] += a * torch.cos(k * x[:, i]) + b * torch.sin(k * x[:, i])
    return out


def rbf_edges(layer: RBFKANLayer, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """z = LayerNorm(x) by its definition; sum_i sum_m w_oim exp(-((z_i - c_m)/h)^2)
    + sum_i W_oi silu(x_i) + b_o, centres c_m = low + m·h, h = (high - low)/(G - 1)."""
    z = x
    if layer.in_features > 1:
        mean = x.mean(1, keepdim=True)
        var = ((x - mean) ** 2).mean(1, keepdim=True)
        z = (x - mean) / torch.sqrt(var + 1e-5) * layer.norm.weight + layer.norm.bias
    G, h = layer.grid_size, (high - low) / (layer.grid_size - 1)
    weight = layer.spline_weight.view(layer.out_features, layer.in_features, G)
    out = layer.base.bias.expand(x.shape[0], -1).clone()
    for o, i in itertools.product(range(layer.out_features), range(layer.in_features)):
        out[:, o] += layer.base.weight[o, i] * x[:, i] * torch.sigmoid(x[:, i])
        for m in range(G):
            out[:, o] += weight[o, i, m] * torch.exp(-((z[:, i] - (low + m * h)) / h) ** 2)
    return out


def cheby_edges(layer: ChebyKANLayer, x: torch.Tensor) -> torch.Tensor:
    """sum_i sum_k c_oik T_k(tanh x_i) with T_k(t) = cos(k·arccos t) (the reference's form)."""
    theta = torch.arccos(torch.tanh(x))
    out = torch.zeros(x.shape[0], layer.out_features, dtype=x.dtype)
    for o, i, k in itertools.product(range(layer.out_features), range(layer.in_features),
                                     range(layer.degree + 1)):
        out[:, o] += layer.coef[o, i, k] * torch.cos(k * theta[:, i])
    return out


def rational_channels(layer: GroupRational, x: torch.Tensor) -> torch.Tensor:
    """Channel c in group floor(c·g/C): (sum_m a_m x^m) / (1 + sum_n |b_n|·|x|^n)."""
    out = torch.empty_like(x)
    for c in range(layer.channels):
        group = c * layer.groups // layer.channels
        a = layer.numerator[0 if len(layer.numerator) == 1 else group]
        b = layer.denominator[group]
        p = sum(a[m] * x[:, c] ** m for m in range(6))
        q = 1 + sum(b[n - 1].abs() * x[:, c].abs() ** n for n in range(1, 5))
        out[:, c] = p / q
    return out


def test_fourier_layer_equals_the_per_edge_series():
    torch.manual_seed(0)
    layer = randomised(FourierKANLayer(3, 4, frequencies=3)).double()
    x = torch.randn(16, 3, dtype=torch.float64) * 3
    assert torch.allclose(layer(x), fourier_edges(layer, x), atol=1e-12)


@pytest.mark.parametrize("d_in, grid_range", [(3, (-2.0, 2.0)), (1, (-1.0, 3.0))])
def test_rbf_layer_equals_the_per_edge_gaussians(d_in, grid_range):
    torch.manual_seed(0)
    layer = randomised(RBFKANLayer(d_in, 4, grid_size=5, grid_range=grid_range)).double()
    x = torch.randn(16, d_in, dtype=torch.float64) * 2
    assert torch.allclose(layer(x), rbf_edges(layer, x, *grid_range), atol=1e-12)


def test_cheby_layer_equals_the_per_edge_arccos_form():
    torch.manual_seed(0)
    layer = randomised(ChebyKANLayer(3, 4, degree=6)).double()
    x = torch.randn(16, 3, dtype=torch.float64) * 2
    assert torch.allclose(layer(x), cheby_edges(layer, x), atol=1e-12)


@pytest.mark.parametrize("channels, groups, shared", [(6, 3, True), (7, 3, False), (2, 8, True)])
def test_group_rational_equals_the_per_channel_formula(channels, groups, shared):
    torch.manual_seed(0)
    layer = randomised(GroupRational(channels, groups, "gelu", shared)).double()
    x = torch.randn(16, channels, dtype=torch.float64) * 2
    assert torch.allclose(layer(x), rational_channels(layer, x), atol=1e-12)


def test_rational_kan_is_rational_then_linear_per_layer_and_starts_as_identity_then_gelu():
    torch.manual_seed(0)
    model = RationalKAN([3, 5, 2], groups=2).double()
    assert [type(m).__name__ for m in model] == ["GroupRational", "Linear", "GroupRational", "Linear"]
    x = torch.linspace(-3, 3, 60, dtype=torch.float64).view(20, 3)
    assert torch.equal(model[0](x), x)
    hidden = torch.linspace(-3, 3, 100, dtype=torch.float64).view(20, 5)
    assert (model[2](hidden) - F.gelu(hidden)).abs().max() < 4e-3
    swish = GroupRational(3, 1, "swish").double()
    assert (swish(x) - F.silu(x)).abs().max() < 1e-5


def test_groups_are_contiguous_and_differ_in_size_by_at_most_one():
    layer = GroupRational(7, 3)
    assert layer.group_of.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert GroupRational(2, 8).groups == 2


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_parameter_count_is_numel_in_every_convention(spec):
    model = build(spec, 7, 3)
    for convention in ("kanbefair", "ops", "macs"):
        assert count(spec, 7, 3, convention).params == count_params(model)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_macs_equal_fvcores_count_of_the_built_model(spec):
    assert count(spec, 7, 3, "macs").flops == macs_by_fvcore(build(spec, 7, 3), 7)


@pytest.mark.parametrize("spec, flops", [
    # Fourier, g=3, 7 -> 5 -> 3: basis 3 FLOPs per input and frequency; 2 per multiply-add; bias
    ({"name": "fourier_kan", "hidden": [5], "frequencies": 3},
     7 * 9 + 2 * 7 * 6 * 5 + 5 + 5 * 9 + 2 * 5 * 6 * 3 + 3),
    # RBF, G=4: LayerNorm 5/input, 4 per RBF, spline map, base map + bias, silu 5/input, sum
    ({"name": "rbf_kan", "hidden": [5], "grid_size": 4},
     7 * 5 + 7 * 16 + 2 * 7 * 4 * 5 + 2 * 7 * 5 + 5 + 7 * 5 + 5
     + 5 * 5 + 5 * 16 + 2 * 5 * 4 * 3 + 2 * 5 * 3 + 3 + 5 * 5 + 3),
    # Chebyshev, d=4: tanh 6 + 2t + 2 per degree above 1; map; no bias
    ({"name": "cheby_kan", "hidden": [5], "degree": 4},
     7 * (6 + 1 + 6) + 2 * 7 * 5 * 5 + 5 * (6 + 1 + 6) + 2 * 5 * 5 * 3),
    # rational: 20 per input (P 10, |x| 1, Q 8, division 1), then the Linear with its bias
    ({"name": "rational_kan", "hidden": [5], "groups": 2},
     7 * 20 + 2 * 7 * 5 + 5 + 5 * 20 + 2 * 5 * 3 + 3),
])
def test_ops_flops_by_hand(spec, flops):
    assert count(spec, 7, 3, "ops").flops == flops


def test_kanbefair_convention_charges_the_basis_per_edge():
    fourier = {"name": "fourier_kan", "hidden": [5], "frequencies": 3}
    assert count(fourier, 7, 3, "kanbefair").flops == 7 * 5 * (9 + 12) + 5 * 3 * (9 + 12)
    rational = {"name": "rational_kan", "hidden": [5], "groups": 2}
    assert count(rational, 7, 3, "kanbefair").flops == 7 * 5 * (20 + 2) + 5 * 3 * (20 + 2)


@pytest.mark.parametrize("name", NEW)
def test_gradients_pass_gradcheck(name):
    torch.manual_seed(0)
    model = randomised(build({"name": name, "hidden": [3]}, 4, 2)).double()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: model(inp), (x,))


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("kind, target", [("params", 5000), ("flops", 1e6)])
def test_every_new_family_matches_with_width_grid(name, kind, target):
    found = match({"name": name}, 784 if kind == "flops" else 64, 10, kind, target, "ops", 0.02, "width_grid")
    assert abs(found.deviation) <= 0.02


@pytest.mark.parametrize("name", NEW)
def test_vary_grid_searches_the_familys_own_knob(name):
    spec = model_spec({"name": name, "hidden": [4]})
    knob = FAMILIES[name].knob
    assert knob == KNOBS[name]
    target = count({**spec, knob: 7}, 64, 10, "ops").params  # (a rational's groups change no FLOPs)
    found = match(spec, 64, 10, "params", target, "ops", 1e-9, "grid")
    assert found.model[knob] == found.size == 7 and found.model["hidden"] == [4]


@pytest.mark.parametrize("override, key", [
    ({"name": "rbf_kan", "grid_size": 1}, "model.grid_size"),
    ({"name": "fourier_kan", "frequencies": 0}, "model.frequencies"),
    ({"name": "cheby_kan", "degree": 0}, "model.degree"),
    ({"name": "rational_kan", "groups": 0}, "model.groups"),
    ({"name": "rational_kan", "activation": "relu"}, "model.activation"),
    ({"name": "rbf_kan", "grid_range": [1.0, 1.0]}, "model.grid_range"),
])
def test_out_of_range_knobs_name_their_key(override, key):
    with pytest.raises(ConfigError) as caught:
        model_spec(override)
    assert caught.value.key == key


def test_rbf_layer_width_is_the_centre_spacing():
    layer = RBFKANLayer(2, 1, grid_size=5, grid_range=(-2.0, 2.0))
    assert layer.centres.tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert math.isclose(layer.inverse_width, 1.0)


def test_six_families_train_at_5000_trainable_parameters(tmp_results):
    done = run_train("-m", "model=kan,mlp,fourier_kan,rbf_kan,cheby_kan,rational_kan", "dataset=digits",
                     "budget=params", "budget.target=5000", "budget.vary=width_grid", "trainer.epochs=1",
                     f"paths.results_dir={tmp_results}", f"hydra.sweep.dir={tmp_results}/jobs")
    assert done.returncode == 0, done.stderr
    records = [json.loads(path.read_text()) for path in (tmp_results / "runs").glob("*.json")]
    assert sorted(r["model"] for r in records) == sorted(["kan", "mlp", *NEW])
    for record in records:
        assert record["status"] == "ok" and abs(record["params"] - 5000) <= 100, record["model"]


TWICE_DIFFERENTIABLE = {"mlp": {"activation": "tanh"}}  # relu's second derivative is 0 almost everywhere


@pytest.mark.parametrize("path", ["kernels", "pytorch"])
@pytest.mark.parametrize("name", sorted(set(FAMILIES) - {"custom"}))
def test_the_second_derivative_in_an_input_equals_a_finite_difference(name, path):
    """Physics-informed losses take d2u/dx2 by autograd (create_graph): for every family, on
    the engine's CPU kernels and on PyTorch ops, it must equal a float64 central difference
    (Richardson-extrapolated from steps 1e-3 and 5e-4: truncation ~1e-13 of the sixth
    derivative, rounding ~1e-9 of u) to 1e-5 relative."""
    from kanfair.models.engine import native

    torch.manual_seed(0)
    model = build({"name": name, "hidden": [6], **TWICE_DIFFERENTIABLE.get(name, {})}, 3, 1).double().eval()
    with torch.no_grad():  # away from the initialisation, where some families are nearly linear
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    x = (torch.rand(16, 3, dtype=torch.float64) * 1.6 - 0.8).requires_grad_()  # 3 inputs: LayerNorm over 2 is a sign
    with contextlib.nullcontext() if path == "kernels" else native.disabled():
        u = lambda t: model(t)[:, 0]  # noqa: E731
        slope, = torch.autograd.grad(u(x).sum(), x, create_graph=True)
        curvature, = torch.autograd.grad(slope[:, 0].sum(), x)
        with torch.no_grad():
            def central(h: float) -> torch.Tensor:
                step = torch.zeros_like(x)
                step[:, 0] = h
                return (u(x + step) - 2 * u(x) + u(x - step)) / h**2
            fine, coarse = central(5e-4), central(1e-3)
    finite, scale = (4 * fine - coarse) / 3, fine.abs().max()
    assert scale > 1e-2, f"{name}: a curvature this small tests nothing"
    # the difference is a reference only where it has converged: not within a step of a
    # kink (GR-KAN's |x| at a hidden unit's 0)
    converged = (fine - coarse).abs() <= 1e-3 * scale
    assert converged.sum() >= 12, name
    assert (curvature[:, 0] - finite)[converged].abs().max() <= 1e-5 * scale, name


@pytest.mark.parametrize("name", sorted(set(FAMILIES) - {"custom"}))
def test_the_slope_taken_for_a_second_derivative_is_the_slope_on_the_knots(name):
    """A PDE's H1 error takes du/dx with create_graph on a uniform grid, whose points fall on
    the spline knots within rounding: that path must give the plain backward's slope there
    (it once clamped u back into its cell and lost du/dx = 1/h at such points)."""
    torch.manual_seed(0)
    model = build({"name": name, "hidden": [6], **TWICE_DIFFERENTIABLE.get(name, {})}, 2, 1).double().eval()
    axis = torch.linspace(-1, 1, 101, dtype=torch.float64)  # hits G5's knots -0.6, -0.2 ... 1
    x = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2).requires_grad_()
    graphed, = torch.autograd.grad(model(x).sum(), x, create_graph=True)
    plain, = torch.autograd.grad(model(x).sum(), x)
    assert torch.allclose(graphed, plain, rtol=1e-10, atol=1e-12 * float(plain.abs().max())), name


def test_the_rational_is_differentiated_as_kats_kernels_at_zero():
    """d|b|/db = d|x|/dx = +1 at 0 (KAT's kernels), by hand: with b = 0 (Q = 1),
    dR/db_k = -P(x)·|x|^k; at x = 0, dR/dx = a_1 - a_0·|b_1| (Q'(0) = |b_1|)."""
    a = torch.tensor([[0.3, 1.2, -0.5, 0.25, 0.1, -0.05]], dtype=torch.float64)
    x = torch.tensor([[0.7], [-1.5], [0.0]], dtype=torch.float64)
    b = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    rational(x, a, b).sum().backward()
    p = sum(a[0, k] * x[:, 0] ** k for k in range(6))
    assert torch.allclose(b.grad[0], torch.stack([-(p * x[:, 0].abs() ** k).sum() for k in range(1, 5)]))
    at_zero = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    rational(at_zero, a, torch.tensor([[0.4, -0.3, 0.2, 0.1]], dtype=torch.float64)).sum().backward()
    assert at_zero.grad.item() == pytest.approx(1.2 - 0.3 * 0.4)


def test_identity_initialised_denominators_learn():
    """The first layer starts as the identity (b = 0); under autograd's |b|' = 0 its
    denominators would stay exactly 0 for ever."""
    torch.manual_seed(0)
    model = RationalKAN([3, 4, 1], groups=2)
    assert torch.count_nonzero(model[0].denominator) == 0
    x = torch.rand(64, 3) * 4 - 2
    y = torch.sin(x.sum(1, keepdim=True))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    assert model[0].denominator.abs().min() > 0


@pytest.mark.parametrize("name", NEW)
def test_a_layer_takes_any_leading_dimensions(name):
    """(batch, length, channels) as upstream takes it: the same as the rows one by one."""
    torch.manual_seed(0)
    model = randomised(build({"name": name, "hidden": [5]}, 4, 3)).double()
    x = torch.rand(2, 3, 4, dtype=torch.float64) * 2 - 1
    out = model(x)
    assert out.shape == (2, 3, 3)
    assert torch.allclose(out, model(x.reshape(6, 4)).reshape(2, 3, 3), atol=1e-12)
