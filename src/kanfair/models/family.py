"""What a model family is to the rest of kanfair: one object per family module.

A family module (kan.py, mlp.py, fourier_kan.py ...) holds its nn.Module, its config
schema, its builder and its per-layer cost rows, and exports them as `FAMILY`; the
registry in `kanfair.models` collects them. Adding a family is one module, one YAML
under configs/model/ and its tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn

from kanfair.flops import LayerCost

Spec = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """name: the `model=` value. schema: its config dataclass (extends ModelConfig).
    build(spec, in_dim, out_dim): the module. layer_costs(spec, widths, convention): one
    LayerCost per layer of widths [in] + hidden + [out]. knob: the family's own size knob
    that the budget matcher may vary besides the width (None: width only), with its
    smallest value. label(spec): the knob settings, short, for tables.
    check_twice_differentiable(spec): raises a ConfigError naming the key where the model's
    second derivative in its inputs is zero or couples the points (a PDE task needs it).
    refine(model, value, x): grid extension, for a family whose knob is a resolution (grid
    intervals, centres, frequencies, degree): sets the built model's knob to `value` in place,
    fitted on the training inputs `x`, and returns the relative change of its outputs on `x`
    (None: the family has no such knob)."""

    name: str
    schema: type
    build: Callable[[Spec, int, int], nn.Module]
    layer_costs: Callable[[Spec, list[int], str], list[LayerCost]]
    knob: Optional[str] = None
    knob_min: int = 1
    label: Callable[[Spec], str] = lambda spec: ""
    check_twice_differentiable: Callable[[Spec], None] = lambda spec: None
    refine: Optional[Callable[[nn.Module, int, torch.Tensor], float]] = None
