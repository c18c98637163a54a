"""GR-KAN, the group-rational KAN of the Kolmogorov-Arnold Transformer (Yang & Wang, 2024).

Each layer applies a rational function R(x) = P(x)/Q(x) channel by channel, then a Linear
map. P(x) = a_0 + a_1 x + ... + a_5 x^5 and, as in KAT's released kernels,
Q(x) = 1 + |b_1|·|x| + ... + |b_4|·|x|^4 (the paper's text writes 1 + |b_1 x + ... + b_4 x^4|;
kanfair follows the kernels, whose Q never vanishes). The channels are split into
`groups` contiguous groups (sizes differing by at most one when they do not divide
evenly; a layer with fewer channels than groups has one group per channel). As KAT's
KAT_Group, the default shares one numerator across the groups and gives each group its
own denominator (`shared_numerator: false` gives each group its own numerator too).

Gradients as KAT's kernels: they differentiate |b| and |x| with sign(0) = +1, where
autograd's |v|' is 0 at 0. That matters at the identity start, whose denominators are
b = 0: under autograd's rule they would never leave zero; under the kernels' they learn.
`magnitude` gives that derivative and stays twice differentiable (its second derivative
is 0, as |v|'s away from 0).

Init as KAT: the first layer's rational is the identity, the others are fitted to
`activation` (GELU or swish) by least squares on 1,000 points of [-3, 3] (KAT fits the
same range; the fit is computed once per activation, see `fitted_coefficients`). kanfair
fits its own start rather than load KAT's shipped GELU start (`init.json`): that start
was fitted for the paper's Q = 1 + |b_1 x + ... + b_4 x^4|, and under the kernels' Q, the
one KAT trains and kanfair uses, it is a poor GELU (max error 1.465 on [-3, 3], as
measured for issue #26), where kanfair's fit is within 3.7e-3 (tested). The Linear maps
keep PyTorch's default init.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from kanfair.flops import LayerCost, linear_row
from kanfair.models import jet
from kanfair.models.family import Family, Spec
from kanfair.schema import ModelConfig, check_at_least, check_choice

NUMERATOR_DEGREE, DENOMINATOR_DEGREE = 5, 4
INITS = ("gelu", "swish", "identity")
Array = TypeVar("Array", torch.Tensor, np.ndarray)
FIT_RANGE, FIT_POINTS, FIT_EVALUATIONS = 3.0, 1000, 100
# per element: P by Horner (2 per degree), |x|, Q by Horner with its +1 (2 per degree), P/Q
RATIONAL_FLOPS = 2 * NUMERATOR_DEGREE + 1 + 2 * DENOMINATOR_DEGREE + 1


def magnitude(v: Array) -> Array:
    """|v|, differentiated as KAT's kernels do: d|v|/dv = +1 at v = 0 (autograd's abs gives
    0 there). v times its sign (+1 at 0), the sign taken as a constant."""
    if isinstance(v, np.ndarray):
        return np.abs(v)
    return v * torch.where(v >= 0, 1.0, -1.0).to(v.dtype)


def rational(x: Array, numerator: Array, denominator: Array) -> Array:
    """P(x)/Q(x) with per-channel coefficients: x (..., C), numerator (C or 1, 6),
    denominator (C or 1, 4); torch tensors, or numpy arrays for the init fit."""
    p = numerator[:, -1]
    for k in range(NUMERATOR_DEGREE - 1, -1, -1):
        p = p * x + numerator[:, k]
    size, b = magnitude(x), magnitude(denominator)
    q = b[:, -1] * size
    for k in range(DENOMINATOR_DEGREE - 2, -1, -1):
        q = (q + b[:, k]) * size
    return p / (1 + q)


@functools.lru_cache(maxsize=None)
def fitted_coefficients(activation: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(a_0..a_5, |b_1|..|b_4|) of the rational closest to `activation` on [-3, 3] in least
    squares, from a start (a = 0, .5, .5, 0, 0, 0; b = 1) that avoids the b = 0 saddle
    where a plain polynomial fit stops; 100 evaluations (more improve GELU's max error by
    less than 1%). Max error on [-3, 3]: GELU 3.7e-3, swish below 1e-5."""
    if activation == "identity":
        return (0.0, 1.0, 0.0, 0.0, 0.0, 0.0), (0.0,) * DENOMINATOR_DEGREE
    from scipy.optimize import least_squares
    from scipy.special import erf

    x = np.linspace(-FIT_RANGE, FIT_RANGE, FIT_POINTS)
    target = x * 0.5 * (1 + erf(x / np.sqrt(2))) if activation == "gelu" else x / (1 + np.exp(-x))

    def residual(coefficients: np.ndarray) -> np.ndarray:
        a, b = coefficients[:NUMERATOR_DEGREE + 1], coefficients[NUMERATOR_DEGREE + 1:]
        return rational(x[:, None], a[None], b[None])[:, 0] - target

    start = np.r_[0.0, 0.5, 0.5, 0.0, 0.0, 0.0, np.ones(DENOMINATOR_DEGREE)]
    fit = least_squares(residual, start, max_nfev=FIT_EVALUATIONS)  # ~0.2 s
    a, b = fit.x[:NUMERATOR_DEGREE + 1], np.abs(fit.x[NUMERATOR_DEGREE + 1:])
    return tuple(a.tolist()), tuple(b.tolist())


