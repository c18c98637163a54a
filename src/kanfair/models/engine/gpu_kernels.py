"""The engine's GPU kernels (Triton): the dense basis, and d loss/dx with the basis, one
pass each, as the C++ kernels do on CPU (kanfair.models.engine.native).

Why kernels: eager PyTorch builds the basis in several passes over memory (cell, powers
of u, pieces, scatter), each a kernel launch that reads and writes (B, n, K+1)-sized
tensors; on a GPU the layer was slower than the Cox-de Boor recursion it replaces. Here
one program computes a tile of inputs' cells and local coordinates in registers and
writes their whole basis column block (G+K rows, laid out (B, G+K, n) like the C++
kernels') once; backward reads d loss/d basis once, writes d loss/dx, and overwrites
d loss/d basis with the basis for the weight gradient.

Same convention and arithmetic as bspline.py's eager path: cell from floor((x - t_0)/h)
(K >= 1) or from comparisons with the knots (K = 0), u measured from the cell's own knot,
and the pieces as polynomials in u with the integer coefficients of K!·piece (Horner's
rule; the coefficient row of each basis function is gathered by its piece index). NaN
inputs give NaN as the eager path does.

Used on CUDA tensors where Triton imports (it ships with PyTorch's CUDA wheels), outside
torch.compile (whose Inductor path fuses the eager ops itself), once they have passed a
self-check on the device (bspline.py runs it at first use; a failure turns them off for
the process with one warning, and a record says so); KANFAIR_GPU_KERNELS=0 turns them off. With TRITON_INTERPRET=1 Triton runs the same kernels on CPU tensors, which
is how the tests check their arithmetic on a machine without a GPU.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import warnings
from typing import Optional

import torch

from kanfair.models.engine.pieces import piece_polynomials

MAX_BLOCK = 8192  # elements in one program's tile: basis rows x inputs
_enabled = os.environ.get("KANFAIR_GPU_KERNELS", "1") != "0"
_failed: Optional[str] = None  # why the self-check turned them off in this process
_DTYPES = (torch.float32, torch.float64)


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """Whether Triton is installed (CPU-only installs may lack it: the engine then runs
    on PyTorch ops on GPUs)."""
    return importlib.util.find_spec("triton") is not None


def active() -> bool:
    """Whether CUDA runs in this process take the kernels: a record says so, since they
    change a GPU run's timings (not its numbers beyond rounding)."""
    return _enabled and available()


def turn_off(reason: str) -> None:
    """PyTorch ops for the rest of the process, after a failed self-check; said once."""
    global _enabled, _failed
    _enabled, _failed = False, reason
    warnings.warn(f"kanfair: the Triton B-spline kernels failed their self-check ({reason}); running on "
                  "PyTorch ops (the same numbers, slower). Set KANFAIR_GPU_KERNELS=0 to silence this.",
                  RuntimeWarning)


def failure() -> Optional[str]:
    """Why the self-check turned the kernels off in this process, or None."""
    return _failed


def usable(x: torch.Tensor) -> bool:
    """Whether the kernels serve this input: a CUDA float32/64 tensor, Triton present,
    enabled, outside torch.compile."""
    return (_enabled and x.is_cuda and x.dtype in _DTYPES and available()
            and not torch.compiler.is_compiling())


@functools.lru_cache(maxsize=None)
def _tables(spline_order: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients of u^d in piece r as a (K+1, K+1) table [d, r], and of its derivative
    in u as (max(K, 1), K+1), on the device: pieces.py's integer tables of K!·piece, / K!."""
    values, slopes = piece_polynomials(spline_order, torch.float64, "cpu")
    if spline_order == 0:
        slopes = torch.zeros(1, 1, dtype=torch.float64)
    norm = math.factorial(spline_order)
    return (values / norm).to(dtype=dtype, device=device), (slopes / norm).to(dtype=dtype, device=device)


def _launch(x: torch.Tensor, knots: torch.Tensor, grid_size: int, spline_order: int,
            out: torch.Tensor, grad_x: torch.Tensor | None) -> None:
    import triton

    from kanfair.models.engine.triton_spline import spline_kernel

    if x.dim() != 2 or knots.dtype != x.dtype or knots.device != x.device:
        raise ValueError("x must be (B, n), with knots of its dtype on its device")
    batch, n = x.shape
    n_basis, n_cells = grid_size + spline_order, grid_size + 2 * spline_order
    if knots.shape not in ((n_cells + 1,), (n, n_cells + 1)):
        raise ValueError(f"knots must be ({n_cells + 1},) or ({n}, {n_cells + 1}), not {tuple(knots.shape)}")
    block_j = triton.next_power_of_2(n_basis)
    block_n = max(16, min(triton.next_power_of_2(n), MAX_BLOCK // block_j))
    values, slopes = _tables(spline_order, x.dtype, x.device)
    backward = grad_x is not None
    spline_kernel[(batch, triton.cdiv(n, block_n))](
        x, knots, out, values, slopes, grad_x if backward else x, n, n_basis, n_cells, grid_size,
        0 if knots.dim() == 1 else knots.shape[-1], K=spline_order, BLOCK_J=block_j,
        BLOCK_N=block_n, BACKWARD=backward)


def basis(x: torch.Tensor, knots: torch.Tensor, grid_size: int, spline_order: int) -> torch.Tensor:
    """The dense basis of x (B, n) as (B, G+K, n)."""
    x, knots = x.contiguous(), knots.contiguous()
    out = x.new_empty(x.shape[0], grid_size + spline_order, x.shape[1])
    _launch(x, knots, grid_size, spline_order, out, None)
    return out


def grad_input_(grad_basis: torch.Tensor, x: torch.Tensor, knots: torch.Tensor,
                grid_size: int, spline_order: int) -> torch.Tensor:
    """d loss/dx from d loss/d basis (B, G+K, n), which is overwritten with the basis."""
    if not grad_basis.is_contiguous():
        raise ValueError("grad_input_ overwrites grad_basis in place: pass a contiguous tensor")
    x, knots = x.contiguous(), knots.contiguous()
    grad_x = torch.empty_like(x)
    _launch(x, knots, grid_size, spline_order, grad_basis, grad_x)
    return grad_x
