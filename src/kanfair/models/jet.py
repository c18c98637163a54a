"""Forward-mode (Taylor) derivatives through a network, for physics-informed losses.

A jet of a layer's values on n points is one tensor (1 + 2d, n, width): row 0 the values,
rows 1..d their first derivatives along the d input directions, rows d+1..2d their second
derivatives along the same directions (the diagonal of the Hessian: what a Laplacian, a
u_tt or a u_xx needs), as the "forward Laplacian" of Li et al. (2023) carries them. Each
layer maps its input jet to its output jet by the chain rule in closed form:

- linear maps act on every row alike (one matmul for the whole jet), the bias on row 0;
- an elementwise f: f(v); f'(v)·g; f''(v)·g² + f'(v)·s (g a first row, s a second row);
- a KAN layer: the same for each edge function, from the basis and its derivatives.

The result is differentiable in the parameters by ordinary (first-order) autograd, where
autograd's own Laplacian differentiates a create_graph backward again. A model offers it
as `forward_jet(jet)`; kanfair.data.pde takes it where offered (autograd otherwise).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

# an elementwise function and its first two derivatives, at v: (f, f', f'')
Elementwise = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def directions(jet: torch.Tensor) -> int:
    return (jet.shape[0] - 1) // 2


def seed(x: torch.Tensor) -> torch.Tensor:
    """The jet of the inputs themselves: values x, first derivatives the unit directions,
    second derivatives zero. (1 + 2d, n, d)."""
    n, d = x.shape
    first = torch.eye(d, dtype=x.dtype, device=x.device).unsqueeze(1).expand(d, n, d)
    return torch.cat([x.unsqueeze(0), first, x.new_zeros(d, n, d)])


def add_bias(jet: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A constant added: it moves the values only."""
    return torch.cat([jet[:1] + bias, jet[1:]])


def linear(jet: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight^T (+ bias on the values)."""
    out = F.linear(jet, weight)
    return out if bias is None else add_bias(out, bias)


def basis_map(inputs: torch.Tensor, basis: torch.Tensor, slope: torch.Tensor, curvature: torch.Tensor,
              weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A KAN layer's edges sum_i sum_m weight[o, i·m] F_m(x_i) (+ bias), from the features
    F(x), F'(x) and F''(x) of its inputs' values, each (n, in, m): the chain rule for every
    edge at once, in one matmul with the weights (out, in·m)."""
    d = directions(inputs)
    first, second = inputs[1:1 + d].unsqueeze(-1), inputs[1 + d:].unsqueeze(-1)
    rows = torch.cat([basis.unsqueeze(0), slope * first, curvature * first * first + slope * second])
    return linear(rows.flatten(2), weight, bias)


def product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The jet of a·b (broadcast): (ab)' = a'b + ab', (ab)'' = a''b + 2a'b' + ab''."""
    d = directions(a)
    return torch.cat([a[:1] * b[:1], a[1:1 + d] * b[:1] + a[:1] * b[1:1 + d],
                      a[1 + d:] * b[:1] + 2 * a[1:1 + d] * b[1:1 + d] + a[:1] * b[1 + d:]])


def layer_norm(jet: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    """nn.LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · weight + bias, by the
    rules above (the mean is linear; 1/sqrt elementwise)."""
    centred = jet - jet.mean(-1, keepdim=True)
    variance = product(centred, centred).mean(-1, keepdim=True)
    eps = norm.eps

    def inverse_sqrt(v: torch.Tensor):
        r = (v + eps).rsqrt()
        return r, -0.5 * r ** 3, 0.75 * r ** 5
    out = product(centred, elementwise(variance, inverse_sqrt))
    if norm.weight is not None:
        out = out * norm.weight
    return out if norm.bias is None else add_bias(out, norm.bias)


def elementwise(jet: torch.Tensor, f: Elementwise) -> torch.Tensor:
    d = directions(jet)
    value, first, second = jet[:1], jet[1:1 + d], jet[1 + d:]
    f0, f1, f2 = f(value)
    return torch.cat([f0, f1 * first, f2 * first * first + f1 * second])


def _tanh(v: torch.Tensor):
    t = torch.tanh(v)
    slope = 1 - t * t
    return t, slope, -2 * t * slope


def _sigmoid(v: torch.Tensor):
    s = torch.sigmoid(v)
    slope = s * (1 - s)
    return s, slope, slope * (1 - 2 * s)


def _silu(v: torch.Tensor):
    s = torch.sigmoid(v)
    return v * s, s * (1 + v * (1 - s)), s * (1 - s) * (2 + v * (1 - 2 * s))


def _gelu(v: torch.Tensor):
    cdf = 0.5 * (1 + torch.erf(v * 0.5 ** 0.5))
    pdf = torch.exp(-0.5 * v * v) * (2 * torch.pi) ** -0.5
    return v * cdf, cdf + v * pdf, pdf * (2 - v * v)


def _identity(v: torch.Tensor):
    return v, torch.ones_like(v), torch.zeros_like(v)


def _relu(v: torch.Tensor):
    return torch.relu(v), (v > 0).to(v.dtype), torch.zeros_like(v)


# torch's default GELU is the exact (erf) one, as here
ELEMENTWISE: dict[str, Elementwise] = {"tanh": _tanh, "sigmoid": _sigmoid, "silu": _silu, "gelu": _gelu,
                                       "identity": _identity, "relu": _relu}
MODULES: dict[type, Elementwise] = {torch.nn.Tanh: _tanh, torch.nn.Sigmoid: _sigmoid, torch.nn.SiLU: _silu,
                                    torch.nn.Identity: _identity, torch.nn.ReLU: _relu}


def through(modules: torch.nn.Module, jet: torch.Tensor) -> torch.Tensor:
    """The jet through a stack of modules in order: nn.Linear, the activations of MODULES
    (and exact GELU), or any module with its own `forward_jet`."""
    for module in modules:
        if isinstance(module, torch.nn.Linear):
            jet = linear(jet, module.weight, module.bias)
        elif isinstance(module, torch.nn.GELU) and module.approximate == "none":
            jet = elementwise(jet, _gelu)
        elif type(module) in MODULES:
            jet = elementwise(jet, MODULES[type(module)])
        elif hasattr(module, "forward_jet"):
            jet = module.forward_jet(jet)
        else:
            raise TypeError(f"{type(module).__name__} has no forward-mode derivatives")
    return jet
