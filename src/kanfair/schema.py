"""The pieces every config schema is built from: the error type, the range checks and
the base of every model family's schema.

They live apart from `config.py` so that a model family's module can declare its own
schema without importing the registry of all families (which `config.py` needs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List

from omegaconf import MISSING


class ConfigError(ValueError):
    """A config value that composes but makes no sense; `key` is its full dotted name."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem}; {fix}")

    def __reduce__(self):  # picklable with its three parts: a joblib worker sends it back whole
        return type(self), (self.key, self.problem, self.fix)


def check(ok: bool, key: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(key, problem, fix)


def check_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    check(value in choices, key, f"unknown value '{value}'", f"choose one of {', '.join(choices)}")


def check_at_least(value: int, low: int, key: str, example: str) -> None:
    check(value >= low, key, f"must be >= {low} (got {value})", f"set e.g. {key}={example}")


def check_range(grid_range: List[float], key: str) -> None:
    ok = len(grid_range) == 2 and all(map(math.isfinite, grid_range)) and grid_range[0] < grid_range[1]
    check(ok, key, f"must be [low, high], finite, with low < high (got {list(grid_range)})",
          f"set e.g. {key}=[-1,1]")


@dataclass
class ModelConfig:
    """Fields every model family has; `name` picks the family in the model registry."""

    name: str = MISSING
    hidden: List[int] = field(default_factory=lambda: [64])

    def __post_init__(self) -> None:
        for width in self.hidden:
            check(width > 0, "model.hidden", f"widths must be positive (got {list(self.hidden)})",
                  "set e.g. model.hidden=[64]")
