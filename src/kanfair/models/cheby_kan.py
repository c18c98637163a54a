"""ChebyKAN (SynodicMonth, 2024): tanh squashes each input into [-1, 1], every edge is
phi_oi(x) = sum_{k=0..d} c_oik·T_k(tanh x) with the Chebyshev polynomials T_k; no bias
(T_0 = 1 gives each edge a constant). Init as the reference: c ~ N(0, 1/(d_in·(d+1))).

The reference evaluates T_k(t) as cos(k·acos t); kanfair uses the three-term recurrence
T_{k+1} = 2t·T_k - T_{k-1}, the same values to rounding, fewer FLOPs, and finite
gradients at t = ±1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.flops import ACTIVATION_FLOPS, LayerCost, basis_expansion_row
from kanfair.models import jet
from kanfair.models.family import Family, Spec
from kanfair.models.refit import refine_stack
from kanfair.schema import ModelConfig, check_at_least


def chebyshev_features(t: torch.Tensor, degree: int) -> torch.Tensor:
    """T_0(t) .. T_degree(t) stacked on a new last axis."""
    features = [torch.ones_like(t), t]
    two_t = 2 * t
    for _ in range(2, degree + 1):
        features.append(two_t * features[-1] - features[-2])
    return torch.stack(features[:degree + 1], -1)


def basis_flops(degree: int) -> int:
    """tanh (6), then 2t once and a multiply and a subtraction per k >= 2."""
    return ACTIVATION_FLOPS["tanh"] + (1 + 2 * (degree - 1) if degree >= 2 else 0)


class ChebyKANLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, degree: int = 4) -> None:
        super().__init__()
        self.in_features, self.out_features, self.degree = in_features, out_features, degree
        self.coef = nn.Parameter(torch.randn(out_features, in_features, degree + 1)
                                 / (in_features * (degree + 1)))

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, degree={self.degree}"

    @torch.no_grad()
    def extend(self, degree: int, x: torch.Tensor) -> None:
        """Grid extension: polynomials up to `degree`, the new terms' coefficients zero, so
        the layer's function is unchanged exactly (`x` is not needed)."""
        pad = self.coef.new_zeros(*self.coef.shape[:-1], degree - self.degree)
        self.coef = nn.Parameter(torch.cat([self.coef, pad], -1))
        self.degree = degree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = chebyshev_features(torch.tanh(x), self.degree)  # (..., in, d+1)
        return F.linear(features.flatten(-2), self.coef.flatten(1))

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet): T_n(t), T_n'(t), T_n''(t) by the
        recurrence's own derivatives, chained through t = tanh(x)."""
        t = torch.tanh(inputs[0])
        values, slopes, curvatures = [torch.ones_like(t), t], [torch.zeros_like(t), torch.ones_like(t)], \
            [torch.zeros_like(t), torch.zeros_like(t)]
        for _ in range(2, self.degree + 1):  # T_{n+1} = 2t T_n - T_{n-1}, differentiated twice in t
            values.append(2 * t * values[-1] - values[-2])
            slopes.append(2 * values[-2] + 2 * t * slopes[-1] - slopes[-2])
            curvatures.append(4 * slopes[-2] + 2 * t * curvatures[-1] - curvatures[-2])
        stack = lambda rows: torch.stack(rows[:self.degree + 1], -1)  # noqa: E731
        dt = (1 - t * t).unsqueeze(-1)  # tanh' and tanh'' = -2 t tanh'
        slope = stack(slopes) * dt
        curvature = stack(curvatures) * dt * dt - 2 * t.unsqueeze(-1) * dt * stack(slopes)
        return jet.basis_map(inputs, stack(values), slope, curvature, self.coef.flatten(1))


class ChebyKAN(nn.Sequential):
    def __init__(self, widths: Sequence[int], degree: int = 4) -> None:
        super().__init__(*(ChebyKANLayer(d_in, d_out, degree)
                           for d_in, d_out in zip(widths[:-1], widths[1:])))

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        return jet.through(self, inputs)


@dataclass
class ChebyKANConfig(ModelConfig):
    name: str = "cheby_kan"
    degree: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self.degree, 1, "model.degree", "4")


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """d+1 features per input (basis_flops), the linear map, no bias; kanbefair charges the
    basis per edge."""
    degree = spec["degree"]
    return [basis_expansion_row(f"cheby{index}", d_in, d_out, degree + 1, basis_flops(degree),
                                convention, bias=False)
            for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:]))]


FAMILY = Family("cheby_kan", ChebyKANConfig,
                lambda spec, d_in, d_out: ChebyKAN([d_in, *spec["hidden"], d_out], spec["degree"]),
                layer_costs, knob="degree", label=lambda spec: f"d{spec['degree']}", refine=refine_stack)
