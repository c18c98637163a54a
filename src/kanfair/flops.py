"""How cost is counted: the per-element FLOP table, the cost row of one layer, and
fvcore's traced count. Each model family's module writes its own cost rows from these;
`kanfair.cost` adds them up.

The three conventions, named in every record:

- ``kanbefair``: the paper's published formulas verbatim. A multiply-add is 2 FLOPs,
  bias adds are not counted, and every layer (the last included) is charged the
  activation (MLP) or the spline (B-spline MLPs). Its parameter formula charges a KAN
  with a non-zero shortcut one extra d_in·d_out, and B-spline MLPs a spline on the output.
  Families the paper did not have are charged their basis once per edge, the way the
  paper charges the B-spline basis (each family's module gives its formula).
- ``ops``: what kanfair's implementation computes. Matmuls at 2 FLOPs per multiply-add,
  one FLOP per bias add and per addition of two terms, elementwise costs from the
  paper's table (where a transcendental function such as exp, sin or cos stands alone
  it counts 1, as the table's sigmoid 4 and tanh 6 imply), and a basis once per input.
- ``macs``: multiply-accumulates of the matrix products and contractions only (fvcore's
  convention; a basis evaluation is not a contraction and counts 0).

In ``ops`` and ``macs`` the parameter count is the trainable values the forward pass
uses, which equals ``sum(p.numel())`` of the built model. Per-batch work that does not
scale with the batch (forming s_s·c once per forward) is not a per-sample cost.
"""
from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Optional

import torch
from torch import nn

CONVENTIONS = ("kanbefair", "ops", "macs")

# FLOPs per element, the paper's table
ACTIVATION_FLOPS = {
    "zero": 0, "identity": 0, "relu": 1, "square_relu": 2, "sigmoid": 4, "silu": 5,
    "tanh": 6, "gelu": 14, "polynomial2": 5, "polynomial3": 9, "polynomial5": 14,
}
BATCH_NORM_FLOPS = 4  # (x - mean) · invstd · gamma + beta, per element
TRANSCENDENTAL_FLOPS = 1  # exp, sin, cos on their own (the table's sigmoid and tanh imply 1)


@dataclass
class LayerCost:
    layer: str
    params: int
    flops: float
    # operators a traced count left out, with how often they ran: the row's FLOPs are then
    # a lower bound (custom models, counted by fvcore)
    skipped: dict[str, int] = field(default_factory=dict)


def linear_row(name: str, d_in: int, d_out: int, convention: str, bias: bool = True,
               batch_norm: bool = False) -> LayerCost:
    """A Linear layer: d_out·(d_in + 1) parameters; 2·d_in·d_out FLOPs (+ d_out bias adds in
    ops), d_in·d_out MACs; with `batch_norm`, a BatchNorm1d after it: 2 parameters and
    4 FLOPs per channel (no MACs)."""
    params = d_out * (d_in + bias) + (2 * d_out if batch_norm else 0)
    if convention == "macs":
        return LayerCost(name, params, d_in * d_out)
    flops = 2 * d_in * d_out + (d_out * bias if convention == "ops" else 0)
    return LayerCost(name, params, flops + (BATCH_NORM_FLOPS * d_out if batch_norm else 0))


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


def is_contraction(operator: str) -> bool:
    return operator in FVCORE_CONTRACTIONS or operator.startswith("spline_")


@dataclass
class Traced:
    """fvcore's count of one sample per operator, and the operators it skipped (no handle)
    with how often each ran."""

    counts: dict[str, float]
    skipped: dict[str, int]


def fvcore_counts(model: nn.Module, in_dim: int, elementwise: Optional[Mapping[str, float]] = None) -> Traced:
    """fvcore's count per operator of one sample through `model` (in eval mode), with
    kanfair's spline matmul and per-channel spline counted as contractions and the basis
    evaluation as none. Contractions are multiply-accumulates; the other operators fvcore
    knows (the norms) are its elementwise counts. `elementwise` gives FLOPs per output
    element for operators fvcore has no handle for, by name ({"mul": 1} is aten::mul); the
    others it meets are listed as skipped."""
    with warnings.catch_warnings():  # fvcore goes through torch.jit, which warns of its own deprecation
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        from fvcore.nn import FlopCountAnalysis
        from fvcore.nn.jit_handles import elementwise_flop_counter

    was_training = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    analysis = FlopCountAnalysis(model.eval(), torch.zeros(1, in_dim, device=device))
    analysis.set_op_handle(SPLINE_LINEAR_OP, _spline_linear_macs,
                           SPLINE_ACTIVATION_OP, _spline_activation_macs, BASIS_OP, None)
    analysis.set_op_handle(**{op if "::" in op else f"aten::{op}": elementwise_flop_counter(0, flops)
                              for op, flops in (elementwise or {}).items()})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    fvcore_log = logging.getLogger("fvcore")
    level = fvcore_log.level
    fvcore_log.setLevel(logging.ERROR)  # its per-op skip notices are not for users
    try:
        counts = {op: float(v) for op, v in analysis.by_operator().items()}
        return Traced(counts, dict(sorted(analysis.unsupported_ops().items())))
    finally:
        fvcore_log.setLevel(level)
        model.train(was_training)


def skipped_line(skipped: Mapping[str, int]) -> str:
    """'aten::mul x168, aten::add x86' (most frequent first)."""
    return ", ".join(f"{op} x{n}" for op, n in sorted(skipped.items(), key=lambda item: -item[1]))


def basis_expansion_row(name: str, d_in: int, d_out: int, n_basis: int, basis_flops: float,
                        convention: str, bias: bool = True) -> LayerCost:
    """A layer that expands each input into `n_basis` features (at `basis_flops` per input)
    and maps the d_in·n_basis features linearly to d_out outputs: Fourier, RBF and
    Chebyshev KANs. Parameters d_in·n_basis·d_out (+ d_out bias). ops: the basis once per
    input, 2 FLOPs per multiply-add, the bias adds. macs: the map's multiply-accumulates.
    kanbefair: the basis charged to every edge, as the paper charges the B-spline basis,
    plus 2 FLOPs per multiply-add, no bias adds."""
    edges = d_in * d_out
    params = edges * n_basis + (d_out if bias else 0)
    if convention == "macs":
        return LayerCost(name, params, edges * n_basis)
    if convention == "ops":
        return LayerCost(name, params, d_in * basis_flops + 2 * edges * n_basis + (d_out if bias else 0))
    return LayerCost(name, params, edges * (basis_flops + 2 * n_basis))
