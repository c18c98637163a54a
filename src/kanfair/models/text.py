"""The paper's text front: EmbeddingBag (mean over the document's tokens) before any model."""
from __future__ import annotations

import torch
from torch import nn


class EmbeddingBagFront(nn.Module):
    """Padded token ids (B, L), 0 = padding, -> mean embedding (B, dim) -> `body`."""

    def __init__(self, vocab_size: int, dim: int, body: nn.Module) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.body = body

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.body(self.embedding(tokens))
