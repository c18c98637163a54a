"""The KAN paper's sparsification and pruning (Sec 2.5.1), as pykan coded them for the paper
(v1, commit 2ba1508: `KAN.train`'s `reg` and `KAN.prune`), for kanfair's spline KAN.

- Each edge's size is |phi|_1, the mean of |phi(x)| over the training inputs, divided by
  the width of its input's grid (KANLinear.edge_scales).
- Sparsity penalty per layer: lamb_l1 · sum of its edge sizes + lamb_entropy · the entropy
  (base 2) of the sizes normalised to sum 1; summed over layers, times lamb, added to the
  loss (pykan's defaults lamb_l1 = 1, lamb_entropy = 2; its coefficient penalties default
  to 0 and are left out).
- Pruning: a hidden node stays when its largest incoming edge and its largest outgoing edge
  are both above the threshold theta (1e-2 in the paper); the paper keeps every input. On
  request (`inputs=True`, trainer.prune_inputs) an input stays only when its largest
  outgoing edge is above theta (the role of pykan's later `prune_input`), so an input that
  no edge reads is dropped. A layer never loses its last node (the one of largest score
  stays). Edges between kept nodes are kept (pykan v1 masks no single edges).

Hand-written because pykan's versions work only on pykan's own model.
"""
from __future__ import annotations

from typing import Any

import torch

from kanfair.models import count_params


def sparsity_penalty(edge_scales: list[torch.Tensor], lamb_l1: float, lamb_entropy: float) -> torch.Tensor:
    """sum over layers of lamb_l1 · |Phi|_1 + lamb_entropy · S(Phi), from each layer's edge
    sizes (out, in)."""
    total = edge_scales[0].new_zeros(())
    for scales in edge_scales:
        sizes = scales.reshape(-1)
        share = sizes / sizes.sum()
        entropy = -(share * torch.log2(share + 1e-4)).sum()
        total = total + lamb_l1 * sizes.sum() + lamb_entropy * entropy
    return total


def _kept(score: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices whose score is above the threshold; the largest alone where none is."""
    kept = torch.nonzero(score > threshold).flatten()
    return kept if len(kept) else score.argmax().reshape(1)


@torch.no_grad()
def prune(model: torch.nn.Module, x: torch.Tensor, threshold: float, inputs: bool = False) -> dict[str, Any]:
    """Prune `model` (a kanfair KAN) in place by its edge sizes on the training inputs `x`.
    Returns what the record says of it: the threshold, widths and trainable parameters
    before and after, the input columns kept and each layer's node scores."""
    widths_before = [model.layers[0].in_features, *(layer.out_features for layer in model.layers)]
    params_before = count_params(model)
    was_training = model.training
    model.eval()
    scales: list[torch.Tensor] = []
    model(x, edge_scales=scales)
    model.train(was_training)
    # node l's score: min(largest incoming, largest outgoing); inputs have only outgoing edges
    scores = [scales[0].max(0).values]
    kept = [_kept(scores[0], threshold) if inputs else torch.arange(len(scores[0]), device=x.device)]
    for incoming, outgoing in zip(scales[:-1], scales[1:]):
        score = torch.minimum(incoming.max(1).values, outgoing.max(0).values)
        scores.append(score)
        kept.append(_kept(score, threshold))
    outputs = torch.arange(model.layers[-1].out_features, device=x.device)
    for layer, inputs, outs in zip(model.layers, kept, [*kept[1:], outputs]):
        layer.keep(inputs.to(layer.coef.device), outs.to(layer.coef.device))
    columns = kept[0] if model.input_columns is None else model.input_columns[kept[0]]
    model.input_columns = columns.clone()
    return {"threshold": threshold, "widths_before": widths_before,
            "widths_after": [model.layers[0].in_features, *(layer.out_features for layer in model.layers)],
            "input_columns": [int(c) for c in columns], "params_before": params_before,
            "params_after": count_params(model), "node_scores": [[float(v) for v in s] for s in scores]}
