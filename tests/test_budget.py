"""The matcher: exact search, tolerance, clear refusals, and the wiring into records."""
from __future__ import annotations


import pytest

from conftest import compose_config
from kanfair.budget import BudgetError, match, sized, target_of
from kanfair import runner
from kanfair.cost import count

KAN = {"name": "kan", "hidden": [16], "grid_size": 5, "spline_order": 3}
FAMILIES = ["mlp", "kan", "bspline_mlp", "bspline_first_mlp"]


def _brute_force_best(spec, kind, target, convention, vary, limit):
    def cost(size):
        c = count(sized(spec, vary, size), 784, 10, convention)
        return c.params if kind == "params" else c.flops
    return min(range(1, limit), key=lambda s: (abs(cost(s) - target), s))


@pytest.mark.parametrize("name, kind, target", [
    *[(name, "flops", 1e6) for name in FAMILIES if name != "kan"],
    ("mlp", "params", 1e5), ("bspline_mlp", "params", 1e5), ("bspline_first_mlp", "params", 1e5),
    ("kan", "params", 2e5)])
def test_every_family_matches_within_two_percent_and_the_search_is_exact(name, kind, target):
    spec = {"name": name, "hidden": [8]}
    found = match(spec, 784, 10, kind, target, "kanbefair", 0.02, "width")
    assert abs(found.deviation) <= 0.02
    cost = count(found.model, 784, 10, "kanbefair")
    assert found.achieved == (cost.params if kind == "params" else cost.flops)
    assert found.size == _brute_force_best({**spec}, kind, target, "kanbefair", "width", 2000)


def test_a_784_input_kan_reaches_1e6_flops_by_grid_but_not_by_width():
    """G=5, K=3: one width step costs ~208k FLOPs, so width alone cannot land within 2%;
    at hidden [2] the grid search can (G=18: 1,018,662 FLOPs, +1.9%)."""
    with pytest.raises(BudgetError, match=r"hidden=\[4\] -> 836,052.*hidden=\[5\] -> 1,044,085"):
        match(KAN, 784, 10, "flops", 1e6)
    by_grid = match({**KAN, "hidden": [2]}, 784, 10, "flops", 1e6, vary="grid")
    assert (by_grid.size, by_grid.achieved) == (18, 1_018_662)


def test_a_784_input_kan_cannot_hit_1e5_params_within_2_percent():
    """One width step of a 784-input KAN is ~8.7k parameters, so the matcher must refuse."""
    with pytest.raises(BudgetError, match=r"hidden=\[11\] -> 96,095.*hidden=\[12\] -> 104,830"):
        match({"name": "kan", "hidden": [8]}, 784, 10, "params", 1e5)


def test_proportional_widths_and_grid_search():
    deep = match({"name": "mlp", "hidden": [64, 32]}, 784, 10, "params", 2e5)
    first, second = deep.model["hidden"]
    assert abs(second - first / 2) <= 1
    grid = match(KAN, 784, 10, "params", 2e5, vary="grid")
    assert grid.model["hidden"] == [16] and grid.vary == "grid"
    assert grid.size == _brute_force_best(KAN, "params", 2e5, "kanbefair", "grid", 200)


def test_target_from_a_reference_model():
    target = target_of(KAN, 784, 10, "params", "kanbefair")
    assert target == 139_770
    found = match({"name": "mlp", "hidden": [1]}, 784, 10, "params", target)
    assert found.model["hidden"] == [176] and abs(found.deviation) < 0.01


def test_unreachable_budget_names_the_closest_sizes_in_one_line():
    with pytest.raises(BudgetError) as caught:
        match({"name": "kan", "hidden": [4]}, 784, 10, "params", 10)
    message = str(caught.value)
    assert "\n" not in message and "hidden=[1]" in message and "nothing smaller" in message
    with pytest.raises(BudgetError, match=r"hidden=\[1\].*hidden=\[2\]"):
        match({"name": "kan", "hidden": [4]}, 784, 10, "params", 9_000, tolerance=0.001)


