"""kanfair: a fair benchmark of KANs against MLPs at equal parameter or FLOP budgets.

From Python: kanfair.run(overrides) -> Record, kanfair.load_runs(results_dir) ->
DataFrame, kanfair.compare(models, dataset, ...) -> DataFrame, kanfair.latex_tables(results_dir)
-> str (see kanfair.api).
"""
from typing import Any

from kanfair.version import __version__
API = ("run", "load_runs", "compare", "latex_tables")


def __getattr__(name: str) -> Any:
    """The API, imported on first use so that `import kanfair` stays light."""
    if name in API:
        from kanfair import api
        return getattr(api, name)
    raise AttributeError(f"module 'kanfair' has no attribute '{name}'")
