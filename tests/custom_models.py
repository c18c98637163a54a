"""User factories for `model=custom` tests (imported by name, as a user's module would be)."""
from __future__ import annotations

import torch
from torch import nn


def tanh_net(in_dim: int, out_dim: int, hidden: list[int], norm: bool = False) -> nn.Module:
    """Linear -> [LayerNorm] -> tanh per hidden width, then a Linear."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), *([nn.LayerNorm(width)] if norm else []), nn.Tanh()]
        in_dim = width
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


def raises(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Module:
    raise ValueError("no such architecture")


def wrong_shape(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Module:
    return nn.Linear(in_dim, out_dim + 1)


def not_a_module(in_dim: int, out_dim: int, hidden: list[int]) -> str:
    return "a string"


class _SineFeatures(nn.Module):
    """sin(a·x + b) per feature: elementwise operators only (mul, add, sin), none of which
    fvcore counts; a hand-written B-spline basis is the same kind of code."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.linspace(0.5, 1.5, width))
        self.b = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x * self.a + self.b)


def elementwise_net(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Module:
    """Linear -> sin(a·x + b) per hidden width -> Linear."""
    return nn.Sequential(nn.Linear(in_dim, hidden[0]), _SineFeatures(hidden[0]), nn.Linear(hidden[0], out_dim))


class _FirstColumns(nn.Module):
    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :self.out_dim]


def no_parameters(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Module:
    """The first out_dim inputs as the output: right shape, nothing to train."""
    return _FirstColumns(out_dim)


def pykan_kan(in_dim: int, out_dim: int, hidden: list[int], grid: int = 5, k: int = 3) -> nn.Module:
    """pykan's own KAN (MultKAN), which overrides Module.to with to(device)."""
    from kan import KAN

    return KAN(width=[in_dim, *hidden, out_dim], grid=grid, k=k, seed=0, auto_save=False)


class _Explodes(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > 1:  # the build's shape check passes; training's first step does not
            raise RuntimeError("the user's forward failed")
        return self.linear(x)


def explodes_in_training(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Module:
    return _Explodes(in_dim, out_dim)
