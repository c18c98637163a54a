"""`model=custom`: a user's factory at the same budgets as kanfair's families."""
from __future__ import annotations

import pytest
import torch

from conftest import only_record, run_train
from kanfair.cost import count
from kanfair.models import build, count_params

NET = {"name": "custom", "target": "custom_models:tanh_net", "hidden": [5]}


def test_counts_by_hand():
    """7 -> 5 -> 3: 5·8 + 3·6 = 58 parameters, 35 + 15 = 50 MACs; ops 2 per MAC, and with a
    LayerNorm fvcore's 5 per element on top (fvcore counts no tanh)."""
    assert count(NET, 7, 3, "ops").params == count_params(build(NET, 7, 3)) == 58
    assert count(NET, 7, 3, "macs").flops == 50
    assert count(NET, 7, 3, "ops").flops == count(NET, 7, 3, "kanbefair").flops == 100
    normed = {**NET, "kwargs": {"norm": True}}
    assert count(normed, 7, 3, "ops").params == 58 + 10
    assert count(normed, 7, 3, "ops").flops == 100 + 5 * 5


def test_sizing_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    count({**NET, "hidden": [11]}, 7, 3)
    assert torch.equal(torch.rand(3), expected)


def test_a_custom_model_trains_matched_to_a_parameter_budget(tmp_results):
    done = run_train("model=custom", "model.target=tests.custom_models:tanh_net", "model.hidden=[8,8]",
                     "budget=params", "budget.target=3000", "trainer.epochs=2",
                     f"paths.results_dir={tmp_results}")
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_results)
    assert record["status"] == "ok" and abs(record["params"] - 3000) <= 0.02 * 3000
    assert record["budget"]["achieved"] == record["params"]
    assert record["hidden"][0] == record["hidden"][1] > 8


@pytest.mark.parametrize("target, words", [
    ("no_such_module:make", "cannot import 'no_such_module'"),
    ("tests.custom_models:missing", "has no function 'missing'"),
    ("tests.custom_models:raises", "raised ValueError: no such architecture"),
    ("tests.custom_models:wrong_shape", "not (2, 10)"),
    ("tests.custom_models:not_a_module", "returned str, not an nn.Module"),
    ("tests.custom_models", "not of the form package.module:factory"),
])
def test_a_broken_factory_gets_one_line_naming_model_target(tmp_results, target, words):
    done = run_train("model=custom", f"model.target={target}", "trainer.epochs=1",
                     f"paths.results_dir={tmp_results}")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.target" in lines[0] and words in lines[0], done.stderr
    assert not (tmp_results / "runs").exists()


SINE = {"name": "custom", "target": "custom_models:elementwise_net", "hidden": [5]}
SINE_FLOPS = {"mul": 1, "aten::add": 1, "sin": 1}  # aten:: implied where left out


def test_the_operators_fvcore_skips_are_listed_and_can_be_given_their_flops():
    """7 -> 5 -> 3 with sin(a·x + b) on the 5: fvcore counts the two Linears (50 MACs) and
    skips the mul, the add and the sin; given 1 FLOP per output element each, the count
    gains 3·5 and is no longer a lower bound. MACs need none of it."""
    cost = count(SINE, 7, 3, "ops")
    assert cost.skipped == {"aten::add": 1, "aten::mul": 1, "aten::sin": 1} and cost.flops == 100
    given = count({**SINE, "elementwise_flops": SINE_FLOPS}, 7, 3, "ops")
    assert given.skipped == {} and given.flops == 100 + 3 * 5
    assert count(SINE, 7, 3, "macs").skipped == {} and count(SINE, 7, 3, "macs").flops == 50


def test_a_flop_budget_refuses_a_lower_bound_and_a_parameter_budget_marks_it(tmp_results):
    refused = run_train("model=custom", "model.target=tests.custom_models:elementwise_net", "budget=flops",
                        "budget.target=5000", "trainer.epochs=1", f"paths.results_dir={tmp_results}")
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert "lower bound" in lines[0] and "aten::mul x1" in lines[0] and "model.elementwise_flops" in lines[0]
    assert not (tmp_results / "runs").exists()
    given = run_train("model=custom", "model.target=tests.custom_models:elementwise_net", "budget=flops",
                      "budget.target=5000", "trainer.epochs=1",
                      "+model.elementwise_flops.mul=1", "+model.elementwise_flops.add=1", "+model.elementwise_flops.sin=1",
                      f"paths.results_dir={tmp_results}")
    assert given.returncode == 0, given.stderr
    assert "flops_lower_bound" not in only_record(tmp_results)["extra"]
    for path in (tmp_results / "runs").glob("*.json"):
        path.unlink()
    matched = run_train("model=custom", "model.target=tests.custom_models:elementwise_net", "budget=params",
                        "budget.target=3000", "trainer.epochs=1", f"paths.results_dir={tmp_results}")
    assert matched.returncode == 0, matched.stderr
    record = only_record(tmp_results)
    assert record["extra"]["flops_lower_bound"] is True
    assert record["extra"]["flops_skipped"] == {"aten::add": 1, "aten::mul": 1, "aten::sin": 1}
    assert "FLOPs >= " in matched.stdout


def test_pykans_own_kan_trains_through_model_custom(tmp_results):
    """Issue 43: pykan's MultKAN overrides Module.to with to(device), and the trainer's
    model.to(device, dtype) failed ("MultKAN.to() takes 2 positional arguments but 3 were
    given"); the wrapper the trainer sees has nn.Module's own `to`. In float64, so that the
    cast is tested."""
    done = run_train("model=custom", "model.target=tests.custom_models:pykan_kan", "model.hidden=[3]",
                     "dataset=iris", "trainer.epochs=2", "trainer.dtype=float64", f"paths.results_dir={tmp_results}")
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_results)
    assert record["status"] == "ok" and record["params"] == count_params(
        build({"name": "custom", "target": "tests.custom_models:pykan_kan", "hidden": [3], "kwargs": {},
               "elementwise_flops": {}}, 4, 3))


def test_a_module_whose_forward_raises_is_named_as_the_models_fault(tmp_results):
    """The line names the model's class and its forward, and the key to fix, not a config
    value (the error reaches the user from the cost trace or the first training step)."""
    done = run_train("model=custom", "model.target=tests.custom_models:explodes_in_training", "model.hidden=[3]",
                     "dataset=iris", "trainer.epochs=1", f"paths.results_dir={tmp_results}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0] == ("kanfair: error: the model's own code failed: _Explodes.forward raised RuntimeError: the "
                        "user's forward failed (model.target=tests.custom_models:explodes_in_training; fix the module)")
