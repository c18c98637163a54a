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
import math
import warnings
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
from hydra import compose, initialize_config_dir

from kanfair.report import tables
from kanfair.config import CONFIG_DIR, register_configs
from kanfair.errors import describe
from kanfair.results import Record, read_records
from kanfair.runner import run_or_stored
from kanfair.schema import ConfigError, check


def run(overrides: Sequence[str], config_dir: Optional[str] = None) -> Record:
    """One run from command-line style overrides (`["model=kan", "dataset=digits"]`), composed
    and checked as `kanfair-train` does (a bad key raises the error the CLI would print).
    `config_dir` adds a folder of your own configs, as `--config-dir`. Returns the record
    written, or the stored one when the results store already holds it (resume)."""
    check(not isinstance(overrides, str) and all(isinstance(o, str) for o in overrides), "overrides",
          f"must be a list of strings, got {overrides!r}", 'e.g. kanfair.run(["model=kan", "dataset=digits"])')
    register_configs()
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="train", overrides=[*extra, *overrides])
    except ConfigError:
        raise
    except Exception as error:  # Hydra's own words (e.g. its "use +key") are not kanfair's advice
        raise ConfigError("overrides", describe(error), "fix that override") from error
    return run_or_stored(cfg)


def load_runs(results_dir: str | Path = "results") -> pd.DataFrame:
    """Every record under `<results_dir>/runs/` (or in `results_dir` itself) as one row, the
    record's fields as columns (`history`, `config`, `model_spec` ... left nested). A file
    that is not a readable record (truncated, not an object, missing fields) is skipped with
    a warning naming it.

    A missing folder, or a path that is not a folder, raises FileNotFoundError naming it.
    """
    folder = Path(results_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"kanfair: {folder} is not a folder of run records; give the results_dir "
                                "of your runs (records are in <results_dir>/runs/)")
    folder = folder / "runs" if (folder / "runs").is_dir() else folder
    rows = read_records(folder, lambda message: warnings.warn(message, stacklevel=3))
    return pd.DataFrame(rows)


def latex_tables(results_dir: str | Path = "results") -> str:
    """The comparison and the verdict of every record under `results_dir` as booktabs
    LaTeX tables in a standalone document (what `kanfair-report --latex` writes to
    tables.tex): mean ± std, the best in bold, a dagger where the verdict says significantly
    worse, the budget and FLOP convention in the caption."""
    folder = Path(results_dir)
    return tables.latex_tables(tables.load_records(folder / "runs" if (folder / "runs").is_dir() else folder))


def compare(models: Sequence[str], dataset: str = "digits", params: Optional[float] = None,
            seeds: Sequence[int] = (0,), overrides: Sequence[str] = (),
            results_dir: str = "results") -> pd.DataFrame:
    """Train each model (a family, or a config of configs/model/ such as mlp_tanh) on `dataset` (matched to `params` trainable parameters when
    given, `budget.vary=width_grid`) over `seeds`, and return the comparison table: each
    family's mean and std of the test metric over seeds, best first.

    >>> import tempfile, kanfair
    >>> table = kanfair.compare(["mlp", "cheby_kan"], "iris", params=500, seeds=[0, 1],
    ...     overrides=["trainer.epochs=2"], results_dir=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    kanfair: ...
    >>> sorted(table.model), table.seeds.tolist(), bool(table.params.between(490, 510).all())
    (['cheby_kan', 'mlp'], [2, 2], True)
    """
    check(not isinstance(models, str) and len(models) > 0, "models", f"must be a non-empty list of families, "
          f"got {models!r}", 'e.g. kanfair.compare(["mlp", "kan"], "digits")')
    known = sorted(path.stem for path in (Path(CONFIG_DIR) / "model").glob("*.yaml"))  # as model= takes them
    for model in models:  # an unknown name fails before anything trains
        check(model in known, "models", f"unknown model '{model}'", f"choose one of {', '.join(known)}")
    check(len(seeds) > 0, "seeds", "is empty: no run would train", "e.g. seeds=[0, 1, 2]")
    check(params is None or (isinstance(params, (int, float)) and math.isfinite(params) and params > 0),
          "params", f"must be a positive number of trainable parameters, or None (got {params!r})",
          "e.g. params=5000")
    budget = ["budget=params", f"budget.target={params}", "budget.vary=width_grid"] if params is not None else []
    records = [run([f"model={model}", f"dataset={dataset}", f"seed={seed}", *budget, *overrides,
                    f"paths.results_dir={results_dir}"])
               for model in models for seed in seeds]
    summary = tables.summarise(tables.runs_frame([dataclasses.asdict(r) for r in records]))
    columns = ["dataset", "model", "metric", "mean", "std", "seeds", "hidden", "settings", "params",
               "flops", "flops_convention", "time_per_epoch_s"]
    return tables.best_per_family(summary)[columns].reset_index(drop=True)
