"""The uniform B-spline's pieces: the K+1 polynomials of the local coordinate u that the
non-zero basis functions of a cell take, from the de Boor triangle.

Its own module because both the PyTorch engine (bspline.py) and the Triton kernels'
host side (gpu_kernels.py) need the same coefficient tables, and neither should import
the other.
"""
from __future__ import annotations

import functools

import torch
from numpy.polynomial import Polynomial


def de_boor_step(u: torch.Tensor, v: torch.Tensor, previous: list[torch.Tensor],
                 k: int) -> list[torch.Tensor]:
    """Uniform-knot de Boor step from order k-1 to order k, without the 1/k factor (the
    caller divides by K! once). Entry r of order k is basis function c - k + r at local
    coordinate u (v = 1 - u): k·N_k(u+k-r) = (u+k-r)·N_{k-1}(u+k-r) + (v+r)·N_{k-1}(u+k-1-r)."""
    level = []
    for r in range(k + 1):
        term = None
        if r >= 1:
            term = (u + (k - r) if k > r else u) * previous[r - 1]
        if r < k:
            right = (v + r if r else v) * previous[r]
            term = right if term is None else term + right
        level.append(term)
    return level



@functools.lru_cache(maxsize=None)
def piece_coefficients(spline_order: int) -> tuple[tuple[float, ...], ...]:
    """Rows d = 0..K: the coefficient of u^d in K!·piece r, r = 0..K (small integers), from
    the same de Boor steps run on polynomials in u."""
    u = Polynomial([0.0, 1.0])
    pieces = [Polynomial([1.0])]
    for k in range(1, spline_order + 1):
        pieces = de_boor_step(u, 1 - u, pieces, k)
    coefficients = [piece.coef.tolist() + [0.0] * (spline_order + 1 - len(piece.coef))
                    for piece in pieces]
    return tuple(zip(*coefficients))



def piece_polynomials(spline_order: int, dtype: torch.dtype,
                       device) -> tuple[torch.Tensor, torch.Tensor]:
    """The coefficient matrices of K!·pieces and of their derivatives in u, (K+1, K+1) and
    (K, K+1)."""
    values = torch.tensor(piece_coefficients(spline_order), dtype=dtype, device=device)
    degree = torch.arange(1, spline_order + 1, dtype=dtype, device=device).unsqueeze(-1)
    return values, values[1:] * degree  # d/du of c·u^d is d·c·u^(d-1)

