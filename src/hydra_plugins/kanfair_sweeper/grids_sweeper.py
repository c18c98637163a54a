"""A sweeper over a union of grids: `hydra/sweeper=grids`.

The paper sweeps each model family over its own hyper-parameters (a KAN's grid size means
nothing to an MLP). One cartesian product cannot say that, so each entry of
`hydra.sweeper.grids` is a cartesian product of its own, swept together with
`hydra.sweeper.params` and the command line, and the jobs are the union of all grids.
A key given on the command line or in `params` replaces the same key of every grid
(e.g. `trainer.epochs=2` for a quick look); `~hydra.sweeper.grids.<name>` drops a grid.
`hydra.sweeper.sample=N` runs N of the jobs drawn at random (`hydra.sweeper.sample_seed`),
in their grid order: a slice of a large grid, or a check of scripts/plan.py's estimate.
"""
# No `from __future__ import annotations`: Hydra executes plugin modules before they are in
# sys.modules, where dataclasses cannot resolve string annotations.
import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


@dataclass
class GridsSweeperConf:
    _target_: str = "hydra_plugins.kanfair_sweeper.grids_sweeper.GridsSweeper"
    max_batch_size: Optional[int] = None
    params: Dict[str, Any] = field(default_factory=dict)  # swept in every grid
    grids: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # name -> key -> values
    sample: Optional[int] = None  # run this many of the jobs, drawn at random
    sample_seed: int = 0


ConfigStore.instance().store(group="hydra/sweeper", name="grids", node=GridsSweeperConf,
                             provider="kanfair")


class GridsSweeper(BasicSweeper):
    """BasicSweeper whose job list is the union of one cartesian product per grid."""

    def __init__(self, max_batch_size: Optional[int], params: Optional[Dict[str, Any]] = None,
                 grids: Optional[Dict[str, Dict[str, Any]]] = None, sample: Optional[int] = None,
                 sample_seed: int = 0) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.grids = dict(grids or {})
        if sample is not None and sample < 1:
            raise ValueError(f"hydra.sweeper.sample={sample}: give a number of jobs >= 1, or "
                             "leave it out to run them all")
        self.sample, self.sample_seed = sample, sample_seed

    def split_arguments(self, overrides: List[Override],  # type: ignore[override]
                        max_batch_size: Optional[int]) -> List[List[List[str]]]:
        jobs = self.expand(overrides)
        if self.sample is not None and self.sample < len(jobs):
            chosen = sorted(random.Random(self.sample_seed).sample(range(len(jobs)), self.sample))
            jobs = [jobs[i] for i in chosen]
        size = max_batch_size if max_batch_size and max_batch_size > 0 else max(len(jobs), 1)
        return [jobs[start:start + size] for start in range(0, len(jobs), size)]

    def expand(self, overrides: List[Override]) -> List[List[str]]:
        """The jobs, each a list of override strings: one cartesian product per grid, with
        `overrides` (`params` plus the command line) winning over a grid's own keys."""
        if not self.grids:
            return BasicSweeper.split_arguments(overrides, None)[0]
        loader = self.hydra_context.config_loader if self.hydra_context else None
        parser = OverridesParser.create(config_loader=loader)  # the loader expands glob()
        jobs: List[List[str]] = []
        for grid in self.grids.values():
            grid_overrides = parser.parse_overrides([f"{key}={value}"
                                                     for key, value in (grid or {}).items()])
            jobs.extend(BasicSweeper.split_arguments(grid_overrides + overrides, None)[0])
        return [list(job) for job in dict.fromkeys(tuple(job) for job in jobs)]
