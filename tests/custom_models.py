"""User factories for `model=custom` tests (imported by name, as a user's module would be)."""
from __future__ import annotations

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
