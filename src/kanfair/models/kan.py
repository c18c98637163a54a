"""KAN layers (the paper's model, pykan with the symbolic branch off) on the B-spline engine.

Each edge i -> o computes phi(x_i) = s_b[o,i]·b(x_i) + s_s[o,i]·sum_j c[o,i,j]·B_j(x_i);
outputs sum over inputs plus a bias. Batched, that is two matrix products:
y = b(x) @ s_b^T + basis(x) @ (s_s·c)^T + bias.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.models import native
from kanfair.models.bspline import GridRange, bspline_basis, make_knots, spline_linear

SHORTCUTS = {"silu": F.silu, "identity": lambda x: x}
NOISE_SCALE = 0.1
GRID_MARGIN = 0.01
REFIT_POINTS_PER_BASIS = 4
REFIT_RIDGE = 1e-8


def noise_fit_coefficients(shape: tuple[int, ...], grid_size: int, spline_order: int,
                           grid_range: GridRange) -> torch.Tensor:
    """pykan's spline init: coefficients (least-norm fit) whose spline takes small noise
    values (rand - 0.5)·0.1/G at the G+1 grid points. Returns shape (*shape, G+K)."""
    low, high = (float(v) for v in grid_range)
    points = torch.linspace(low, high, grid_size + 1, dtype=torch.float64)
    design = bspline_basis(points.unsqueeze(-1), grid_size, spline_order, (low, high))[:, 0, :]
    noise = (torch.rand(*shape, grid_size + 1, dtype=torch.float64) - 0.5) * NOISE_SCALE / grid_size
    return (noise @ torch.linalg.pinv(design).t()).float()


class KANLinear(nn.Module):
    """One KAN layer: in_features -> out_features, every edge a learnable B-spline function."""

    def __init__(self, in_features: int, out_features: int, grid_size: int = 5,
                 spline_order: int = 3, grid_range: GridRange = (-1.0, 1.0),
                 shortcut: str = "silu", init: str = "kanbefair") -> None:
        super().__init__()
        if shortcut not in (*SHORTCUTS, "zero"):
            raise ValueError(f"shortcut must be silu, identity or zero, got '{shortcut}'")
        if init not in ("kanbefair", "efficient"):
            raise ValueError(f"init must be kanbefair or efficient, got '{init}'")
        self.in_features, self.out_features = in_features, out_features
        self.grid_size, self.spline_order, self.shortcut = grid_size, spline_order, shortcut
        self.register_buffer("knots", make_knots(grid_size, spline_order, grid_range))
        native.prepare(spline_order)
        self.coef = nn.Parameter(noise_fit_coefficients(
            (out_features, in_features), grid_size, spline_order, grid_range))
        self.spline_scale = nn.Parameter(torch.ones(out_features, in_features))
        self.base_scale = None
        if shortcut != "zero":
            self.base_scale = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self._init_scales(init)

    def _init_scales(self, init: str) -> None:
        if init == "efficient":  # efficient-kan: kaiming-uniform scales, as nn.Linear's weight
            nn.init.kaiming_uniform_(self.spline_scale, a=math.sqrt(5))
            if self.base_scale is not None:
                nn.init.kaiming_uniform_(self.base_scale, a=math.sqrt(5))
        elif self.base_scale is not None:  # pykan as used by KANbeFair
            noise = torch.randn(self.out_features, self.in_features) * 2 - 1
            with torch.no_grad():
                self.base_scale.copy_(1 / math.sqrt(self.in_features) + noise * NOISE_SCALE)

    def extra_repr(self) -> str:
        return (f"{self.in_features} -> {self.out_features}, grid_size={self.grid_size}, "
                f"spline_order={self.spline_order}, shortcut={self.shortcut}")

    def spline_weight(self) -> torch.Tensor:
        return self.spline_scale.unsqueeze(-1) * self.coef

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        y = spline_linear(flat, self.spline_weight(), self.knots, self.grid_size, self.spline_order)
        if self.base_scale is not None:
            y = y + F.linear(SHORTCUTS[self.shortcut](flat), self.base_scale)
        return (y + self.bias).reshape(*x.shape[:-1], self.out_features)

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = GRID_MARGIN) -> None:
        """Move each input's grid to the range of `x` (plus a margin) and refit the
        coefficients by least squares so the edge functions are preserved there."""
        flat = x.reshape(-1, self.in_features).to(self.coef.dtype)
        low, high = flat.min(0).values, flat.max(0).values
        span = (high - low).clamp_min(1e-3)
        ranges = torch.stack([low - margin * span, high + margin * span], -1)
        n_basis = self.grid_size + self.spline_order
        steps = torch.linspace(0, 1, REFIT_POINTS_PER_BASIS * n_basis, dtype=ranges.dtype,
                               device=ranges.device)
        points = ranges[:, :1] + steps * (ranges[:, 1:] - ranges[:, :1])  # (in, P)
        old = bspline_basis(points.t(), self.grid_size, self.spline_order, knots=self.knots)
        targets = torch.einsum("pij,oij->iop", old, self.coef)  # (in, out, P)
        new_knots = make_knots(self.grid_size, self.spline_order, ranges.double(),
                               dtype=self.knots.dtype, device=self.knots.device)
        design = bspline_basis(points.t(), self.grid_size, self.spline_order, knots=new_knots)
        design = design.permute(1, 0, 2)  # (in, P, G+K)
        gram = design.transpose(1, 2) @ design
        gram += REFIT_RIDGE * torch.eye(n_basis, dtype=gram.dtype, device=gram.device)
        rhs = design.transpose(1, 2) @ targets.transpose(1, 2)  # (in, G+K, out)
        self.coef.copy_(torch.linalg.solve(gram, rhs).permute(2, 0, 1))
        self.knots = new_knots


class KAN(nn.Module):
    """A stack of KANLinear layers, widths [in] + hidden + [out].

    grid_update_every=N > 0 adapts every layer's grid to its inputs every N training steps
    (0, the paper's setting, keeps the grid fixed)."""

    def __init__(self, widths: Sequence[int], grid_size: int = 5, spline_order: int = 3,
                 grid_range: GridRange = (-1.0, 1.0), shortcut: str = "silu",
                 init: str = "kanbefair", grid_update_every: int = 0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            KANLinear(d_in, d_out, grid_size, spline_order, grid_range, shortcut, init)
            for d_in, d_out in zip(widths[:-1], widths[1:]))
        self.grid_update_every = grid_update_every
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.grid_update_every:
            if self.steps > 0 and int(self.steps) % self.grid_update_every == 0:
                self.update_grid(x)
            self.steps += 1
        for layer in self.layers:
            x = layer(x)
        return x

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor) -> None:
        for layer in self.layers:
            layer.update_grid(x)
            x = layer(x)
