"""Model registry: `build(spec, in_dim, out_dim)` for every model family by name."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from kanfair.config import model_spec

from kanfair.models.bspline_mlp import BSplineMLP
from kanfair.models.kan import KAN
from kanfair.models.mlp import MLP

Builder = Callable[[dict[str, Any], int, int], nn.Module]


def _mlp(spec: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
    return MLP([in_dim, *spec["hidden"], out_dim], spec["activation"], spec["batch_norm"])


def _kan(spec: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
    return KAN([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
               tuple(spec["grid_range"]), spec["shortcut"], spec["init"],
               spec["grid_update_every"])


def _bspline_mlp(spec: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
    return BSplineMLP([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
                      tuple(spec["grid_range"]), spec["batch_norm"],
                      spline_first=spec["name"] == "bspline_first_mlp")


MODELS: dict[str, Builder] = {
    "kan": _kan, "mlp": _mlp, "bspline_mlp": _bspline_mlp, "bspline_first_mlp": _bspline_mlp,
}


def build(spec: Any, in_dim: int, out_dim: int) -> nn.Module:
    """Build the model that `spec["name"]` names (missing keys take the config defaults;
    unknown names raise with the known ones)."""
    spec = model_spec(spec)
    return MODELS[spec["name"]](spec, in_dim, out_dim)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (the values the optimizer updates)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "build", "count_params"]
