"""The budget matcher: size a model to a parameter or FLOP budget by exact integer search.

Cost is non-decreasing in the searched size (all hidden widths scaled together, or the
family's own size knob: grid size, frequencies, degree, groups), so a doubling search
brackets the target, bisection finds the first size at or above it, and the closer of
that size and the one below wins. Only `cost` is used: no model is built, except for
`model=custom`, whose cost is a traced count of the built model.
Hand-written because no library does this: sizes are integers, the cost functions are the
families' own formulas, and the search must report the closest sizes when none fits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Mapping, Optional

from kanfair.config import BudgetConfig
from kanfair.cost import CONVENTIONS, Cost, count
from kanfair.flops import skipped_line
from kanfair.models import FAMILIES, family, model_spec
from kanfair.schema import ConfigError, check

KINDS = ("params", "flops")
VARY = ("width", "grid", "width_grid")
MAX_SIZE = 1 << 24
KNOB_LIMIT = 100  # largest knob value (grid size ...) vary=width_grid tries


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
    size: int  # the width of the first hidden layer, or the family's knob (vary=grid)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def label(budget: Optional[Mapping[str, Any]]) -> str:
    """A record's budget block as '2,000 params' or '1,000,000 flops (ops)' (the matched
    budget a run was sized to, a FLOP budget with its convention: budgets in two conventions
    are different budgets) or 'none'."""
    if not budget:
        return "none"
    convention = f" ({budget['convention']})" if budget["kind"] == "flops" and budget.get("convention") else ""
    return f"{budget['target']:,.0f} {budget['kind']}{convention}"


def sized(spec: Mapping[str, Any], vary: str, size: int) -> dict[str, Any]:
    """The spec at one size: hidden widths scaled in proportion to the first (vary=width)
    or the family's size knob set (vary=grid: grid size, frequencies, degree, groups)."""
    spec = dict(spec)
    if vary == "grid":
        spec[FAMILIES[spec["name"]].knob] = size
    else:
        first = spec["hidden"][0]
        spec["hidden"] = [max(1, round(size * width / first)) for width in spec["hidden"]]
    return spec


def match_spec(match_model: Any) -> dict[str, Any]:
    """budget.match as a full model spec; any problem with it is reported as budget.match
    (not as model.*, which the user did not set)."""
    example = "e.g. budget.match={name:kan,hidden:[16],grid_size:5,spline_order:3}"
    if not isinstance(match_model, Mapping) or "name" not in match_model:
        keys = ", ".join(map(str, match_model)) if isinstance(match_model, Mapping) else repr(match_model)
        raise ConfigError("budget.match", f"must be a model spec with a name (got {keys})", example)
    try:
        known = {f.name for f in fields(family(match_model["name"]).schema)}
        unknown = sorted(set(map(str, match_model)) - known)
        check(not unknown, "budget.match", f"unknown key(s) {', '.join(unknown)} for "
              f"{match_model['name']}", f"its keys are {', '.join(sorted(known))}")
        return model_spec(match_model)
    except ConfigError as error:
        if error.key == "budget.match":
            raise
        raise ConfigError("budget.match", f"{error.key.replace('model.', '')}: {error.problem}", example) from error


def spent(cost: Cost, kind: str, name: str) -> float:
    """What a model spends of a budget of `kind`; a FLOP count that left operators out
    (a custom model's fvcore trace) is refused, since matching a lower bound is unfair."""
    if kind == "params":
        return float(cost.params)
    if cost.skipped:
        raise BudgetError(f"{name}'s FLOPs are only a lower bound: fvcore skipped {skipped_line(cost.skipped)}; "
                          f"give each one's FLOPs per output element in model.elementwise_flops (e.g. "
                          f"+model.elementwise_flops.mul=1 for aten::mul), or use budget=params")
    return float(cost.flops)


def target_of(match_model: Mapping[str, Any], in_dim: int, out_dim: int, kind: str,
              convention: str) -> float:
    """The budget a reference model spends (e.g. the paper's KAN [784, 16, 10] G5 K3)."""
    spec = match_spec(match_model)
    return spent(count(spec, in_dim, out_dim, convention), kind, spec["name"])