def group_count(channels: int, groups: int) -> int:
    return min(groups, channels)


class GroupRational(nn.Module):
    """R applied per channel, its coefficients shared within each contiguous group."""

    def __init__(self, channels: int, groups: int = 8, init: str = "gelu",
                 shared_numerator: bool = True) -> None:
        super().__init__()
        self.channels, self.groups = channels, group_count(channels, groups)
        a, b = fitted_coefficients(init)
        self.numerator = nn.Parameter(torch.tensor([a] * (1 if shared_numerator else self.groups)))
        self.denominator = nn.Parameter(torch.tensor([b] * self.groups))
        self.register_buffer("group_of", torch.arange(channels) * self.groups // channels)

    def extra_repr(self) -> str:
        return f"{self.channels}, groups={self.groups}, shared_numerator={len(self.numerator) == 1}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numerator = self.numerator if len(self.numerator) == 1 else self.numerator[self.group_of]
        return rational(x, numerator, self.denominator[self.group_of])

    def derivatives(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """R, R' and R'' at x by the quotient rule, |x|' = sign(x) (+1 at 0) as `magnitude`:
        R' = (P' - R·Q')/Q, R'' = (P'' - 2R'·Q' - R·Q'')/Q."""
        a = self.numerator if len(self.numerator) == 1 else self.numerator[self.group_of]
        b = magnitude(self.denominator[self.group_of])
        powers = torch.stack([x ** k for k in range(NUMERATOR_DEGREE + 1)], -1)  # 1, x, ..., x^5
        k = torch.arange(NUMERATOR_DEGREE + 1, dtype=x.dtype, device=x.device)
        p = (powers * a).sum(-1)
        p1 = (powers[..., :-1] * a[:, 1:] * k[1:]).sum(-1)
        p2 = (powers[..., :-2] * a[:, 2:] * k[2:] * k[1:-1]).sum(-1)
        sign = torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
        size = powers[..., :DENOMINATOR_DEGREE + 1] * sign.unsqueeze(-1) ** k[:DENOMINATOR_DEGREE + 1]  # |x|^k
        q = 1 + (size[..., 1:] * b).sum(-1)
        q1 = sign * (size[..., :-1] * b * k[1:DENOMINATOR_DEGREE + 1]).sum(-1)
        q2 = (size[..., :-2] * b[:, 1:] * k[2:DENOMINATOR_DEGREE + 1] * k[1:DENOMINATOR_DEGREE]).sum(-1)
        r = p / q
        r1 = (p1 - r * q1) / q
        return r, r1, (p2 - 2 * r1 * q1 - r * q2) / q

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet), channel by channel."""
        return jet.elementwise(inputs, self.derivatives)


class RationalKAN(nn.Sequential):
    """[GroupRational -> Linear] per layer of widths [in] + hidden + [out]."""

    def __init__(self, widths: Sequence[int], groups: int = 8, activation: str = "gelu",
                 shared_numerator: bool = True) -> None:
        layers: list[nn.Module] = []
        for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(GroupRational(d_in, groups, "identity" if index == 0 else activation,
                                        shared_numerator))
            layers.append(nn.Linear(d_in, d_out))
        super().__init__(*layers)

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        return jet.through(self, inputs)


@dataclass
class RationalKANConfig(ModelConfig):
    name: str = "rational_kan"
    groups: int = 8
    activation: str = "gelu"
    shared_numerator: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self.groups, 1, "model.groups", "8")
        check_choice(self.activation, INITS, "model.activation")


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """Rational coefficients 6 (shared) or 6 per group, plus 4 per group, then the Linear.
    ops: 20 FLOPs per input (RATIONAL_FLOPS). macs: the Linear only. kanbefair: the
    rational charged to every edge, as the paper charges a B-spline, plus the Linear's
    2·d_in·d_out."""
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        groups = group_count(d_in, spec["groups"])
        row = linear_row(f"rational{index}", d_in, d_out, convention)
        numerators = 1 if spec["shared_numerator"] else groups
        row.params += (NUMERATOR_DEGREE + 1) * numerators + DENOMINATOR_DEGREE * groups
        if convention == "ops":
            row.flops += RATIONAL_FLOPS * d_in
        elif convention == "kanbefair":
            row.flops += RATIONAL_FLOPS * d_in * d_out
        rows.append(row)
    return rows


FAMILY = Family("rational_kan", RationalKANConfig,
                lambda spec, d_in, d_out: RationalKAN([d_in, *spec["hidden"], d_out], spec["groups"],
                                                      spec["activation"], spec["shared_numerator"]),
                layer_costs, knob="groups", label=lambda spec: f"groups {spec['groups']}")
