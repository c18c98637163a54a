"""The budget matcher: size a model to a parameter or FLOP budget by exact integer search.

Cost is non-decreasing in the searched size (all hidden widths scaled together, or the
grid size), so a doubling search brackets the target, bisection finds the first size at
or above it, and the closer of that size and the one below wins. Only `cost` is used:
no model is built.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional

from kanfair.config import model_spec
from kanfair.cost import CONVENTIONS, count

KINDS = ("params", "flops")
VARY = ("width", "grid")
MAX_SIZE = 1 << 24


class BudgetError(ValueError):
    """No size of the model is within tolerance of the budget (or the request is invalid)."""


@dataclass
class Match:
    model: dict[str, Any]  # the concrete model spec
    kind: str
    target: float
    achieved: float
    deviation: float  # (achieved - target) / target
    convention: str
    vary: str
    size: int  # the width of the first hidden layer, or the grid size

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sized(spec: Mapping[str, Any], vary: str, size: int) -> dict[str, Any]:
    """The spec at one size: hidden widths scaled in proportion to the first (vary=width)
    or the grid size set (vary=grid)."""
    spec = dict(spec)
    if vary == "grid":
        spec["grid_size"] = size
    else:
        first = spec["hidden"][0]
        spec["hidden"] = [max(1, round(size * width / first)) for width in spec["hidden"]]
    return spec


def target_of(match_model: Mapping[str, Any], in_dim: int, out_dim: int, kind: str,
              convention: str) -> float:
    """The budget a reference model spends (e.g. the paper's KAN [784, 16, 10] G5 K3)."""
    cost = count(match_model, in_dim, out_dim, convention)
    return float(cost.params if kind == "params" else cost.flops)


def _search(cost_at: Callable[[int], float], target: float) -> list[int]:
    """The sizes on either side of the target: [n-1, n] with cost(n-1) < target <= cost(n)."""
    if cost_at(1) >= target:
        return [1]
    low, high = 1, 2
    while cost_at(high) < target:
        low, high = high, high * 2
        if high > MAX_SIZE:
            return [MAX_SIZE]
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if cost_at(middle) < target else (low, middle)
    return [low, high]


def match(model: Mapping[str, Any], in_dim: int, out_dim: int, kind: str = "params",
          target: Optional[float] = None, convention: str = "kanbefair",
          tolerance: float = 0.02, vary: str = "width") -> Match:
    """Size `model` (a dict with the keys of configs/model/*.yaml plus `name`) so that its
    `kind` cost in `convention` is within `tolerance` of `target`."""
    spec = model_spec(model)
    if kind not in KINDS:
        raise BudgetError(f"budget kind must be one of {', '.join(KINDS)}, got '{kind}'")
    if convention not in CONVENTIONS:
        raise BudgetError(f"budget convention must be one of {', '.join(CONVENTIONS)}, got '{convention}'")
    if vary not in VARY:
        raise BudgetError(f"budget.vary must be one of {', '.join(VARY)}, got '{vary}'")
    if target is None or not target > 0:
        raise BudgetError(f"budget target must be a positive number, got {target}")
    if vary == "grid" and "grid_size" not in spec:
        raise BudgetError(f"budget.vary=grid needs a model with a grid; '{spec['name']}' has none, use budget.vary=width")
    if vary == "width" and not spec["hidden"]:
        raise BudgetError(f"{spec['name']} has no hidden layer to widen; give model.hidden or use budget.vary=grid")

    def cost_at(size: int) -> float:
        cost = count(sized(spec, vary, size), in_dim, out_dim, convention)
        return float(cost.params if kind == "params" else cost.flops)

    sizes = _search(cost_at, target)
    costs = {size: cost_at(size) for size in sizes}
    best = min(sizes, key=lambda size: abs(costs[size] - target))
    deviation = (costs[best] - target) / target
    if abs(deviation) > tolerance:
        what = "hidden" if vary == "width" else "grid_size"
        sides = ", ".join(
            f"{what}={sized(spec, vary, s)['hidden'] if vary == 'width' else s} -> "
            f"{costs[s]:,.0f} {kind} ({(costs[s] - target) / target:+.1%})" for s in sizes)
        below = "" if len(sizes) == 2 else " (nothing smaller exists)" if sizes == [1] else " (search limit)"
        raise BudgetError(
            f"no {spec['name']} {vary} is within {tolerance:.0%} of {target:,.0f} {kind} "
            f"({convention}); closest: {sides}{below}; change budget.target or budget.tolerance")
    return Match(sized(spec, vary, best), kind, float(target), costs[best], deviation,
                 convention, vary, best)