@pytest.mark.parametrize("kwargs, words", [
    ({"vary": "grid", "model": {"name": "mlp"}}, "has none"),
    ({"kind": "time"}, "budget kind"), ({"target": -5}, "positive"),
    ({"model": {"name": "mlp", "hidden": []}}, "no hidden layer"),
])
def test_invalid_requests_are_refused_clearly(kwargs, words):
    args = {"model": KAN, "kind": "params", "target": 1e5, "vary": "width", **kwargs}
    model = args.pop("model")
    with pytest.raises(BudgetError, match=words):
        match(model, 784, 10, **args)


def test_a_match_costs_a_few_dozen_cost_evaluations(monkeypatch):
    """Work counted, not time: the doubling search and bisection evaluate the cost
    O(log size) times (a 784-input KAN at 1e7 FLOPs: width ~ 50)."""
    from kanfair import budget

    calls = []
    real = budget.count
    monkeypatch.setattr(budget, "count", lambda *args: calls.append(args) or real(*args))
    found = match({"name": "kan", "hidden": [8]}, 784, 10, "flops", 1e7)
    assert abs(found.deviation) <= 0.02 and len(calls) <= 20  # 14 today


def test_a_matched_run_records_its_budget(tmp_results):
    cfg = compose_config("model=kan", "dataset=digits", "budget=params", "budget.target=5000",
                         "budget.convention=kanbefair", "trainer.epochs=1",
                         f"paths.results_dir={tmp_results}")
    record = runner.run(cfg)
    assert record.budget["kind"] == "params" and record.budget["target"] == 5000
    assert abs(record.budget["deviation"]) <= 0.02
    assert record.params_kanbefair == record.budget["achieved"]
    assert record.hidden == record.model_spec["hidden"] == record.budget["model"]["hidden"]
    assert record.flops_convention == "kanbefair"
    (w,) = record.hidden  # the paper's KAN formulas, written out: 64 -> w -> 10, G5 K3, silu
    spline = 9 * 3 * (5 + 1.5 * 3) + 2 * 5 - 2.5 * 3 + 1
    assert record.params_kanbefair == 64 * w * (5 + 3 + 2) + w + 64 * w + w * 10 * (5 + 3 + 2) + 10 + w * 10
    assert record.flops == 64 * w * spline + 5 * 64 + 2 * 64 * w + w * 10 * spline + 5 * w + 2 * w * 10


def test_a_parameter_budget_counts_trainable_parameters_by_default(tmp_results):
    """The paper's formula charges a KAN with a shortcut d_in·d_out more than it trains."""
    cfg = compose_config("model=kan", "dataset=digits", "budget=params", "budget.target=5000",
                         "budget.vary=width_grid", "trainer.epochs=1", f"paths.results_dir={tmp_results}")
    record = runner.run(cfg)
    assert record.budget["convention"] == record.flops_convention == "ops"
    assert record.params == record.budget["achieved"] and abs(record.params - 5000) <= 100
    assert record.params_kanbefair > record.params


def test_width_grid_finds_the_nearest_grid_that_fits_for_every_family():
    for name in FAMILIES:
        found = match({"name": name}, 784, 10, "flops", 1e6, vary="width_grid")
        assert abs(found.deviation) <= 0.02
    kan = match(KAN, 784, 10, "flops", 1e6, vary="width_grid")

    def fits(grid):
        try:
            match({**KAN, "grid_size": grid}, 784, 10, "flops", 1e6)
            return True
        except BudgetError:
            return False
    nearest = min((g for g in range(1, 101) if fits(g)), key=lambda g: (abs(g - 5), g))
    assert kan.model["grid_size"] == nearest == 18 and kan.model["hidden"] == [2]


def test_width_grid_without_a_grid_is_the_width_search():
    spec = {"name": "mlp", "hidden": [8]}
    assert match(spec, 784, 10, "flops", 1e6, vary="width_grid").model == \
        match(spec, 784, 10, "flops", 1e6, vary="width").model


def test_width_grid_refusal_says_no_grid_helps():
    with pytest.raises(BudgetError, match="no grid size in 1..100 does better"):
        match(KAN, 784, 10, "params", 10, vary="width_grid")
