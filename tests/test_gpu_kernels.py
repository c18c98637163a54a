"""The Triton kernels against the recursion and against the PyTorch-ops engine: on a GPU
where there is one, else on CPU in Triton's interpreter (conftest sets TRITON_INTERPRET=1
before Triton loads), which runs the same kernel code on CPU tensors."""
from __future__ import annotations

import contextlib

import pytest
import torch

from kanfair.models.engine import bspline, gpu_kernels, native
from kanfair.models.engine.bspline import make_knots
from test_bspline import assert_same_outputs, fused_ops_case, fused_ops_outputs, worst_basis_error

pytestmark = pytest.mark.skipif(not gpu_kernels.available(), reason="Triton is not installed")
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def engine(kernels: bool):
    """The spline ops on the Triton kernels (on CPU: let them take CPU tensors, C++ kernels
    off), or on PyTorch ops alone. The first-use self-check is held passed here (it has its
    own test): a check that failed would put both sides on PyTorch ops and prove nothing."""
    usable, passed = gpu_kernels.usable, bspline.gpu_kernels_pass
    gpu_kernels.usable = (lambda x: True) if kernels and DEVICE.type == "cpu" else (
        usable if kernels else lambda x: False)
    bspline.gpu_kernels_pass = lambda device: True
    try:
        with native.disabled():
            yield
    finally:
        gpu_kernels.usable, bspline.gpu_kernels_pass = usable, passed


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_kernel_basis_equals_cox_de_boor_inside_on_knots_and_outside(dtype, tol):
    """All inputs in one batch row: (1, m) -> (1, G+K, m)."""
    assert worst_basis_error(lambda x, knots, grid_size, order: gpu_kernels.basis(
        x.reshape(1, -1).to(DEVICE), knots.to(DEVICE), grid_size, order)[0].t().cpu(), dtype) <= tol


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_input", [False, True])
def test_kernels_give_the_pytorch_engines_values_and_gradients(order, dtype, per_input):
    """Both ops that use the kernels, with more inputs than one program's block (so several
    blocks, the last one partial), inputs on knots, NaN and infinities."""
    case = fused_ops_case(order, dtype, per_input, n=1100, batch=5, device=DEVICE)
    with engine(kernels=True):
        ours = fused_ops_outputs(case, order, DEVICE)
    with engine(kernels=False):
        reference = fused_ops_outputs(case, order, DEVICE)
    assert_same_outputs(ours, reference, dtype)


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


def test_the_self_check_passes_the_kernels_and_turns_broken_ones_off(monkeypatch):
    """What a CUDA process runs before its first kernel call (here on the interpreter): the
    real kernels pass; a kernel that is off by 0.1% or fails to compile turns them off with
    one warning, the process goes on on PyTorch ops, and failure() says why (records keep it)."""
    check = bspline.gpu_kernels_pass.__wrapped__  # uncached: one check per call
    monkeypatch.setattr(gpu_kernels, "_enabled", True)
    monkeypatch.setattr(gpu_kernels, "_failed", None)
    assert check(DEVICE) and gpu_kernels.failure() is None
    for evaluation in (torch.no_grad, torch.inference_mode):  # a first use may be there: the check
        with evaluation():                                     # takes its gradient all the same
            assert check(DEVICE) and gpu_kernels.failure() is None
    real = gpu_kernels.basis
    monkeypatch.setattr(gpu_kernels, "basis", lambda *args: real(*args) * 1.001)
    with pytest.warns(RuntimeWarning, match="failed their self-check"):
        assert not check(DEVICE)
    assert gpu_kernels.failure().startswith("ValueError: order ") and not gpu_kernels.active()

    def no_compiler(*args):
        raise RuntimeError("PTX compile failed\nlong log")

    monkeypatch.setattr(gpu_kernels, "_enabled", True)
    monkeypatch.setattr(gpu_kernels, "basis", no_compiler)
    with pytest.warns(RuntimeWarning, match="RuntimeError: PTX compile failed"):
        assert not check(DEVICE)
    assert not gpu_kernels.usable(torch.zeros(2, 3, device=DEVICE))
