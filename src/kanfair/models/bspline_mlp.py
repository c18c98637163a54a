"""B-spline activations in MLPs (KANbeFair's ablation): the learnable-activation half of a
KAN without its per-edge functions, to separate "learnable activation" from "KAN"."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from kanfair.models import native
from kanfair.models.bspline import GridRange, make_knots, spline_activation
from kanfair.models.kan import noise_fit_coefficients


class BSplineActivation(nn.Module):
    """One learnable spline per channel: y_c = sum_j coef[c, j]·B_j(x_c), no shortcut."""

    def __init__(self, channels: int, grid_size: int = 5, spline_order: int = 3,
                 grid_range: GridRange = (-1.0, 1.0)) -> None:
        super().__init__()
        self.channels, self.grid_size, self.spline_order = channels, grid_size, spline_order
        self.register_buffer("knots", make_knots(grid_size, spline_order, grid_range))
        native.prepare(spline_order)
        self.coef = nn.Parameter(noise_fit_coefficients((channels,), grid_size, spline_order,
                                                        grid_range))

    def extra_repr(self) -> str:
        return f"{self.channels}, grid_size={self.grid_size}, spline_order={self.spline_order}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spline_activation(x, self.coef, self.knots, self.grid_size, self.spline_order)


class BSplineMLP(nn.Sequential):
    """Linear -> [BatchNorm1d] -> BSplineActivation per hidden layer, then a final Linear;
    with `spline_first`, a BSplineActivation before every Linear instead."""

    def __init__(self, widths: Sequence[int], grid_size: int = 5, spline_order: int = 3,
                 grid_range: GridRange = (-1.0, 1.0), batch_norm: bool = False,
                 spline_first: bool = False) -> None:
        spline = lambda channels: BSplineActivation(channels, grid_size, spline_order, grid_range)  # noqa: E731
        layers: list[nn.Module] = []
        for position, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
            hidden = position < len(widths) - 2
            if spline_first:
                layers.append(spline(d_in))
            layers.append(nn.Linear(d_in, d_out))
            if hidden and batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            if hidden and not spline_first:
                layers.append(spline(d_out))
        super().__init__(*layers)
