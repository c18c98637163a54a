"""Tabular tasks. For now scikit-learn's bundled sets, which need no download."""
from __future__ import annotations

import numpy as np
import torch
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from kanfair.config import DatasetConfig

BUNDLED = {
    "digits": skdatasets.load_digits,
    "breast_cancer": skdatasets.load_breast_cancer,
    "wine": skdatasets.load_wine,
    "iris": skdatasets.load_iris,
}
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def load_bundled(cfg: DatasetConfig, data_dir: str) -> "Task":
    """Stratified 80/20 split with a fixed seed; features standardised with train statistics."""
    from kanfair.data import Task

    x, y = BUNDLED[cfg.name](return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    scaler = StandardScaler().fit(x_tr)
    as_x = lambda a: torch.as_tensor(scaler.transform(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return Task(cfg.name, "classification", as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te),
                out_dim=int(np.max(y)) + 1)
