"""B-spline activations in MLPs (KANbeFair's ablation): the learnable-activation half of a
KAN without its per-edge functions, to separate "learnable activation" from "KAN"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from kanfair.flops import LayerCost, linear_row
from kanfair.models.engine import native
from kanfair.models.engine.bspline import ExactKnots, GridRange, basis_jet, make_knots, spline_activation
from kanfair.models import jet
from kanfair.models.family import Family, Spec
from kanfair.models.kan import (SplineConfig, basis_ops, check_spline_twice_differentiable,
                                kanbefair_spline_term, noise_fit_coefficients, spline_label)
from kanfair.models.mlp import check_no_batch_norm
from kanfair.models.refit import refine_stack, refit_spline


class BSplineActivation(ExactKnots):
    """One learnable spline per channel: y_c = sum_j coef[c, j]·B_j(x_c), no shortcut."""

    def __init__(self, channels: int, grid_size: int = 5, spline_order: int = 3,
                 grid_range: GridRange = (-1.0, 1.0)) -> None:
        super().__init__()
        self.channels, self.grid_size, self.spline_order = channels, grid_size, spline_order
        self.grid_range = tuple(float(v) for v in grid_range)
        self.register_buffer("knots", make_knots(grid_size, spline_order, grid_range))
        native.prepare(spline_order)
        self.coef = nn.Parameter(noise_fit_coefficients((channels,), grid_size, spline_order,
                                                        grid_range))

    def extra_repr(self) -> str:
        return f"{self.channels}, grid_size={self.grid_size}, spline_order={self.spline_order}"

    @torch.no_grad()
    def extend(self, grid_size: int, x: torch.Tensor) -> None:
        """Grid extension, as KANLinear.extend: `grid_size` intervals on the same range,
        each channel's spline fitted by least squares to the current one on the inputs `x`."""
        knots = make_knots(grid_size, self.spline_order, self.grid_range, dtype=self.knots.dtype,
                           device=self.knots.device)
        coef = refit_spline(x.reshape(-1, self.channels), self.coef.unsqueeze(0), self.knots,
                            self.grid_size, self.spline_order, knots, grid_size)
        self.coef = nn.Parameter(coef[0])
        self.knots, self.grid_size = knots, grid_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spline_activation(x, self.coef, self.knots, self.grid_size, self.spline_order)

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet), channel by channel, from the basis
        and its derivatives."""
        def spline(v: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return tuple((basis * self.coef).sum(-1)
                         for basis in basis_jet(v, self.knots, self.grid_size, self.spline_order))
        return jet.elementwise(inputs, spline)


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

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        return jet.through(self, inputs)


@dataclass
class BSplineMLPConfig(SplineConfig):
    name: str = "bspline_mlp"
    batch_norm: bool = False


@dataclass
class BSplineFirstMLPConfig(BSplineMLPConfig):
    name: str = "bspline_first_mlp"


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """kanbefair: the paper's formula, a spline on every layer, the last included (on
    d_out channels, or d_in for spline-first). ops and macs: the splines that run."""
    grid, order = spec["grid_size"], spec["spline_order"]
    n_basis = grid + order
    first = spec["name"] == "bspline_first_mlp"
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = index < len(widths) - 2
        row = linear_row(f"layer{index}", d_in, d_out, convention, batch_norm=spec["batch_norm"] and hidden)
        if convention == "kanbefair":
            channels = d_in if first else d_out
            row.flops += channels * (kanbefair_spline_term(grid, order) - 1)
        else:
            channels = d_in if first else (d_out if hidden else 0)
            row.flops += channels * (basis_ops(order) + 2 * n_basis if convention == "ops" else n_basis)
        row.params += channels * n_basis
        rows.append(row)
    return rows


def _build(spec: Spec, in_dim: int, out_dim: int) -> nn.Module:
    return BSplineMLP([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
                      tuple(spec["grid_range"]), spec["batch_norm"],
                      spline_first=spec["name"] == "bspline_first_mlp")


def _check_twice_differentiable(spec: Spec) -> None:
    check_spline_twice_differentiable(spec)
    check_no_batch_norm(spec)


FAMILY = Family("bspline_mlp", BSplineMLPConfig, _build, layer_costs, knob="grid_size",
                label=spline_label, check_twice_differentiable=_check_twice_differentiable,
                refine=refine_stack)
FIRST_FAMILY = Family("bspline_first_mlp", BSplineFirstMLPConfig, _build, layer_costs,
                      knob="grid_size", label=spline_label,
                      check_twice_differentiable=_check_twice_differentiable, refine=refine_stack)
