"""Model registry: `build(spec, in_dim, out_dim)` for every model family by name."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from torch import nn

from kanfair.models.bspline_mlp import BSplineMLP
from kanfair.models.kan import KAN
from kanfair.models.mlp import MLP

Builder = Callable[[dict[str, Any], int, int], nn.Module]


def _mlp(spec: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
    return MLP([in_dim, *spec["hidden"], out_dim], spec["activation"], spec["batch_norm"])


def _kan(spec: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
    return KAN([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
               tuple(spec["grid_range"]), spec["shortcut"], spec["init"],
               spec.get("grid_update_every", 0))


def _bspline_mlp(spec: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
    return BSplineMLP([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
                      tuple(spec["grid_range"]), spec.get("batch_norm", False),
                      spline_first=spec["name"] == "bspline_first_mlp")


MODELS: dict[str, Builder] = {
    "kan": _kan, "mlp": _mlp, "bspline_mlp": _bspline_mlp, "bspline_first_mlp": _bspline_mlp,
}


def spec_dict(spec: Any) -> dict[str, Any]:
    """A model spec as a plain dict, from a config dataclass or any mapping."""
    return dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else dict(spec)


def build(spec: Any, in_dim: int, out_dim: int) -> nn.Module:
    """Build the model that `spec["name"]` names; unknown names raise with the known ones."""
    spec = spec_dict(spec)
    name = spec.get("name")
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; choose one of {', '.join(MODELS)}")
    return MODELS[name](spec, in_dim, out_dim)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (the values the optimizer updates)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "build", "count_params", "spec_dict"]
