"""`model=custom`: any nn.Module from a user's factory, at the same budgets as the others.

`model.target=package.module:factory` is called as
`factory(in_dim, out_dim, hidden, **model.kwargs)`. With no formula to go by, its cost is
measured on the built model: parameters by `numel` (trainable), FLOPs by fvcore's trace
of one sample. `macs` is fvcore's count of matrix products and contractions; `ops` (and
`kanbefair`, which has no formula for a model the paper did not have) is 2 FLOPs per
multiply-accumulate plus the elementwise counts fvcore reports (its norms). fvcore has no
count for most elementwise operators (activations, additions, products: a hand-written
B-spline is nothing but these), so the operators it skips are listed with how often they
ran, the record marks the FLOPs as a lower bound, and budget=flops refuses the model
until `model.elementwise_flops` gives each one's FLOPs per output element, by operator
name (e.g. {mul: 1, add: 1, silu: 5} for aten::mul, aten::add, aten::silu). `macs` needs none: fvcore counts every
contraction. The matcher sizes the model by searching `hidden` on built models. The
current folder is importable, so a module beside the command works.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict

import torch
from torch import nn

from kanfair.flops import LayerCost, fvcore_counts, is_contraction
from kanfair.models.family import Family, Spec
from kanfair.schema import ConfigError, ModelConfig, check

FIX = "set model.target=package.module:factory, a function (in_dim, out_dim, hidden, **model.kwargs) -> nn.Module"


@dataclass
class CustomConfig(ModelConfig):
    name: str = "custom"
    target: str = ""
    kwargs: Dict[str, Any] = field(default_factory=dict)
    # FLOPs per output element of operators fvcore does not count, e.g. {"mul": 1} (aten::mul)
    elementwise_flops: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        module, _, function = self.target.partition(":")
        check(bool(module and function), "model.target",
              f"'{self.target}' is not of the form package.module:factory", FIX)


def factory_of(target: str) -> Callable[..., nn.Module]:
    module_name, _, function = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError("model.target", f"cannot import '{module_name}' ({error})",
                          "put the module's folder on PYTHONPATH or run from it") from error
    if not callable(getattr(module, function, None)):
        raise ConfigError("model.target", f"'{module_name}' has no function '{function}'", FIX)
    return getattr(module, function)


class ModelError(RuntimeError):
    """An exception raised inside a user's module: the fault is the model's code, not a
    config key, so the line names its class and the call."""


class UserModule(nn.Module):
    """The user's module as the trainer sees it: the same parameters (under `inner`) and
    outputs; any exception its forward raises named with its class, the call and
    model.target; and nn.Module's own `to`, whatever the user's module overrides (pykan's
    MultKAN.to(device) takes no dtype, and the trainer's `to(device, dtype)` failed on it)."""

    def __init__(self, inner: nn.Module, target: str) -> None:
        super().__init__()
        self.inner, self.target = inner, target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self.inner(x)
        except Exception as error:
            raise ModelError(f"the model's own code failed: {type(self.inner).__name__}.forward raised "
                             f"{type(error).__name__}: {error} (model.target={self.target}; fix the module)") from error


def build_custom(spec: Spec, in_dim: int, out_dim: int) -> nn.Module:
    """The user's model (wrapped in UserModule), checked to be an nn.Module mapping
    (B, in_dim) to (B, out_dim)."""
    factory = factory_of(spec["target"])
    try:
        model = factory(in_dim, out_dim, list(spec["hidden"]), **spec["kwargs"])
    except Exception as error:
        raise ConfigError("model.target", f"{spec['target']}({in_dim}, {out_dim}, {list(spec['hidden'])}) "
                          f"raised {type(error).__name__}: {error}", "fix the factory or model.kwargs") from error
    check(isinstance(model, nn.Module), "model.target",
          f"{spec['target']} returned {type(model).__name__}, not an nn.Module", FIX)
    model = UserModule(model, spec["target"])
    with torch.no_grad():
        was_training = model.training
        shape = tuple(model.eval()(torch.zeros(2, in_dim)).shape)
        model.train(was_training)
    check(shape == (2, out_dim), "model.target",
          f"{spec['target']} maps a batch of 2 inputs of width {in_dim} to shape {shape}, not (2, {out_dim})",
          "make its output (batch, out_dim)")
    return model


@functools.lru_cache(maxsize=256)
def _measured(spec_json: str, in_dim: int, out_dim: int) -> tuple[int, float, float, tuple]:
    """(trainable parameters, MACs, the other counts, the skipped operators as (name,
    times) pairs) of one sample, built with the global RNG state left as it was (sizing
    must not change a run's init)."""
    spec = json.loads(spec_json)
    with torch.random.fork_rng(devices=[]):
        model = build_custom(spec, in_dim, out_dim)
    traced = fvcore_counts(model, in_dim, spec["elementwise_flops"])
    macs = sum(v for op, v in traced.counts.items() if is_contraction(op))
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return params, macs, sum(traced.counts.values()) - macs, tuple(traced.skipped.items())


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """One row for the whole model: measured, not a formula (see the module's docstring)."""
    params, macs, elementwise, skipped = _measured(json.dumps(spec, sort_keys=True), widths[0], widths[-1])
    if convention == "macs":
        return [LayerCost("model", params, macs)]
    return [LayerCost("model", params, 2 * macs + elementwise, dict(skipped))]


FAMILY = Family("custom", CustomConfig, build_custom, layer_costs,
                label=lambda spec: spec["target"])