def _search(cost_at: Callable[[int], float], target: float, smallest: int = 1) -> list[int]:
    """The sizes on either side of the target: [n-1, n] with cost(n-1) < target <= cost(n)."""
    if cost_at(smallest) >= target:
        return [smallest]
    low, high = smallest, 2 * smallest
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
    `kind` cost in `convention` is within `tolerance` of `target`.

    vary=width scales all hidden widths together; vary=grid searches the family's size
    knob (grid size, frequencies, degree, groups); vary=width_grid searches the width at
    knob values ever further from the configured one and takes the first that lands within
    tolerance (families without a knob: width only)."""
    spec = model_spec(model)
    if kind not in KINDS:
        raise BudgetError(f"budget kind must be one of {', '.join(KINDS)}, got '{kind}'")
    if convention not in CONVENTIONS:
        raise BudgetError(f"budget convention must be one of {', '.join(CONVENTIONS)}, got '{convention}'")
    if vary not in VARY:
        raise BudgetError(f"budget.vary must be one of {', '.join(VARY)}, got '{vary}'")
    if target is None or not target > 0:
        raise BudgetError(f"budget target must be a positive number, got {target}")
    knob, knob_min = FAMILIES[spec["name"]].knob, FAMILIES[spec["name"]].knob_min
    if vary == "grid" and knob is None:
        raise BudgetError(f"budget.vary=grid needs a model with a size knob (grid, frequencies, degree, "
                          f"groups); '{spec['name']}' has none, use budget.vary=width")
    if vary != "grid" and not spec["hidden"]:
        raise BudgetError(f"{spec['name']} has no hidden layer to widen; give model.hidden or use budget.vary=grid")

    def cost_of(candidate: dict[str, Any]) -> float:
        return spent(count(candidate, in_dim, out_dim, convention), kind, spec["name"])

    def closest(base: dict[str, Any], axis: str) -> list[tuple[int, dict[str, Any], float]]:
        """(size, spec, cost) on either side of the target along one axis, best first."""
        smallest = knob_min if axis == "grid" else 1
        sizes = _search(lambda size: cost_of(sized(base, axis, size)), target, smallest)
        found = [(size, sized(base, axis, size), cost_of(sized(base, axis, size))) for size in sizes]
        return sorted(found, key=lambda item: abs(item[2] - target))

    axis = "grid" if vary == "grid" else "width"
    values = [spec.get(knob)]
    if vary == "width_grid" and knob is not None:
        values = sorted(range(knob_min, KNOB_LIMIT + 1), key=lambda v: (abs(v - spec[knob]), v))
    for value in values:
        base = {**spec, knob: value} if knob is not None else spec
        (size, best, achieved), *_ = closest(base, axis)
        if abs(achieved - target) <= tolerance * target:
            return Match(best, kind, float(target), achieved, (achieved - target) / target,
                         convention, vary, size)
    candidates = closest(spec, axis)
    sides = ", ".join(
        f"{'hidden' if axis == 'width' else knob}={found['hidden'] if axis == 'width' else size}"
        f" -> {cost:,.0f} {kind} ({(cost - target) / target:+.1%})"
        for size, found, cost in sorted(candidates))
    if len(candidates) == 1:
        sides += " (nothing smaller exists)" if candidates[0][0] == 1 else " (search limit)"
    if len(values) > 1:
        sides += f"; no {knob.replace('_', ' ')} in {knob_min}..{KNOB_LIMIT} does better"
    raise BudgetError(
        f"no {spec['name']} {axis} is within {tolerance:.0%} of {target:,.0f} {kind} "
        f"({convention}); closest: {sides}; change budget.target, budget.tolerance or budget.vary")


def plan(budget: BudgetConfig, model: Any, in_dim: int, out_dim: int) -> tuple[dict[str, Any], Optional[Match]]:
    """The concrete model spec a run uses: as configured (budget.kind=none) or matched to
    budget.target, or to the cost of the model spec budget.match."""
    spec = model_spec(model)
    if budget.kind == "none":
        return spec, None
    target = budget.target
    if budget.match is not None:
        target = target_of(budget.match, in_dim, out_dim, budget.kind, budget.convention)
    matched = match(spec, in_dim, out_dim, budget.kind, target, budget.convention,
                    budget.tolerance, budget.vary)
    return matched.model, matched
