"""The value every loader returns: a supervised task held in memory."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Task:
    """A supervised task held in memory: inputs are float32, labels int64 or float32."""

    name: str
    kind: str  # "classification" | "regression"
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    out_dim: int
    vocab_size: int = 0  # text: inputs are padded token ids for an EmbeddingBag front
    split: str = ""  # dataset.split where the data set has a choice (kanbefair, seeded ...)

    @property
    def in_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def metric(self) -> str:
        """The task's headline metric (regression reports `rmse` or `kanbefair_rmse`)."""
        return "accuracy" if self.kind == "classification" else "rmse"
