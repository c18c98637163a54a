"""`model=pykan`: the KAN paper's own code, pykan's MultKAN, as a reference family.

A reader of a KAN result asks whether kanfair's engine or the paper's KAN was tested; this
family answers with pykan's own module, trained by kanfair's shared loop like every family
(the same optimizer, selection and records). Its grid extension is pykan's `refine`, its
grid update pykan's `update_grid_from_samples` (quantiles mixed with a uniform grid by
`grid_eps`). What pykan's `fit` adds and the shared loop does not (its sparsity
regularisation `lamb`) is said in docs/reference.md.

The architecture is kanfair's KAN without the output bias (pykan's node biases are not
trainable by default): its forward equals kanfair's KAN with the same coefficients
(tests/test_pykan.py), so its costs are the KAN formulas less that bias. pykan computes a
symbolic branch and activation statistics in every forward pass unless told not to; both
are off here (`speed()`), and the symbolic branch's parameters, unused, are frozen so that
the trainable count is the KAN's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch
from torch import nn

from kanfair.flops import LayerCost
from kanfair.models.family import Family, Spec
from kanfair.models.kan import check_spline_twice_differentiable, layer_costs as kan_layer_costs, spline_label
from kanfair.models.refit import relative_change
from kanfair.schema import ModelConfig, check, check_at_least, check_choice, check_range

BASE_FUNCTIONS = ("silu", "identity", "zero")  # pykan's names; its `zero` drops the base branch


@dataclass
class PykanConfig(ModelConfig):
    """pykan's MultKAN settings under kanfair's names (grid_size is pykan's `grid`,
    spline_order its `k`); `grid_eps` mixes a uniform grid into its grid update (pykan's
    default 0.02: almost the sample quantiles)."""

    name: str = "pykan"
    hidden: List[int] = field(default_factory=lambda: [16])
    grid_size: int = 5
    spline_order: int = 3
    grid_range: List[float] = field(default_factory=lambda: [-1.0, 1.0])
    base_fun: str = "silu"
    grid_eps: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self.grid_size, 1, "model.grid_size", "5")
        check_at_least(self.spline_order, 1, "model.spline_order", "3")
        check_range(self.grid_range, "model.grid_range")
        check_choice(self.base_fun, BASE_FUNCTIONS, "model.base_fun")
        check(0 <= self.grid_eps <= 1, "model.grid_eps", f"must be in [0, 1] (got {self.grid_eps})",
              "set e.g. model.grid_eps=0.02 (pykan's default)")


class PykanKAN(nn.Module):
    """pykan's MultKAN in kanfair's shape: (B, in) -> (B, out), its grid update and grid
    extension as the trainer calls them."""

    def __init__(self, widths: Sequence[int], grid_size: int, spline_order: int, grid_range: Sequence[float],
                 base_fun: str, grid_eps: float) -> None:
        super().__init__()
        self.settings = {"k": spline_order, "base_fun": base_fun, "grid_eps": grid_eps,
                         "grid_range": [float(v) for v in grid_range]}
        self.widths = list(widths)
        self.kan = self._made(grid_size, seed=int(torch.randint(0, 2**31 - 1, ())))  # from the run's seed

    def _made(self, grid_size: int, seed: int) -> nn.Module:
        from kan import MultKAN

        # pykan seeds torch, numpy and random globally: the run's own streams are left as they were
        with torch.random.fork_rng(devices=[]):
            model = MultKAN(width=self.widths, grid=grid_size, seed=seed, auto_save=False, symbolic_enabled=False,
                            save_act=False, **self.settings)
        return self._quiet(model)

    @staticmethod
    def _quiet(model: nn.Module) -> nn.Module:
        model.speed()
        model.auto_save = False  # pykan's refine turns checkpoints to ./model on
        for parameter in model.symbolic_fun.parameters():
            parameter.requires_grad_(False)
        return model

    @property
    def grid_size(self) -> int:
        return int(self.kan.act_fun[0].num)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kan(x)

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor) -> None:
        """pykan's grid update on the training inputs `x` (it reads the activations it saves)."""
        self.kan.save_act = True
        self.kan.update_grid_from_samples(x)
        self.kan.save_act = False

    @torch.no_grad()
    def refine(self, grid_size: int, x: torch.Tensor) -> float:
        """pykan's grid extension to `grid_size`, fitted on the training inputs `x`; returns the
        relative change of the outputs on `x`. pykan makes a new MultKAN (new parameters: the
        trainer makes its optimizer anew, as for every family)."""
        before = self(x)
        self.kan.save_act = True
        self.kan(x)  # refine reads the last forward's inputs and activations
        previous = torch.get_default_dtype()
        torch.set_default_dtype(before.dtype)  # pykan makes the new model in the default dtype
        try:
            with torch.random.fork_rng(devices=[]):
                refined = self.kan.refine(grid_size)
        finally:
            torch.set_default_dtype(previous)
        self.kan = nn.Module.to(self._quiet(refined), before.device, before.dtype)  # MultKAN.to takes a device only
        return relative_change(before, self(x))


def layer_costs(spec: Spec, widths: list[int], convention: str) -> list[LayerCost]:
    """The KAN formulas (kanfair.models.kan) for the same architecture; the trainable count
    has no output bias (pykan's node biases are fixed)."""
    kan_spec = {"grid_size": spec["grid_size"], "spline_order": spec["spline_order"], "shortcut": spec["base_fun"]}
    rows = kan_layer_costs(kan_spec, widths, convention)
    if convention == "kanbefair":
        return rows
    return [LayerCost(row.layer, row.params - d_out, row.flops, row.skipped)
            for row, d_out in zip(rows, widths[1:])]


def _build(spec: Spec, in_dim: int, out_dim: int) -> nn.Module:
    return PykanKAN([in_dim, *spec["hidden"], out_dim], spec["grid_size"], spec["spline_order"],
                    spec["grid_range"], spec["base_fun"], spec["grid_eps"])


FAMILY = Family("pykan", PykanConfig, _build, layer_costs, knob="grid_size", label=spline_label,
                check_twice_differentiable=check_spline_twice_differentiable,
                refine=lambda model, grid, x: model.refine(grid, x))
