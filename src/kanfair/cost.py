"""Analytic parameter and FLOP counts of a model spec: forward pass, per sample.

Each family's module writes its own per-layer rows in the three conventions (see
`kanfair.flops` for what each counts); this module adds them up, and cross-checks the
`macs` convention against fvcore's trace of the built model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from torch import nn

from kanfair.flops import CONVENTIONS, LayerCost, fvcore_counts, is_contraction
from kanfair.models import FAMILIES, model_spec


@dataclass
class Cost:
    params: int
    flops: float
    convention: str
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def skipped(self) -> dict[str, int]:
        """Operators the count left out (with how often they ran): `flops` is then a lower
        bound. Empty for every built-in family (their rows are formulas)."""
        merged: dict[str, int] = {}
        for row in self.layers:
            for op, n in row.skipped.items():
                merged[op] = merged.get(op, 0) + n
        return merged


def count(model: Mapping[str, Any], in_dim: int, out_dim: int,
          convention: str = "kanbefair") -> Cost:
    """Parameters and per-sample forward FLOPs of `model` (a plain dict with the keys of
    configs/model/*.yaml plus `name`; missing keys take the config defaults)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown FLOP convention '{convention}'; choose one of {', '.join(CONVENTIONS)}")
    spec = model_spec(model)
    widths = [in_dim, *spec["hidden"], out_dim]
    layers = FAMILIES[spec["name"]].layer_costs(spec, widths, convention)
    return Cost(sum(row.params for row in layers), float(sum(row.flops for row in layers)),
                convention, layers)


def macs_by_fvcore(model: nn.Module, in_dim: int) -> float:
    """fvcore's multiply-accumulate count of one sample through `model`, restricted to
    contractions: the independent check of the `macs` convention."""
    return sum(v for op, v in fvcore_counts(model, in_dim).counts.items() if is_contraction(op))
