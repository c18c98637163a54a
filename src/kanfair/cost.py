"""Analytic parameter and FLOP counts per model family: forward pass, per sample.

Three conventions, named in every record:

- ``kanbefair``: the paper's published formulas verbatim. A multiply-add is 2 FLOPs,
  bias adds are not counted, and every layer (the last included) is charged the
  activation (MLP) or the spline (B-spline MLPs). Its parameter formula charges a KAN
  with a non-zero shortcut one extra d_in·d_out, and B-spline MLPs a spline on the output.
- ``ops``: what kanfair's implementation computes. Matmuls at 2 FLOPs per multiply-add,
  one FLOP per bias add and per addition of the base and spline terms, activation and
  shortcut elementwise costs from the paper's table, and the B-spline basis once per
  input (not per edge) at the cost of the closed form (``basis_ops``).
- ``macs``: multiply-accumulates of the matrix products and contractions only (fvcore's
  convention; the basis evaluation is not a contraction and counts 0).

In ``ops`` and ``macs`` the parameter count is the trainable values the forward pass
uses, which equals ``sum(p.numel())`` of the built model. Per-batch work that does not
scale with the batch (forming s_s·c once per forward) is not a per-sample cost.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from kanfair.config import model_spec

CONVENTIONS = ("kanbefair", "ops", "macs")

# FLOPs per element, the paper's table
ACTIVATION_FLOPS = {
    "zero": 0, "identity": 0, "relu": 1, "square_relu": 2, "sigmoid": 4, "silu": 5,
    "tanh": 6, "gelu": 14, "polynomial2": 5, "polynomial3": 9, "polynomial5": 14,
}
BATCH_NORM_FLOPS = 4  # (x - mean) · invstd · gamma + beta, per element


@dataclass
class LayerCost:
    layer: str
    params: int
    flops: float


@dataclass
class Cost:
    params: int
    flops: float
    convention: str
    layers: list[LayerCost] = field(default_factory=list)


def basis_ops(spline_order: int) -> int:
    """FLOPs of kanfair's closed-form basis for one input, as the de Boor triangle of the
    CPU kernels and the compiled layer computes it (kanfair.models.bspline; PyTorch ops
    alone evaluate the same pieces as polynomials: (K+1)^2 multiply-adds, a few FLOPs
    more, fewer memory passes):
    cell and local coordinate u: (x - t_0)·(1/h), floor, (x - t_c)·(1/h): 5; v = 1 - u: 1;
    de Boor step k, entry r: a multiply per neighbour, an add of the constant to u or v
    unless it is 0, and an add joining two terms; normalisation: one multiply per piece."""
    flops = 6
    for k in range(1, spline_order + 1):
        for r in range(k + 1):
            if r >= 1:
                flops += 1 + (k > r)
            if r < k:
                flops += 1 + (r > 0)
            if 1 <= r < k:
                flops += 1
    return flops + spline_order + 1


def _kanbefair_spline_term(grid_size: int, spline_order: int) -> float:
    """The paper's per-edge B-spline FLOPs without its constant: 9K(G + 1.5K) + 2G - 2.5K."""
    return 9 * spline_order * (grid_size + 1.5 * spline_order) + 2 * grid_size - 2.5 * spline_order


def _mlp(spec: dict, widths: list[int], convention: str) -> list[LayerCost]:
    act = ACTIVATION_FLOPS[spec["activation"]]
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = index < len(widths) - 2
        bn = spec["batch_norm"] and hidden
        params = d_out * (d_in + 1) + (2 * d_out if bn else 0)
        if convention == "kanbefair":
            flops = 2 * d_in * d_out + act * d_out + (BATCH_NORM_FLOPS * d_out if bn else 0)
        elif convention == "ops":
            flops = (2 * d_in * d_out + d_out + (act * d_out if hidden else 0)
                     + (BATCH_NORM_FLOPS * d_out if bn else 0))
        else:
            flops = d_in * d_out
        rows.append(LayerCost(f"linear{index}", params, flops))
    return rows


def _kan(spec: dict, widths: list[int], convention: str) -> list[LayerCost]:
    grid, order, shortcut = spec["grid_size"], spec["spline_order"], spec["shortcut"]
    n_basis = grid + order
    base = shortcut != "zero"
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        edges = d_in * d_out
        trainable = edges * (n_basis + 1 + base) + d_out
        if convention == "kanbefair":
            params = edges * (n_basis + 2) + d_out + (edges if base else 0)
            flops = edges * (_kanbefair_spline_term(grid, order) + 1)
            if base:
                flops += ACTIVATION_FLOPS[shortcut] * d_in + 2 * edges
        elif convention == "ops":
            params = trainable
            flops = d_in * basis_ops(order) + 2 * edges * n_basis + d_out
            if base:
                flops += ACTIVATION_FLOPS[shortcut] * d_in + 2 * edges + d_out
        else:
            params, flops = trainable, edges * (n_basis + base)
        rows.append(LayerCost(f"kan{index}", params, flops))
    return rows


