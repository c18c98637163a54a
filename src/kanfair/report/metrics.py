"""The metrics a record can hold as its headline, and which way each is better.

Its own module because the tuner (which direction to optimise), the report (which row is
best) and the verdict (which family leads) all need the same answer.
"""
HIGHER_IS_BETTER = {"accuracy": True, "rmse": False, "kanbefair_rmse": False, "l2re": False}
RANGES = {"accuracy": (0.0, 100.0)}  # a bounded metric: no interval reaches past its range


def is_error(metric: str) -> bool:
    """A lower-is-better metric: an error (RMSE, L2RE), positive, what scales as N^-alpha."""
    return not HIGHER_IS_BETTER.get(metric, True)
