"""The B-spline engine against an independent Cox-de Boor recursion written here."""
from __future__ import annotations

import itertools

import pytest
import torch

from kanfair.models.engine.bspline import (_cached_constants, _locate, _Pieces, bspline_basis, make_knots,
                                    scaled_spline_weight, spline_activation, spline_linear)


def knots_by_definition(grid_size: int, order: int, low: float, high: float, dtype) -> torch.Tensor:
    """t_j = a + (j - K)·h, j = 0..G+2K, in float64, then cast (the documented convention)."""
    h = (high - low) / grid_size
    return torch.tensor([low + (j - order) * h for j in range(grid_size + 2 * order + 1)],
                        dtype=torch.float64).to(dtype)


def cox_de_boor(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """B_{j,k}(x) = (x-t_j)/(t_{j+k}-t_j) B_{j,k-1} + (t_{j+k+1}-x)/(t_{j+k+1}-t_{j+1}) B_{j+1,k-1}."""
    x = x.unsqueeze(-1)
    bases = ((x >= knots[:-1]) & (x < knots[1:])).to(x.dtype)
    for k in range(1, order + 1):
        left = (x - knots[:-(k + 1)]) / (knots[k:-1] - knots[:-(k + 1)])
        right = (knots[k + 1:] - x) / (knots[k + 1:] - knots[1:-k])
        bases = left * bases[..., :-1] + right * bases[..., 1:]
    return bases


def probe_inputs(knots: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Random points inside the extended grid, every knot exactly, and points outside, on
    the knots' device (drawn on the CPU, so every device sees the same points)."""
    device, knots = knots.device, knots.cpu()
    gen = torch.Generator().manual_seed(seed)
    span = knots[-1] - knots[0]
    inside = knots[0] + torch.rand(n, generator=gen, dtype=knots.dtype) * span
    outside = torch.tensor([-1e3, 1e3], dtype=knots.dtype)
    outside = torch.cat([outside, (knots[0] - 0.25 * span).reshape(1), (knots[-1] + 0.25 * span).reshape(1)])
    return torch.cat([inside, knots, outside]).to(device)


def fused_ops_case(order: int, dtype: torch.dtype, per_input: bool, n: int, batch: int,
                   device: torch.device | str = "cpu"):
    """Inputs for comparing two engines on both fused ops: x (batch, n) with inputs on
    knots, NaN and infinities in its first rows, knots (shared or per input), a weight, and
    the output gradients."""
    torch.manual_seed(order)
    grid_size = 6
    x = torch.rand(batch, n, dtype=dtype) * 3 - 1.5
    x[0, :5] = make_knots(grid_size, order, (-1.0, 1.0), dtype)[:5]  # exactly on knots
    x[1, n - 30:n - 27] = torch.tensor([float("nan"), float("inf"), -float("inf")], dtype=dtype)
    ranges = (-1.0, 1.0)
    if per_input:
        ranges = torch.stack([-1 - torch.rand(n), 1 + torch.rand(n)], -1).double()
    knots = make_knots(grid_size, order, ranges, dtype, device)
    weight = torch.randn(4, n, grid_size + order, dtype=dtype)
    grads = (torch.randn(batch, 4, dtype=dtype), torch.randn(batch, n, dtype=dtype))
    return x, knots, weight, grads


def fused_ops_outputs(case, order: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """spline_linear's and spline_activation's outputs and every gradient, on CPU."""
    x, knots, weight, (grad_out, grad_act) = case
    a, w, c = (t.detach().clone().to(device).requires_grad_() for t in (x, weight, weight[0]))
    grid_size = weight.shape[-1] - order
    y = spline_linear(a, w, knots, grid_size, order)
    z = spline_activation(a, c, knots, grid_size, order)
    torch.autograd.backward([y, z], [grad_out.to(device), grad_act.to(device)])
    return [t.cpu() for t in (y, z, a.grad, w.grad, c.grad)]


def assert_same_outputs(ours: list[torch.Tensor], reference: list[torch.Tensor], dtype) -> None:
    atol = 1e-4 if dtype == torch.float32 else 1e-11
    for got, expected in zip(ours, reference):
        assert torch.equal(got.isnan(), expected.isnan())
        assert torch.allclose(got.nan_to_num(), expected.nan_to_num(), atol=atol)


GRID = list(itertools.product([0, 1, 2, 3, 5], [1, 3, 5, 10, 20, 50], [(-1.0, 1.0), (-4.0, 4.0)]))


def worst_basis_error(basis_of, dtype: torch.dtype) -> float:
    """The largest error of a kernel's basis against the recursion over GRID: basis_of(x
    (m,), knots, G, K) returns the (m, G+K) basis on CPU."""
    worst = 0.0
    for order, grid_size, (low, high) in GRID:
        knots = knots_by_definition(grid_size, order, low, high, dtype)
        x = probe_inputs(knots, 300, seed=grid_size * 10 + order)
        got = basis_of(x, make_knots(grid_size, order, (low, high), dtype), grid_size, order)
        assert got.shape == (len(x), grid_size + order) and got.dtype == dtype
        worst = max(worst, float((got - cox_de_boor(x, knots, order)).abs().max()))
    return worst


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_basis_equals_cox_de_boor_inside_on_knots_and_outside(dtype, tol, device):
    worst = 0.0
    for order, grid_size, (low, high) in GRID:
        knots = knots_by_definition(grid_size, order, low, high, dtype)
        x = probe_inputs(knots, 300, seed=grid_size * 10 + order).to(device)
        expected = cox_de_boor(x, knots.to(device), order)
        got = bspline_basis(x.reshape(-1, 1), grid_size, order, (low, high))[:, 0, :]
        assert got.shape == (len(x), grid_size + order) and got.dtype == dtype
        assert got.device == x.device
        worst = max(worst, float((got - expected).abs().max()))
    assert worst <= tol


def test_make_knots_follows_the_definition():
    for order, grid_size, (low, high) in GRID:
        assert torch.equal(make_knots(grid_size, order, (low, high)),
                           knots_by_definition(grid_size, order, low, high, torch.float32))


def test_partition_of_unity_inside_the_grid_and_zero_outside(device):
    for order, grid_size, (low, high) in GRID:
        x = torch.linspace(low, high, 997, dtype=torch.float64, device=device)[:-1].reshape(-1, 1)
        total = bspline_basis(x, grid_size, order, (low, high)).sum(-1)
        assert torch.allclose(total, torch.ones_like(total), atol=1e-12)
        ends = make_knots(grid_size, order, (low, high), torch.float64).to(device)[[0, -1]]
        far = torch.stack([ends[0] - 1.0, ends[1] + 1.0]).reshape(-1, 1)
        assert bspline_basis(far, grid_size, order, (low, high)).abs().max() == 0
        at_end = bspline_basis(ends[1].reshape(1, 1), grid_size, order, (low, high))
        assert at_end.abs().max() <= 1e-12  # continuous for K >= 1: zero to rounding


def test_leading_dimensions_are_kept():
    x = torch.rand(2, 3, 4) * 2 - 1
    basis = bspline_basis(x, 5, 3)
    assert basis.shape == (2, 3, 4, 8)
    assert torch.equal(basis[1, 2], bspline_basis(x[1, 2], 5, 3))


def test_per_input_grids_match_the_recursion_on_each_input(device):
    ranges = torch.tensor([[-1.0, 1.0], [0.0, 3.0], [-4.0, -2.0]], dtype=torch.float64, device=device)
    for order in (0, 1, 3):
        knots = make_knots(6, order, ranges, torch.float64)
        x = torch.stack([probe_inputs(knots[i], 200, seed=i)[:210] for i in range(3)], -1)
        got = bspline_basis(x, 6, order, ranges)
        for i in range(3):
            expected = cox_de_boor(x[:, i], knots_by_definition(6, order, *ranges[i].tolist(),
                                                                torch.float64).to(device), order)
            assert (got[:, i] - expected).abs().max() <= 1e-12


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_basis_gradient_passes_gradcheck(order, device):
    x = (torch.rand(6, 4, dtype=torch.float64, device=device) * 2.4 - 1.2).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: bspline_basis(t, 4, order), (x,))


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_spline_linear_gradients_pass_gradcheck(order, device, engine):
    x = (torch.rand(5, 4, dtype=torch.float64, device=device) * 2.4 - 1.2).requires_grad_()
    weight = torch.randn(3, 4, 4 + order, dtype=torch.float64, device=device, requires_grad=True)
    knots = make_knots(4, order, (-1.0, 1.0), torch.float64).to(device)
    assert torch.autograd.gradcheck(lambda a, w: spline_linear(a, w, knots, 4, order), (x, weight))
    # a first layer: its input needs no gradient, and backward takes a shorter path
    assert torch.autograd.gradcheck(lambda w: spline_linear(x.detach(), w, knots, 4, order), (weight,))


@pytest.mark.parametrize("order", [2, 3, 5])
def test_second_derivatives_pass_gradgradcheck(order, device):
    """create_graph=True (physics-informed losses, gradient penalties) must give gradients
    that are differentiable again, for the basis, the fused spline term and the per-channel
    spline."""
    x = (torch.rand(5, 4, dtype=torch.float64, device=device) * 2.4 - 1.2).requires_grad_()
    weight = torch.randn(3, 4, 4 + order, dtype=torch.float64, device=device, requires_grad=True)
    knots = make_knots(4, order, (-1.0, 1.0), torch.float64).to(device)
    assert torch.autograd.gradgradcheck(lambda t: bspline_basis(t, 4, order), (x,))
    assert torch.autograd.gradgradcheck(lambda a, w: spline_linear(a, w, knots, 4, order), (x, weight))
    coef = weight[0].detach().requires_grad_()
    assert torch.autograd.gradgradcheck(lambda a, c: spline_activation(a, c, knots, 4, order), (x, coef))


def test_the_scaled_spline_weight_has_first_and_second_derivatives(device):
    """KANLinear's s·c, written in the kernels' layout by its own Function: its backward
    (the one-pass transposition, and under create_graph differentiable ops) against
    numerical derivatives."""
    scale = torch.rand(3, 4, dtype=torch.float64, device=device, requires_grad=True)
    coef = torch.randn(3, 4, 6, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(scaled_spline_weight, (scale, coef))
    assert torch.autograd.gradgradcheck(scaled_spline_weight, (scale, coef))


@pytest.mark.parametrize("order", [2, 3, 5])
def test_second_derivative_in_x_equals_the_recursions(order):
    """d²/dx² of sum_j c_j B_j(x) through create_graph, against autograd run twice through
    the Cox-de Boor recursion."""
    knots = make_knots(6, order, (-1.0, 1.0), torch.float64)
    x = torch.rand(40, 3, dtype=torch.float64) * 2 - 1
    weight = torch.randn(2, 3, 6 + order, dtype=torch.float64)

    def second_derivative(spline) -> torch.Tensor:
        t = x.clone().requires_grad_()
        slope, = torch.autograd.grad(spline(t).sum(), t, create_graph=True)
        return torch.autograd.grad(slope.sum(), t)[0]

    expected = second_derivative(lambda t: torch.einsum("bij,oij->bo", cox_de_boor(t, knots, order), weight))
    assert expected.abs().max() > 1e-3  # not trivially zero
    assert torch.allclose(second_derivative(lambda t: spline_linear(t, weight, knots, 6, order)),
                          expected, atol=1e-9)
    basis = second_derivative(lambda t: torch.einsum("bij,oij->bo", bspline_basis(t, 6, order), weight))
    assert torch.allclose(basis, expected, atol=1e-9)


def test_tables_first_made_under_inference_mode_serve_second_derivatives():
    """The engine caches its small tables; one first made under torch.inference_mode (an
    evaluation) must still be usable where autograd saves it (create_graph backward)."""
    _cached_constants.cache_clear()
    x = torch.rand(5, 3, dtype=torch.float64) * 2 - 1
    with torch.inference_mode():
        bspline_basis(x, 7, 3)
    t = x.clone().requires_grad_()
    slope, = torch.autograd.grad(bspline_basis(t, 7, 3).pow(2).sum(), t, create_graph=True)
    assert torch.isfinite(torch.autograd.grad(slope.sum(), t)[0]).all()


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_spline_activation_gradients_pass_gradcheck(order, device, engine):
    x = (torch.rand(6, 2, 4, dtype=torch.float64, device=device) * 2.4 - 1.2).requires_grad_()
    coef = torch.randn(4, 4 + order, dtype=torch.float64, device=device, requires_grad=True)
    knots = make_knots(4, order, (-1.0, 1.0), torch.float64).to(device)
    assert torch.autograd.gradcheck(lambda a, c: spline_activation(a, c, knots, 4, order), (x, coef))
    # a first layer: its input needs no gradient, and backward takes a shorter path
    assert torch.autograd.gradcheck(lambda c: spline_activation(x.detach(), c, knots, 4, order), (coef,))


def test_spline_linear_equals_basis_times_weight(engine):
    x = torch.rand(7, 5, dtype=torch.float64) * 3 - 1.5
    weight = torch.randn(2, 5, 8, dtype=torch.float64)
    knots = make_knots(5, 3, (-1.0, 1.0), torch.float64)
    expected = torch.einsum("bij,oij->bo", bspline_basis(x, 5, 3), weight)
    assert torch.allclose(spline_linear(x, weight, knots, 5, 3), expected, atol=1e-12)


@pytest.mark.parametrize("order", [0, 1, 3, 5])
def test_fused_placement_used_under_compile_equals_the_eager_one(order):
    """torch.compile takes the select-based placement; it must give the same numbers."""
    x = torch.rand(9, 6, dtype=torch.float64) * 3 - 1.5
    knots = make_knots(5, order, (-1.0, 1.0), torch.float64)
    grad_basis = torch.randn(9, 6, 5 + order, dtype=torch.float64)
    eager, fused = (_Pieces(*_locate(x, knots, 5, order), 5, order, True, fused=f) for f in (False, True))
    assert torch.allclose(eager.dense(), fused.dense(), atol=1e-14)
    assert torch.allclose(eager.grad_input(grad_basis), fused.grad_input(grad_basis), atol=1e-12)
    # the (B, G+K, n) layout spline_linear uses under compile
    assert torch.allclose(eager.dense().transpose(1, 2), fused.dense(-2), atol=1e-14)
    assert torch.allclose(eager.grad_input(grad_basis),
                          fused.grad_input(grad_basis.transpose(1, 2), -2), atol=1e-12)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_non_finite_inputs_give_nan_or_zeros_instead_of_an_index_error(order, engine):
    """A diverged layer feeds NaN to the next one: it must come out as NaN (K >= 1; K = 0 is
    an indicator, zero for NaN as in the recursion) so the trainer sees a NaN loss, not an
    IndexError. An infinite input lies outside the grid: zero basis."""
    x = torch.tensor([float("nan"), 0.3, float("inf"), -float("inf")], dtype=torch.float64)
    knots = make_knots(5, order, (-1.0, 1.0), torch.float64)
    per_input = torch.tensor([[-1.0, 1.0]], dtype=torch.float64).expand(4, 2)
    for basis in (bspline_basis(x.reshape(-1, 1), 5, order)[:, 0],
                  bspline_basis(x.reshape(1, -1), 5, order, per_input)[0]):
        assert bool(basis[0].isnan().any()) == (order > 0)
        assert torch.allclose(basis[1], cox_de_boor(x[1:2], knots, order)[0], atol=1e-12)
        assert torch.equal(basis[2:], torch.zeros_like(basis[2:]))
    weight = torch.randn(2, 4, 5 + order, dtype=torch.float64)
    assert bool(spline_linear(x.reshape(1, -1), weight, knots, 5, order).isnan().all()) == (order > 0)


def test_basis_stays_exact_where_float32_matmuls_may_run_in_tf32_or_bf16(device):
    """Eager evaluates the pieces with a small matmul; 'medium' precision lets float32
    matmuls run in TF32 (CUDA) or bf16 (CPUs with bf16 units), about 1e-3 off."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        for order, grid_size in [(3, 5), (5, 20)]:
            knots = knots_by_definition(grid_size, order, -1.0, 1.0, torch.float64)
            x64 = probe_inputs(knots, 300, seed=order).to(device).reshape(-1, 1).requires_grad_()
            x32 = x64.detach().float().requires_grad_()
            mix = torch.rand(grid_size + order, dtype=torch.float64, device=device)
            for x in (x64, x32):
                (bspline_basis(x, grid_size, order)[:, 0, :] * mix.to(x.dtype)).sum().backward()
            expected = cox_de_boor(x64.detach()[:, 0], knots.to(device), order)
            basis32 = bspline_basis(x32.detach(), grid_size, order)[:, 0, :]
            assert (basis32.double() - expected).abs().max() <= 1e-5
            assert torch.allclose(x32.grad.double(), x64.grad, atol=1e-4)
    finally:
        torch.set_float32_matmul_precision(previous)


@pytest.mark.parametrize("layer", ["kan", "bspline_mlp"])
def test_a_float64_layer_has_float64_knots_made_from_its_range(layer):
    """.double() rebuilds the knots from the range in float64 (not float32 knots cast: a
    range such as [-0.3, 0.7] is not a float32 number); .float() gives the float32 table
    back; a grid moved to the data (update_grid) keeps its own range."""
    from kanfair.models.bspline_mlp import BSplineActivation
    from kanfair.models.kan import KANLinear

    make = {"kan": lambda: KANLinear(2, 3, 5, 3, (-0.3, 0.7)),
            "bspline_mlp": lambda: BSplineActivation(2, 5, 3, (-0.3, 0.7))}[layer]
    module = make().double()
    assert torch.equal(module.knots, make_knots(5, 3, (-0.3, 0.7), torch.float64))
    assert torch.equal(module.float().knots, make_knots(5, 3, (-0.3, 0.7)))
    if layer == "kan":
        moved = make()
        moved.update_grid(torch.rand(50, 2) * 3)
        ends = moved.knots[:, [3, 8]].double()
        assert torch.equal(moved.double().knots, make_knots(5, 3, ends, torch.float64))
