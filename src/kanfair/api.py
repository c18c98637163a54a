"""kanfair from Python (a notebook, a script): the same runs, records and tables as the
command line, without a subprocess.

>>> import tempfile, kanfair
>>> out = tempfile.mkdtemp()
>>> record = kanfair.run(["model=mlp", "dataset=iris", "trainer.epochs=3",
...                       f"paths.results_dir={out}"])  # doctest: +ELLIPSIS
kanfair: ...
kanfair: ok | mlp [64] on iris | ...
>>> record.status, record.params
('ok', 515)
>>> runs = kanfair.load_runs(out)
>>> len(runs), bool(runs.loc[0, "test_metric"] == record.test_metric)
(1, True)
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
from hydra import compose, initialize_config_dir

from kanfair import report
from kanfair.cli import CONFIG_DIR
from kanfair.cli import train as train_cli
from kanfair.config import register_configs
from kanfair.results import Record, read_records


def run(overrides: Sequence[str], config_dir: Optional[str] = None) -> Record:
    """One run from command-line style overrides (`["model=kan", "dataset=digits"]`), composed
    and checked as `kanfair-train` does (a bad key raises the error the CLI would print).
    `config_dir` adds a folder of your own configs, as `--config-dir`. Returns the record
    written, or the stored one when the results store already holds it (resume)."""
    register_configs()
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*extra, *overrides])
    return train_cli.run_or_stored(cfg)


def load_runs(results_dir: str | Path = "results") -> pd.DataFrame:
    """Every record under `<results_dir>/runs/` (or in `results_dir` itself) as one row, the
    record's fields as columns (`history`, `config`, `model_spec` ... left nested). A file
    that is not a readable record (truncated, not an object, missing fields) is skipped with
    a warning naming it.

    >>> import kanfair
    >>> kanfair.load_runs("no/such/folder").empty
    True
    """
    folder = Path(results_dir)
    folder = folder / "runs" if (folder / "runs").is_dir() else folder
    rows = read_records(folder, lambda message: warnings.warn(message, stacklevel=3))
    return pd.DataFrame(rows)


def compare(models: Sequence[str], dataset: str = "digits", params: Optional[float] = None,
            seeds: Sequence[int] = (0,), overrides: Sequence[str] = (),
            results_dir: str = "results") -> pd.DataFrame:
    """Train each model family on `dataset` (matched to `params` trainable parameters when
    given, `budget.vary=width_grid`) over `seeds`, and return the comparison table: each
    family's mean and std of the test metric over seeds, best first.

    >>> import tempfile, kanfair
    >>> table = kanfair.compare(["mlp", "cheby_kan"], "iris", params=500, seeds=[0, 1],
    ...     overrides=["trainer.epochs=2"], results_dir=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    kanfair: ...
    >>> sorted(table.model), table.seeds.tolist(), bool(table.params.between(490, 510).all())
    (['cheby_kan', 'mlp'], [2, 2], True)
    """
    budget = ["budget=params", f"budget.target={params}", "budget.vary=width_grid"] if params else []
    records = [run([f"model={model}", f"dataset={dataset}", f"seed={seed}", *budget, *overrides,
                    f"paths.results_dir={results_dir}"])
               for model in models for seed in seeds]
    summary = report.summarise(report.runs_frame([dataclasses.asdict(r) for r in records]))
    columns = ["dataset", "model", "metric", "mean", "std", "seeds", "hidden", "settings", "params",
               "flops", "flops_convention", "time_per_epoch_s"]
    return report.best_per_family(summary)[columns].reset_index(drop=True)
