"""The gradient-boosting reference line: scikit-learn's HistGradientBoosting as `model=hgb`.

Not a neural family: it has no width for the budget matcher to size and no trainer loop,
so it is not in FAMILIES. It is the line every tabular user asks for beside the networks:
fitted on the same training rows, selected on the same validation split, tuned with the
same number of trials, and reported in the same tables, marked as a reference (its record
carries the budget of the comparison it stands beside, with `reference: true`).
scikit-learn's own early stopping is off: it would hold out a validation share of its
own, where every other model is selected on the comparison's split.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

from kanfair.schema import check

NAME = "hgb"


@dataclass
class BoostingConfig:
    """HistGradientBoosting's settings (scikit-learn's names and defaults); `name` is hgb."""

    name: str = NAME
    max_iter: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    max_depth: Optional[int] = None
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    max_features: float = 1.0
    max_bins: int = 255

    def __post_init__(self) -> None:
        check(self.name == NAME, "model.name", f"is {self.name}, but these are {NAME}'s settings",
              f"use model={self.name}")
        for key, low in (("max_iter", 1), ("max_leaf_nodes", 2), ("min_samples_leaf", 1)):
            check(getattr(self, key) >= low, f"model.{key}", f"must be >= {low} (got {getattr(self, key)})",
                  f"set e.g. model.{key}={BoostingConfig.__dataclass_fields__[key].default}")
        check(self.max_depth is None or self.max_depth >= 1, "model.max_depth",
              f"must be >= 1 or null (got {self.max_depth})", "set e.g. model.max_depth=6, or null (no limit)")
        check(math.isfinite(self.learning_rate) and self.learning_rate > 0, "model.learning_rate",
              f"must be a finite number > 0 (got {self.learning_rate})", "set e.g. model.learning_rate=0.1")
        check(math.isfinite(self.l2_regularization) and self.l2_regularization >= 0, "model.l2_regularization",
              f"must be a finite number >= 0 (got {self.l2_regularization})", "set e.g. model.l2_regularization=0")
        check(0 < self.max_features <= 1, "model.max_features",
              f"must be in (0, 1] (got {self.max_features})", "set e.g. model.max_features=1.0")
        check(2 <= self.max_bins <= 255, "model.max_bins", f"must be in 2 .. 255 (got {self.max_bins})",
              "set e.g. model.max_bins=255")


def estimator(spec: dict[str, Any], kind: str, seed: int) -> Any:
    """The unfitted scikit-learn estimator of `spec` for a task of `kind`; `seed` drives its
    feature subsampling (max_features < 1), the only randomness left without early stopping."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    settings = {k: v for k, v in asdict(BoostingConfig(**spec)).items() if k != "name"}
    cls = HistGradientBoostingClassifier if kind == "classification" else HistGradientBoostingRegressor
    return cls(**settings, early_stopping=False, random_state=seed)


def label(spec: dict[str, Any]) -> str:
    """The settings in short, for tables: learning rate, iterations, leaves per tree."""
    return f"lr {spec['learning_rate']:.3g}, {spec['max_iter']} trees, {spec['max_leaf_nodes']} leaves"


def tree_nodes(fitted: Any) -> int:
    """Split and leaf nodes over all fitted trees: the values a fitted model stores (its
    size, in place of trainable parameters). scikit-learn keeps the trees in the private
    `_predictors` (one list per boosting iteration), which it has kept since 0.21."""
    return sum(len(tree.nodes) for iteration in fitted._predictors for tree in iteration)
