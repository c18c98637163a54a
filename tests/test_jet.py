"""Forward-mode derivatives (kanfair.models.jet, issue 44): every model that offers
`forward_jet` gives the values, gradients and second derivatives autograd's double backward
gives, to 1e-10 in float64, at random points and on knots; the physics loss and its
parameter gradients are the same by either path; the record says which path ran."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import run_train
from kanfair.data import pde
from kanfair.models import build, jet
from kanfair.models.engine.bspline import basis_derivatives, bspline_basis, make_knots

FORWARD = {  # every family, in the variants a PDE task may build
    "kan": {"grid_size": 5}, "kan_identity": {"name": "kan", "grid_size": 4, "shortcut": "identity"},
    "kan_no_shortcut": {"name": "kan", "grid_size": 3, "shortcut": "zero", "spline_order": 2},
    "mlp_tanh": {"name": "mlp", "activation": "tanh"}, "mlp_silu": {"name": "mlp", "activation": "silu"},
    "mlp_gelu": {"name": "mlp", "activation": "gelu"}, "mlp_sigmoid": {"name": "mlp", "activation": "sigmoid"},
    "bspline_mlp": {"grid_size": 5}, "bspline_first_mlp": {"grid_size": 4},
    "fourier_kan": {"frequencies": 4}, "rbf_kan": {"grid_size": 6}, "cheby_kan": {"degree": 5},
    "rational_kan": {"groups": 2}, "rational_kan_own": {"name": "rational_kan", "groups": 3,
                                                         "shared_numerator": False, "activation": "swish"},
}


def _model(key: str, in_dim: int = 2, coef_scale: float = 1.0) -> torch.nn.Module:
    spec = {"name": key, "hidden": [6, 5], **FORWARD[key]}
    torch.manual_seed(0)
    model = build(spec, in_dim, 1).double()
    with torch.no_grad():  # parameters away from their starts (zero splines, identity rationals)
        for name, parameter in model.named_parameters():
            parameter.add_(torch.randn_like(parameter) * (coef_scale if name.endswith("coef") else 0.2))
    return model


def _points(on_knots: bool) -> torch.Tensor:
    x = torch.rand(80, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    if on_knots:  # the first layer's knots (G = 3, 4, 5 on [-1, 1]) in both inputs
        knots = torch.cat([torch.linspace(-1, 1, g + 1, dtype=torch.float64) for g in (3, 4, 5)])
        x[:len(knots), 0] = knots
        x[:len(knots), 1] = knots.flip(0)
    return x


def _by_autograd(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_(True)
    u = model(x)
    slope = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    second = torch.stack([torch.autograd.grad(slope[:, i].sum(), x, retain_graph=True)[0][:, i]
                          for i in range(x.shape[1])])
    return u, slope, second


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max()) if b.abs().max() > 0 else float((a - b).abs().max())


@pytest.mark.parametrize("key", sorted(FORWARD))
@pytest.mark.parametrize("on_knots", [False, True])
def test_forward_mode_equals_autograds_double_backward(key, on_knots):
    model, x = _model(key), _points(on_knots)
    value, slope, second = _by_autograd(model, x)
    out = model.forward_jet(jet.seed(x))
    assert _relative(out[0], value) < 1e-10
    assert _relative(out[1:3, :, 0].t(), slope) < 1e-10
    assert _relative(out[3:, :, 0], second) < 1e-10
    assert float(second.abs().max()) > 1e-6  # a real second derivative, not a vanishing one


def test_every_family_but_the_outside_ones_takes_the_forward_path():
    """pykan's own KAN and a user's model are autograd's; every kanfair family is forward mode."""
    from kanfair.models import FAMILIES
    paths = {name: pde.derivative_path(build({"name": name, "hidden": [4]}, 2, 1))
             for name in FAMILIES if name != "custom"}
    assert paths == {name: "autograd" if name == "pykan" else "forward" for name in paths}


