"""The value every loader returns: a supervised task held in memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Task:
    """A task held in memory: inputs are float32, labels int64 or float32. A physics-informed
    task (kind "pde") trains on collocation points (x_train; y_train the source term) with
    the loss of its `physics`, and is scored on an evaluation grid (x_test; y_test exact)."""

    name: str
    kind: str  # "classification" | "regression" | "pde"
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    out_dim: int
    vocab_size: int = 0  # text: inputs are padded token ids for an EmbeddingBag front
    split: str = ""  # dataset.split where the data set has a choice (kanbefair, seeded ...)
    physics: Any = None  # kind "pde": its kanfair.data.pde.Physics (loss terms, points, weights)

    @property
    def in_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def metric(self) -> str:
        """The task's headline metric (regression reports `rmse` or `kanbefair_rmse`)."""
        return {"classification": "accuracy", "pde": "l2re"}.get(self.kind, "rmse")
