"""The MLP of KANbeFair: Linear -> [BatchNorm1d] -> activation per hidden layer, final Linear."""
from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid, "identity": nn.Identity,
}


class MLP(nn.Sequential):
    def __init__(self, widths: list[int], activation: str = "relu", batch_norm: bool = False) -> None:
        layers: list[nn.Module] = []
        for d_in, d_out in zip(widths[:-2], widths[1:-1]):
            layers.append(nn.Linear(d_in, d_out))
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(widths[-2], widths[-1]))
        super().__init__(*layers)
