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
