"""The MLP of KANbeFair: Linear -> [BatchNorm1d] -> activation per hidden layer, final Linear."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kanfair.flops import ACTIVATION_FLOPS, LayerCost, linear_row
from kanfair.models import jet
from kanfair.models.family import Family, Spec
from kanfair.schema import ModelConfig, check, check_choice

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

    def forward_jet(self, inputs: torch.Tensor) -> torch.Tensor:
        """Forward-mode derivatives (kanfair.models.jet) of the outputs; batch norm has none
        (it couples the points: a PDE task refuses it)."""
        return jet.through(self, inputs)


@dataclass
class MLPConfig(ModelConfig):
    name: str = "mlp"
    activation: str = "relu"
    batch_norm: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.activation, tuple(ACTIVATIONS), "model.activation")


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """kanbefair charges the activation to every layer, the last included; ops only where
    it runs; BatchNorm 2 parameters and 4 FLOPs per channel."""
    act = ACTIVATION_FLOPS[spec["activation"]]
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = index < len(widths) - 2
        row = linear_row(f"linear{index}", d_in, d_out, convention, batch_norm=spec["batch_norm"] and hidden)
        if convention != "macs":
            row.flops += act * d_out if hidden or convention == "kanbefair" else 0
        rows.append(row)
    return rows


def check_no_batch_norm(spec: Spec) -> None:
    check(not spec["batch_norm"], "model.batch_norm", "batch norm makes u(x) depend on the other "
          "points of the batch, so its derivatives in x are not the PDE's", "set model.batch_norm=false")


def _check_twice_differentiable(spec: Spec) -> None:
    check(spec["activation"] not in ("relu", "identity"), "model.activation",
          f"{spec['activation']} has a zero second derivative, so a PDE's residual cannot train it",
          "use model.activation=tanh (the PINN default), silu, gelu or sigmoid")
    check_no_batch_norm(spec)


def _build(spec: Spec, in_dim: int, out_dim: int) -> nn.Module:
    return MLP([in_dim, *spec["hidden"], out_dim], spec["activation"], spec["batch_norm"])


FAMILY = Family("mlp", MLPConfig, _build, layer_costs,
                label=lambda spec: spec["activation"] + (" BN" if spec["batch_norm"] else ""),
                check_twice_differentiable=_check_twice_differentiable)
