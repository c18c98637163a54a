"""Refitting a layer's edge functions on another basis: grid extension (a finer grid, more
centres, more terms) and a KAN's grid update (the grid moved to its inputs).

The KAN paper's grid extension fits the fine spline to the coarse one by least squares on
the training inputs; where the fine grid contains the coarse knots the coarse spline lies
in the fine spline space and the fit is exact to rounding. Hand-written because no library
refits a batch of per-edge functions on a layer's own basis; the solver is LAPACK's.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from kanfair.models.engine.bspline import bspline_basis


def least_squares(design: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per input i, the coefficients c_i minimising ||design_i @ c_i - targets_i||:
    design (n, P, m), targets (n, P, out) -> (n, m, out), in float64 on the CPU with
    LAPACK's gelsd, so a basis function without a sample (a fine grid's empty cell) gets the
    minimum-norm coefficient instead of breaking the solve."""
    solution = torch.linalg.lstsq(design.detach().double().cpu(), targets.detach().double().cpu(),
                                  driver="gelsd").solution
    return solution.to(targets.device)


def refit_spline(points: torch.Tensor, coef: torch.Tensor, knots: torch.Tensor, grid_size: int,
                 spline_order: int, new_knots: torch.Tensor, new_grid_size: int) -> torch.Tensor:
    """Coefficients on `new_knots` (new_grid_size intervals) of the splines closest, in
    least squares on `points` (P, n), to the splines `coef` (out, n, G+K) on `knots`:
    (out, n, G'+K), in coef's dtype."""
    points = points.detach().double()
    old = bspline_basis(points, grid_size, spline_order, knots=knots.double())  # (P, n, G+K)
    targets = torch.einsum("pij,oij->ipo", old, coef.detach().double())  # (n, P, out)
    design = bspline_basis(points, new_grid_size, spline_order, knots=new_knots.double())
    return least_squares(design.permute(1, 0, 2), targets).permute(2, 0, 1).to(coef.dtype).contiguous()


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    """||after - before|| / ||before|| (the absolute change where `before` is zero)."""
    change = float((after - before).double().norm())
    scale = float(before.double().norm())
    return change / scale if scale > 0 else change


@torch.no_grad()
def refine_stack(layers: Iterable[nn.Module], value: int, x: torch.Tensor) -> float:
    """Extend every layer of a feed-forward stack that has an `extend(value, inputs)` to the
    knob `value`, each fitted on the inputs it receives from `x` (the training inputs)
    through the layers before it, as they were before the extension. Returns the relative
    change of the stack's outputs on `x`: 0 to rounding for an exact extension, else the
    least-squares residual carried to the outputs."""
    layers = list(layers)
    was_training = [layer.training for layer in layers]
    for layer in layers:
        layer.eval()
    inputs = x
    for layer in layers:
        outputs = layer(inputs)
        if hasattr(layer, "extend"):
            layer.extend(value, inputs)
        inputs = outputs
    after = x
    for layer in layers:
        after = layer(after)
    for layer, training in zip(layers, was_training):
        layer.train(training)
    return relative_change(inputs, after)
