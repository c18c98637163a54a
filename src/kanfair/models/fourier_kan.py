"""FourierKAN (GistNoesis, 2024): every edge a truncated Fourier series,
phi_oi(x) = sum_{k=1..g} a_oik·cos(k·x) + b_oik·sin(k·x), outputs summed plus a bias.

Batched, the 2g features of each input go through one matrix product. Init as the
reference: coefficients ~ N(0, 1/(d_in·g)), bias 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.flops import TRANSCENDENTAL_FLOPS, LayerCost, basis_expansion_row
from kanfair.models import jet
from kanfair.models.family import Family, Spec
from kanfair.models.refit import refine_stack
from kanfair.schema import ModelConfig, check_at_least

# per input and frequency: k·x, cos, sin
BASIS_FLOPS_PER_FREQUENCY = 1 + 2 * TRANSCENDENTAL_FLOPS


class _FourierFeatures(torch.autograd.Function):
    """[cos(k·x), sin(k·x)] for k = 1..g on a new last axis, with an analytic backward that
    reuses them: d/dx = sum_k k·(cos(kx)·g_sin - sin(kx)·g_cos). Autograd would keep k·x
    and evaluate sin and cos again; these features are the tensor the linear map keeps."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        angles = x.unsqueeze(-1) * k
        features = torch.cat([torch.cos(angles), torch.sin(angles)], -1)
        ctx.save_for_backward(features, k)
        return features

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        # differentiable ops on saved tensors (the features are this Function's output, so
        # autograd differentiates them through this backward again): twice differentiable
        features, k = ctx.saved_tensors
        cos, sin = features.chunk(2, -1)
        grad_cos, grad_sin = grad.chunk(2, -1)
        return ((cos * grad_sin - sin * grad_cos) * k).sum(-1), None


class FourierKANLayer(nn.Module):
    """coef (out, in, 2g): the cosine coefficients of k = 1..g, then the sine ones."""

    def __init__(self, in_features: int, out_features: int, frequencies: int = 5) -> None:
        super().__init__()
        self.in_features, self.out_features, self.frequencies = in_features, out_features, frequencies
        self.coef = nn.Parameter(torch.randn(out_features, in_features, 2 * frequencies)
                                 / math.sqrt(in_features * frequencies))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("k", torch.arange(1, frequencies + 1, dtype=torch.float32))

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, frequencies={self.frequencies}"

    @torch.no_grad()
    def extend(self, frequencies: int, x: torch.Tensor) -> None:
        """Grid extension: frequencies up to `frequencies`, the new terms' coefficients zero,
        so the layer's function is unchanged exactly (`x` is not needed)."""
        cos, sin = self.coef.chunk(2, -1)
        pad = cos.new_zeros(*cos.shape[:-1], frequencies - self.frequencies)
        self.coef = nn.Parameter(torch.cat([cos, pad, sin, pad], -1))
        self.k = torch.arange(1, frequencies + 1, dtype=self.k.dtype, device=self.k.device)
        self.frequencies = frequencies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = _FourierFeatures.apply(x, self.k.to(x.dtype))  # (..., in, 2g)
        return F.linear(features.flatten(-2), self.coef.flatten(1), self.bias)

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet): (cos kx)' = -k sin kx, (sin kx)' =
        k cos kx, and the second derivatives -k^2 times the features."""
        k = self.k.to(inputs.dtype)
        angles = inputs[0].unsqueeze(-1) * k
        cos, sin = torch.cos(angles), torch.sin(angles)
        features = torch.cat([cos, sin], -1)
        slope = torch.cat([-sin * k, cos * k], -1)
        curvature = -features * torch.cat([k, k]) ** 2
        return jet.basis_map(inputs, features, slope, curvature, self.coef.flatten(1), self.bias)


class FourierKAN(nn.Sequential):
    def __init__(self, widths: Sequence[int], frequencies: int = 5) -> None:
        super().__init__(*(FourierKANLayer(d_in, d_out, frequencies)
                           for d_in, d_out in zip(widths[:-1], widths[1:])))

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        return jet.through(self, inputs)


@dataclass
class FourierKANConfig(ModelConfig):
    name: str = "fourier_kan"
    frequencies: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self.frequencies, 1, "model.frequencies", "5")


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """2g features per input at 3 FLOPs per frequency (k·x, cos, sin), then the linear map
    and the bias; kanbefair charges the 3g per edge."""
    g = spec["frequencies"]
    return [basis_expansion_row(f"fourier{index}", d_in, d_out, 2 * g,
                                BASIS_FLOPS_PER_FREQUENCY * g, convention)
            for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:]))]


FAMILY = Family("fourier_kan", FourierKANConfig,
                lambda spec, d_in, d_out: FourierKAN([d_in, *spec["hidden"], d_out], spec["frequencies"]),
                layer_costs, knob="frequencies", label=lambda spec: f"g{spec['frequencies']}",
                refine=refine_stack)
