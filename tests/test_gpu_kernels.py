"""The Triton kernels against the recursion and against the PyTorch-ops engine: on a GPU
where there is one, else on CPU in Triton's interpreter (conftest sets TRITON_INTERPRET=1
before Triton loads), which runs the same kernel code on CPU tensors."""
from __future__ import annotations

import contextlib

import pytest
import torch

from kanfair.models import gpu_kernels, native
from kanfair.models.bspline import make_knots, spline_activation, spline_linear
from test_bspline import GRID, cox_de_boor, knots_by_definition, probe_inputs

pytestmark = pytest.mark.skipif(not gpu_kernels.available(), reason="Triton is not installed")
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def engine(kernels: bool):
    """The spline ops on the Triton kernels (on CPU: let them take CPU tensors, C++ kernels
    off), or on PyTorch ops alone."""
    usable = gpu_kernels.usable
    gpu_kernels.usable = (lambda x: True) if kernels and DEVICE.type == "cpu" else (
        usable if kernels else lambda x: False)
    try:
        with native.disabled():
            yield
    finally:
        gpu_kernels.usable = usable


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_kernel_basis_equals_cox_de_boor_inside_on_knots_and_outside(dtype, tol):
    worst = 0.0
    for order, grid_size, (low, high) in GRID:
        knots = knots_by_definition(grid_size, order, low, high, dtype)
        x = probe_inputs(knots, 300, seed=grid_size * 10 + order)
        expected = cox_de_boor(x, knots, order)
        got = gpu_kernels.basis(x.reshape(1, -1).to(DEVICE),
                                make_knots(grid_size, order, (low, high), dtype, DEVICE),
                                grid_size, order)
        assert got.shape == (1, grid_size + order, len(x)) and got.dtype == dtype
        worst = max(worst, float((got[0].t().cpu() - expected).abs().max()))
    assert worst <= tol


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_input", [False, True])
def test_kernels_give_the_pytorch_engines_values_and_gradients(order, dtype, per_input):
    """Both ops that use the kernels, with more inputs than one program's block (so several
    blocks, the last one partial), inputs on knots, NaN and infinities."""
    torch.manual_seed(order)
    n, grid_size = 1100, 6
    x = torch.rand(5, n, dtype=dtype) * 3 - 1.5
    x[0, :5] = make_knots(grid_size, order, (-1.0, 1.0), dtype)[:5]  # exactly on knots
    x[1, 1070:1073] = torch.tensor([float("nan"), float("inf"), -float("inf")], dtype=dtype)
    ranges = (-1.0, 1.0)
    if per_input:
        ranges = torch.stack([-1 - torch.rand(n), 1 + torch.rand(n)], -1).double()
    knots = make_knots(grid_size, order, ranges, dtype, DEVICE)
    weight = torch.randn(4, n, grid_size + order, dtype=dtype)
    grad_out, grad_act = torch.randn(5, 4, dtype=dtype), torch.randn(5, n, dtype=dtype)

    def run(kernels: bool) -> list[torch.Tensor]:
        a, w, c = (t.detach().clone().to(DEVICE).requires_grad_() for t in (x, weight, weight[0]))
        with engine(kernels):
            y = spline_linear(a, w, knots, grid_size, order)
            z = spline_activation(a, c, knots, grid_size, order)
            torch.autograd.backward([y, z], [grad_out.to(DEVICE), grad_act.to(DEVICE)])
        return [t.cpu() for t in (y, z, a.grad, w.grad, c.grad)]

    ours, reference = run(True), run(False)
    atol = 1e-4 if dtype == torch.float32 else 1e-11
    for got, expected in zip(ours, reference):
        assert torch.equal(got.isnan(), expected.isnan())
        assert torch.allclose(got.nan_to_num(), expected.nan_to_num(), atol=atol)


def test_the_input_gradient_kernel_overwrites_its_input_with_the_basis():
    x = (torch.rand(5, 9, dtype=torch.float64) * 2 - 1).to(DEVICE)
    knots = make_knots(4, 3, (-1.0, 1.0), torch.float64, DEVICE)
    grad_basis = torch.randn(5, 7, 9, dtype=torch.float64, device=DEVICE)
    gpu_kernels.grad_input_(grad_basis, x, knots, 4, 3)
    assert torch.equal(grad_basis, gpu_kernels.basis(x, knots, 4, 3))
    with pytest.raises(ValueError, match="contiguous"):
        gpu_kernels.grad_input_(grad_basis.transpose(0, 1), x, knots, 4, 3)


def test_the_kernels_serve_cuda_tensors_only_and_can_be_switched_off(monkeypatch):
    assert not gpu_kernels.usable(torch.zeros(2, 3))
    assert not gpu_kernels.usable(torch.zeros(2, 3, dtype=torch.float16, device=DEVICE))
    if DEVICE.type == "cuda":
        assert gpu_kernels.usable(torch.zeros(2, 3, device=DEVICE))
        monkeypatch.setattr(gpu_kernels, "_enabled", False)
        assert not gpu_kernels.usable(torch.zeros(2, 3, device=DEVICE))