def _bspline_mlp(spec: dict, widths: list[int], convention: str) -> list[LayerCost]:
    grid, order = spec["grid_size"], spec["spline_order"]
    n_basis = grid + order
    first = spec["name"] == "bspline_first_mlp"
    rows = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = index < len(widths) - 2
        bn = spec["batch_norm"] and hidden
        linear_params = d_out * (d_in + 1) + (2 * d_out if bn else 0)
        bn_flops = BATCH_NORM_FLOPS * d_out if bn else 0
        if convention == "kanbefair":  # a spline on every layer, the last included
            channels = d_in if first else d_out
            params = linear_params + channels * n_basis
            flops = (2 * d_in * d_out + bn_flops
                     + channels * (_kanbefair_spline_term(grid, order) - 1))
        else:
            channels = d_in if first else (d_out if hidden else 0)
            params = linear_params + channels * n_basis
            if convention == "ops":
                flops = (2 * d_in * d_out + d_out + bn_flops
                         + channels * (basis_ops(order) + 2 * n_basis))
            else:
                flops = d_in * d_out + channels * n_basis
        rows.append(LayerCost(f"layer{index}", params, flops))
    return rows


FAMILIES = {"mlp": _mlp, "kan": _kan, "bspline_mlp": _bspline_mlp,
            "bspline_first_mlp": _bspline_mlp}


def count(model: Mapping[str, Any], in_dim: int, out_dim: int,
          convention: str = "kanbefair") -> Cost:
    """Parameters and per-sample forward FLOPs of `model` (a plain dict with the keys of
    configs/model/*.yaml plus `name`; missing keys take the config defaults)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown FLOP convention '{convention}'; choose one of {', '.join(CONVENTIONS)}")
    spec = model_spec(model)
    widths = [in_dim, *spec["hidden"], out_dim]
    layers = FAMILIES[spec["name"]](spec, widths, convention)
    return Cost(sum(row.params for row in layers), float(sum(row.flops for row in layers)),
                convention, layers)


# fvcore operators that are matrix products or contractions (its other handles, e.g.
# batch_norm, count elementwise work, which the macs convention leaves out)
FVCORE_CONTRACTIONS = ("linear", "addmm", "matmul", "mm", "bmm", "einsum")
SPLINE_LINEAR_OP = "prim::PythonOp._SplineLinearFunction"
SPLINE_ACTIVATION_OP = "prim::PythonOp._SplineActivationFunction"
BASIS_OP = "prim::PythonOp._BasisFunction"


def _spline_linear_macs(inputs: list, outputs: list) -> Counter:
    """x (B, n) against weight (out, n, G+K): B·n·(G+K)·out multiply-accumulates."""
    from fvcore.nn.jit_handles import get_shape

    batch, n_in = get_shape(inputs[0])
    n_out, _, n_basis = get_shape(inputs[1])
    return Counter({"spline_linear": batch * n_in * n_basis * n_out})


def _spline_activation_macs(inputs: list, outputs: list) -> Counter:
    """x (B, C) against coef (C, G+K): B·C·(G+K) multiply-accumulates, fvcore's count of
    the same contraction written as an einsum (the PyTorch-ops path)."""
    from fvcore.nn.jit_handles import get_shape

    batch, channels = get_shape(inputs[0])
    return Counter({"spline_activation": batch * channels * get_shape(inputs[1])[1]})


def macs_by_fvcore(model: nn.Module, in_dim: int) -> float:
    """fvcore's multiply-accumulate count of one sample through `model` (in eval mode),
    restricted to contractions, with kanfair's spline matmul and per-channel spline counted
    as contractions and the basis evaluation as none: the independent check of the `macs`
    convention."""
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    analysis = FlopCountAnalysis(model.eval(), torch.zeros(1, in_dim))
    analysis.set_op_handle(SPLINE_LINEAR_OP, _spline_linear_macs,
                           SPLINE_ACTIVATION_OP, _spline_activation_macs, BASIS_OP, None)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    fvcore_log = logging.getLogger("fvcore")
    level = fvcore_log.level
    fvcore_log.setLevel(logging.ERROR)  # its per-op skip notices are not for users
    try:
        by_operator = analysis.by_operator()
    finally:
        fvcore_log.setLevel(level)
        model.train(was_training)
    return float(sum(v for op, v in by_operator.items()
                     if op in FVCORE_CONTRACTIONS or op.startswith("spline_")))
