"""KAN layers (the paper's model, pykan with the symbolic branch off) on the B-spline engine.

Each edge i -> o computes phi(x_i) = s_b[o,i]·b(x_i) + s_s[o,i]·sum_j c[o,i,j]·B_j(x_i);
outputs sum over inputs plus a bias. Batched, that is two matrix products:
y = b(x) @ s_b^T + basis(x) @ (s_s·c)^T + bias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.flops import ACTIVATION_FLOPS, LayerCost
from kanfair.models.engine import native
from kanfair.models import jet
from kanfair.models.engine.bspline import (ExactKnots, GridRange, basis_jet, bspline_basis, make_knots,
                                           scaled_spline_weight, spline_linear)
from kanfair.models.family import Family, Spec
from kanfair.models.refit import refine_stack, refit_spline
from kanfair.schema import ModelConfig, check, check_at_least, check_choice, check_range

SHORTCUTS = {"silu": F.silu, "identity": lambda x: x}
NOISE_SCALE = 0.1
GRID_MARGIN = 0.01
REFIT_POINTS_PER_BASIS = 4  # a grid update's refit points per basis function


def noise_fit_coefficients(shape: tuple[int, ...], grid_size: int, spline_order: int,
                           grid_range: GridRange) -> torch.Tensor:
    """pykan's spline init: coefficients (least-norm fit) whose spline takes small noise
    values (rand - 0.5)·0.1/G at the G+1 grid points. Returns shape (*shape, G+K)."""
    low, high = (float(v) for v in grid_range)
    points = torch.linspace(low, high, grid_size + 1, dtype=torch.float64)
    design = bspline_basis(points.unsqueeze(-1), grid_size, spline_order, (low, high))[:, 0, :]
    noise = (torch.rand(*shape, grid_size + 1, dtype=torch.float64) - 0.5) * NOISE_SCALE / grid_size
    return (noise @ torch.linalg.pinv(design).t()).float()


class KANLinear(ExactKnots):
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
        self.grid_range = tuple(float(v) for v in grid_range)
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
        return scaled_spline_weight(self.spline_scale, self.coef)

    def edge_scales(self, x: torch.Tensor) -> torch.Tensor:
        """Each edge's size on the inputs `x`, as the KAN paper's sparsity and pruning read it
        (pykan v1's `acts_scale`): mean_s |phi_oi(x_si)| over the width of input i's grid,
        shape (out, in). Differentiable in the parameters (the sparsity penalty trains on it)."""
        flat = x.reshape(-1, self.in_features)
        basis = bspline_basis(flat, self.grid_size, self.spline_order, knots=self.knots)  # (B, in, G+K)
        phi = torch.einsum("bij,oij->boi", basis, self.spline_weight())
        if self.base_scale is not None:
            phi = phi + SHORTCUTS[self.shortcut](flat)[:, None, :] * self.base_scale
        ends = self.knots[..., [self.spline_order, self.grid_size + self.spline_order]]
        width = (ends[..., 1] - ends[..., 0]).expand(self.in_features)
        return phi.abs().mean(0) / (width + 1e-4)

    @torch.no_grad()
    def keep(self, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        """Keep only the edges from `inputs` to `outputs` (index tensors): a pruned layer,
        its parameters new tensors (an optimizer must be made anew)."""
        self.coef = nn.Parameter(self.coef[outputs][:, inputs].clone())
        self.spline_scale = nn.Parameter(self.spline_scale[outputs][:, inputs].clone())
        if self.base_scale is not None:
            self.base_scale = nn.Parameter(self.base_scale[outputs][:, inputs].clone())
        self.bias = nn.Parameter(self.bias[outputs].clone())
        if self.knots.dim() == 2:  # per-input grids (moved to the data)
            self.knots = self.knots[inputs].clone()
        self.in_features, self.out_features = len(inputs), len(outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        y = spline_linear(flat, self.spline_weight(), self.knots, self.grid_size, self.spline_order)
        if self.base_scale is not None:
            y = y + F.linear(SHORTCUTS[self.shortcut](flat), self.base_scale)
        return (y + self.bias).reshape(*x.shape[:-1], self.out_features)

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """The output jet of an input jet (kanfair.models.jet): each edge's phi, phi' and
        phi'' from the basis and its derivatives, chained, in one matmul with the weights."""
        features = basis_jet(inputs[0], self.knots, self.grid_size, self.spline_order)
        out = jet.basis_map(inputs, *features, self.spline_weight().flatten(1))
        if self.base_scale is not None:
            out = out + jet.linear(jet.elementwise(inputs, jet.ELEMENTWISE[self.shortcut]), self.base_scale)
        return jet.add_bias(out, self.bias)

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = GRID_MARGIN) -> None:
        """Move each input's grid to the range of `x` (plus a margin) and refit the
        coefficients by least squares on points spread over it, so the edge functions
        are preserved there."""
        flat = x.reshape(-1, self.in_features).to(self.coef.dtype)
        low, high = flat.min(0).values, flat.max(0).values
        span = (high - low).clamp_min(1e-3)
        ranges = torch.stack([low - margin * span, high + margin * span], -1)
        steps = torch.linspace(0, 1, REFIT_POINTS_PER_BASIS * (self.grid_size + self.spline_order),
                               dtype=ranges.dtype, device=ranges.device)
        points = ranges[:, :1] + steps * (ranges[:, 1:] - ranges[:, :1])  # (in, P)
        knots = make_knots(self.grid_size, self.spline_order, ranges.double(),
                           dtype=self.knots.dtype, device=self.knots.device)
        self.coef.copy_(refit_spline(points.t(), self.coef, self.knots, self.grid_size,
                                     self.spline_order, knots, self.grid_size))
        self.knots = knots

    @torch.no_grad()
    def extend(self, grid_size: int, x: torch.Tensor) -> None:
        """Grid extension: `grid_size` intervals on each input's current range, the new
        coefficients fitted by least squares to the current splines on the inputs `x`
        (exact where the new grid contains the old knots). A new coefficient tensor: an
        optimizer must be made anew."""
        ends = self.knots.double()[..., [self.spline_order, self.grid_size + self.spline_order]]
        knots = make_knots(grid_size, self.spline_order, ends, dtype=self.knots.dtype,
                           device=self.knots.device)
        self.coef = nn.Parameter(refit_spline(x.reshape(-1, self.in_features), self.coef, self.knots,
                                              self.grid_size, self.spline_order, knots, grid_size))
        self.knots, self.grid_size = knots, grid_size


class KAN(nn.Module):
    """A stack of KANLinear layers, widths [in] + hidden + [out].

    grid_update_every=N > 0 adapts every layer's grid to its inputs every N training steps
    (0, the paper's setting, keeps the grid fixed). A pruned KAN (kanfair.models.pruning)
    may read only some of its input columns: `input_columns`, None for all."""

    def __init__(self, widths: Sequence[int], grid_size: int = 5, spline_order: int = 3,
                 grid_range: GridRange = (-1.0, 1.0), shortcut: str = "silu",
                 init: str = "kanbefair", grid_update_every: int = 0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            KANLinear(d_in, d_out, grid_size, spline_order, grid_range, shortcut, init)
            for d_in, d_out in zip(widths[:-1], widths[1:]))
        self.grid_update_every = grid_update_every
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("input_columns", None)

    def read_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The input columns the first layer takes (all, unless pruning dropped some)."""
        return x if self.input_columns is None else x[..., self.input_columns]

    def _count_step(self, x: torch.Tensor) -> None:
        """A training step: the grids move to x every grid_update_every steps."""
        if self.training and self.grid_update_every:
            if self.steps > 0 and int(self.steps) % self.grid_update_every == 0:
                self.update_grid(x)
            self.steps += 1

    def forward(self, x: torch.Tensor, edge_scales: Optional[list] = None) -> torch.Tensor:
        """The outputs; with a list as `edge_scales`, each layer's KANLinear.edge_scales on
        its inputs is appended to it (the sparsity penalty's terms)."""
        self._count_step(x)
        x = self.read_inputs(x)
        for layer in self.layers:
            if edge_scales is not None:
                edge_scales.append(layer.edge_scales(x))
            x = layer(x)
        return x

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet) of the outputs."""
        self._count_step(inputs[0])
        return jet.through(self.layers, self.read_inputs(inputs))

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor) -> None:
        x = self.read_inputs(x)
        for layer in self.layers:
            layer.update_grid(x)
            x = layer(x)


@dataclass
class SplineConfig(ModelConfig):
    """Grid settings shared by every model with B-spline functions."""

    grid_size: int = 5
    spline_order: int = 3
    grid_range: List[float] = field(default_factory=lambda: [-1.0, 1.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self.grid_size, 1, "model.grid_size", "5")
        check_at_least(self.spline_order, 0, "model.spline_order", "3")
        check_range(self.grid_range, "model.grid_range")


@dataclass
class KANConfig(SplineConfig):
    name: str = "kan"
    hidden: List[int] = field(default_factory=lambda: [16])
    shortcut: str = "silu"
    init: str = "kanbefair"
    grid_update_every: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.shortcut, (*SHORTCUTS, "zero"), "model.shortcut")
        check_choice(self.init, ("kanbefair", "efficient"), "model.init")
        check(self.grid_update_every >= 0, "model.grid_update_every",
              f"must be >= 0 (got {self.grid_update_every})", "use 0 to switch grid updates off")


def basis_ops(spline_order: int) -> int:
    """FLOPs of kanfair's closed-form basis for one input, as the de Boor triangle of the
    CPU kernels and the compiled layer computes it (kanfair.models.engine.bspline; PyTorch ops
    alone evaluate the same pieces as polynomials: (K+1)^2 multiply-adds, a few FLOPs
    more, fewer memory passes):
    cell and local coordinate u: (x - t_0)·(1/h), floor, (x - t_c)·(1/h): 5; v = 1 - u: 1;
    de Boor step k, entry r: a multiply per neighbour, an add of the constant to u or v
    unless it is 0, and an add joining two terms; normalisation: one multiply per piece."""
    flops = 6
    for k in range(1, spline_order + 1):
        for r in range(k + 1):
            if r >= 1:
                flops += 1 + (k > r)
            if r < k:
                flops += 1 + (r > 0)
            if 1 <= r < k:
                flops += 1
    return flops + spline_order + 1


def kanbefair_spline_term(grid_size: int, spline_order: int) -> float:
    """The paper's per-edge B-spline FLOPs without its constant: 9K(G + 1.5K) + 2G - 2.5K."""
    return 9 * spline_order * (grid_size + 1.5 * spline_order) + 2 * grid_size - 2.5 * spline_order


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """kanbefair: the paper's formulas (basis charged per edge; parameters d_in·d_out·(G+K+2)
    + d_out, plus d_in·d_out with a shortcut). ops: the basis once per input, the spline
    and shortcut matmuls, bias and the sum of the two terms."""
    grid, order, shortcut = spec["grid_size"], spec["spline_order"], spec["shortcut"]
    n_basis = grid + order
    base = shortcut != "zero"
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        edges = d_in * d_out
        trainable = edges * (n_basis + 1 + base) + d_out
        if convention == "kanbefair":
            params = edges * (n_basis + 2) + d_out + (edges if base else 0)
            flops = edges * (kanbefair_spline_term(grid, order) + 1)
            if base:
                flops += ACTIVATION_FLOPS[shortcut] * d_in + 2 * edges
        elif convention == "ops":
            params = trainable
            flops = d_in * basis_ops(order) + 2 * edges * n_basis + d_out
            if base:
                flops += ACTIVATION_FLOPS[shortcut] * d_in + 2 * edges + d_out
        else:
            params, flops = trainable, edges * (n_basis + base)
        rows.append(LayerCost(f"kan{index}", params, flops))
    return rows


def _build(spec: Spec, in_dim: int, out_dim: int) -> nn.Module:
    return KAN([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
               tuple(spec["grid_range"]), spec["shortcut"], spec["init"], spec["grid_update_every"])


def check_spline_twice_differentiable(spec: Spec) -> None:
    """A PDE's residual needs d2/dx2: a spline of order 1 (piecewise linear) has none."""
    check(spec["spline_order"] >= 2, "model.spline_order",
          f"a spline of order {spec['spline_order']} has a zero second derivative, so a PDE's "
          "residual cannot train it", "set model.spline_order=3 (cubic) for a PDE task")


def spline_label(spec: Spec) -> str:
    return f"G{spec['grid_size']} K{spec['spline_order']}"


FAMILY = Family("kan", KANConfig, _build, layer_costs, knob="grid_size", label=spline_label,
                check_twice_differentiable=check_spline_twice_differentiable,
                refine=lambda model, grid, x: refine_stack(model.layers, grid, model.read_inputs(x)))