@pytest.mark.parametrize("order", [1, 2, 3])
def test_the_basis_derivatives_are_autograds(order):
    """d^m B/dx^m in closed form against autograd's derivatives of the basis, m = 1, 2 (and 3,
    the backward's), on per-input grids of different widths."""
    x = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2.4 - 1.2
    knots = make_knots(5, 3, torch.tensor([[-1.0, 1.0], [-0.5, 2.0]], dtype=torch.float64))
    derivative = basis_derivatives(x, knots, 5, 3, (order,))[0]
    p = x.clone().requires_grad_(True)
    expected = bspline_basis(p, 5, 3, knots=knots)
    for _ in range(order):
        expected = torch.stack([torch.autograd.grad(expected[..., j].sum(), p, create_graph=True)[0]
                                for j in range(expected.shape[-1])], -1)
    torch.testing.assert_close(derivative, expected.detach(), rtol=1e-10, atol=1e-10)


class _NoJet(torch.nn.Module):
    """The same model seen without forward_jet: the autograd path."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _physics(problem: str):
    chosen = pde.PROBLEMS[problem]
    x, source, _, _, physics = pde.load_physics(chosen, pde.Collocation(60, 20, 20, 10, 0),
                                                {term: 1.0 for term in chosen.terms})
    return physics.to(torch.device("cpu"), torch.float64), x.double(), source.double()


# rbf_kan's LayerNorm: torch 2.14's layer_norm double backward, differentiated once more, takes
# the saved mean and 1/std for constants (pytorch/pytorch#175754), so the parameters before it
# get wrong gradients (up to 7% off the finite differences of the loss, which the forward
# path matches below): its autograd path is no reference
AUTOGRAD_RIGHT = sorted(set(FORWARD) - {"rbf_kan"})


@pytest.mark.parametrize("key", AUTOGRAD_RIGHT)
@pytest.mark.parametrize("problem", ["pde_poisson2d", "pde_helmholtz2d", "pde_wave1d"])
def test_the_physics_loss_and_its_parameter_gradients_are_the_same_by_either_path(key, problem):
    physics, x, source = _physics(problem)
    model = _model(key)
    losses, grads = {}, {}
    for path, wrapped in (("forward", model), ("autograd", _NoJet(model))):
        assert pde.derivative_path(wrapped) == path
        model.zero_grad()
        loss, _ = physics.loss(wrapped, x, source)
        loss.backward()
        losses[path], grads[path] = loss.detach(), [p.grad.clone() for p in model.parameters()]
    assert _relative(losses["forward"], losses["autograd"]) < 1e-10
    for forward, autograd in zip(grads["forward"], grads["autograd"]):
        assert _relative(forward, autograd) < 1e-10


@pytest.mark.parametrize("key", ["rbf_kan", "kan", "cheby_kan"])
def test_the_forward_paths_parameter_gradients_are_finite_differences_of_the_loss(key):
    """Central differences (float64, step 1e-6) of the physics loss in a few entries of
    every parameter tensor: independent of both paths (rbf_kan's autograd path fails this).
    Splines and polynomials of moderate size, so that the loss's rounding stays far below
    the differences."""
    physics, x, source = _physics("pde_poisson2d")
    model = _model(key, coef_scale=0.1)
    loss, _ = physics.loss(model, x, source)
    loss.backward()
    generator = torch.Generator().manual_seed(3)
    for name, parameter in model.named_parameters():
        for flat in torch.randint(parameter.numel(), (2,), generator=generator).tolist():
            entry = parameter.view(-1)
            with torch.no_grad():
                entry[flat] += 1e-6
                up = float(physics.loss(model, x, source)[0])
                entry[flat] -= 2e-6
                down = float(physics.loss(model, x, source)[0])
                entry[flat] += 1e-6
            assert float(parameter.grad.view(-1)[flat]) == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-6), name


@pytest.mark.parametrize("model, path", [("model=kan", "forward"), ("model=pykan", "autograd")])
def test_the_record_says_which_path_took_the_derivatives(tmp_path, model, path):
    done = run_train("dataset=pde_poisson2d", model, "model.hidden=[3]", "trainer.epochs=2",
                     "dataset.pde.interior=50", "dataset.pde.boundary=20", "dataset.pde.eval_grid=5",
                     f"paths.results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["extra"]["derivatives"] == path
