"""FastKAN (Li, 2024, "KANs are RBF networks"): per layer, LayerNorm on the input, Gaussian
RBFs exp(-((x - c_m)/h)^2) on G centres spread uniformly over grid_range (h = the
spacing), a bias-free linear map of the d_in·G features, plus a SiLU base linear (with
bias) applied to the input before the LayerNorm. Init as the reference: spline weights
truncated-normal with std 0.1, the base as nn.Linear.

A 1-input layer has no LayerNorm (it would map every input to 0; FastKAN refuses it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.flops import ACTIVATION_FLOPS, TRANSCENDENTAL_FLOPS, LayerCost, basis_expansion_row, linear_row
from kanfair.models import jet
from kanfair.models.family import Family, Spec
from kanfair.models.refit import least_squares, refine_stack
from kanfair.schema import ModelConfig, check_at_least, check_range

SPLINE_INIT_STD = 0.1
# per input and centre: x - c, ·(1/h), square, exp of the negation (folded into the scale)
BASIS_FLOPS_PER_CENTRE = 3 + TRANSCENDENTAL_FLOPS
LAYER_NORM_FLOPS = 5  # per element with its affine, fvcore's count of layer_norm


class _GaussianBasis(torch.autograd.Function):
    """exp(-((z - c_m)·s)^2) on a new last axis, with an analytic backward that recomputes
    z - c from z instead of keeping (z - c)·s alive: d/dz = -2·s^2·(z - c_m)·basis. The
    basis it keeps is the tensor the spline map keeps anyway."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, centres: torch.Tensor, scale: float) -> torch.Tensor:
        basis = torch.exp(-((z.unsqueeze(-1) - centres) * scale).square())
        ctx.save_for_backward(z, centres, basis)
        ctx.scale = scale
        return basis

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        # differentiable ops on saved tensors (the basis is this Function's output, so
        # autograd differentiates it through this backward again): twice differentiable
        z, centres, basis = ctx.saved_tensors
        grad_z = ((grad * basis) * (z.unsqueeze(-1) - centres)).sum(-1) * (-2 * ctx.scale ** 2)
        return grad_z, None, None


class RBFKANLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, grid_size: int = 8,
                 grid_range: Sequence[float] = (-2.0, 2.0)) -> None:
        super().__init__()
        low, high = (float(v) for v in grid_range)
        self.in_features, self.out_features, self.grid_size = in_features, out_features, grid_size
        self.norm = nn.LayerNorm(in_features) if in_features > 1 else nn.Identity()
        self.register_buffer("centres", torch.linspace(low, high, grid_size))
        self.inverse_width = (grid_size - 1) / (high - low)
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features * grid_size))
        nn.init.trunc_normal_(self.spline_weight, std=SPLINE_INIT_STD)
        self.base = nn.Linear(in_features, out_features)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, grid_size={self.grid_size}"

    def _basis(self, x: torch.Tensor) -> torch.Tensor:
        return _GaussianBasis.apply(self.norm(x), self.centres, self.inverse_width)  # (..., in, G)

    @torch.no_grad()
    def extend(self, grid_size: int, x: torch.Tensor) -> None:
        """Grid extension: `grid_size` centres on the same range, each edge's RBF sum fitted
        by least squares to the current one on the inputs `x` (Gaussians on a finer grid do
        not contain the coarse ones: the fit is close, not exact)."""
        flat = x.reshape(-1, self.in_features)
        old = self._basis(flat).permute(1, 0, 2)  # (in, P, G)
        weight = self.spline_weight.view(self.out_features, self.in_features, self.grid_size)
        targets = old @ weight.permute(1, 2, 0)  # (in, P, out)
        low, high = float(self.centres[0]), float(self.centres[-1])
        self.centres = torch.linspace(low, high, grid_size, dtype=self.centres.dtype, device=self.centres.device)
        self.inverse_width = (grid_size - 1) / (high - low)
        self.grid_size = grid_size
        solution = least_squares(self._basis(flat).permute(1, 0, 2), targets)  # (in, G', out)
        self.spline_weight = nn.Parameter(solution.permute(2, 0, 1).flatten(1).to(weight.dtype).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._basis(x).flatten(-2), self.spline_weight) + self.base(F.silu(x))

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet): through the layer norm, then each
        Gaussian g(z) = exp(-r^2), r = (z - c)s: g' = -2rs·g, g'' = (4r^2 - 2)s^2·g."""
        normed = jet.layer_norm(inputs, self.norm) if isinstance(self.norm, nn.LayerNorm) else inputs
        r = (normed[0].unsqueeze(-1) - self.centres.to(inputs.dtype)) * self.inverse_width
        gauss = torch.exp(-r * r)
        s = self.inverse_width
        spline = jet.basis_map(normed, gauss, -2 * r * s * gauss, (4 * r * r - 2) * s * s * gauss, self.spline_weight)
        return spline + jet.linear(jet.elementwise(inputs, jet.ELEMENTWISE["silu"]), self.base.weight, self.base.bias)


class RBFKAN(nn.Sequential):
    def __init__(self, widths: Sequence[int], grid_size: int = 8,
                 grid_range: Sequence[float] = (-2.0, 2.0)) -> None:
        super().__init__(*(RBFKANLayer(d_in, d_out, grid_size, grid_range)
                           for d_in, d_out in zip(widths[:-1], widths[1:])))

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        return jet.through(self, inputs)


@dataclass
class RBFKANConfig(ModelConfig):
    name: str = "rbf_kan"
    grid_size: int = 8
    grid_range: List[float] = field(default_factory=lambda: [-2.0, 2.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self.grid_size, 2, "model.grid_size", "8")
        check_range(self.grid_range, "model.grid_range")


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """LayerNorm (2·d_in parameters, 5 FLOPs per input; none for one input), G RBF features
    per input at 4 FLOPs each, the bias-free spline map, and the SiLU base linear with its
    bias and the sum of the two terms; kanbefair charges the RBFs per edge and the base
    as the paper's KAN shortcut (5·d_in + 2·d_in·d_out)."""
    grid = spec["grid_size"]
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        norm = d_in > 1
        row = basis_expansion_row(f"rbf{index}", d_in, d_out, grid, BASIS_FLOPS_PER_CENTRE * grid,
                                  convention, bias=False)
        base = linear_row("base", d_in, d_out, convention)
        row.params += base.params + (2 * d_in if norm else 0)
        row.flops += base.flops
        if convention != "macs":
            row.flops += ACTIVATION_FLOPS["silu"] * d_in
        if convention == "ops":
            row.flops += d_out + (LAYER_NORM_FLOPS * d_in if norm else 0)
        rows.append(row)
    return rows


FAMILY = Family("rbf_kan", RBFKANConfig,
                lambda spec, d_in, d_out: RBFKAN([d_in, *spec["hidden"], d_out], spec["grid_size"],
                                                 spec["grid_range"]),
                layer_costs, knob="grid_size", knob_min=2, label=lambda spec: f"G{spec['grid_size']}",
                refine=refine_stack)
