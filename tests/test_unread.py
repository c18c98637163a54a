"""The one rule for keys a run does not read (kanfair.unread, issue 47): every family ×
trainer key pair is read (the run's numbers change), refused (one line naming the key) or
unhashed (the run id does not change, and the run says so). A pair that changes the run id
but not one number is the silent case the rule exists to prevent; so is a key that changes
the id of a run whose data source ignores it.

Each pair is decided by running it: the base run and the run with the key set, in process,
on iris with a tiny model (2 epochs), their histories compared."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import compose_config
from kanfair import runner
from kanfair.models import FAMILIES, REFERENCES
from kanfair.results import config_hash
from kanfair.schema import ConfigError
from kanfair.unread import said_once, unread_keys

# a value for each trainer key that changes what a network trains or how it is selected in two
# epochs of iris (a decay of 0.01 changes no bit of Adam's first two steps: they are near sign(g))
TRAINER_PROBES = {
    "optimizer": "sgd", "lr": "0.02", "weight_decay": "0.5", "batch_size": "16", "epochs": "3",
    "eval_every": "2", "dtype": "float64", "val_fraction": "0.3", "val_seed": "1", "protocol": "kanbefair",
    "grid_update_every": "1",
}
SPARED = {"custom"}  # model=custom needs a user's module: tests/test_custom_model.py covers its keys
FAMILY_NAMES = [name for name in [*FAMILIES, *REFERENCES] if name not in SPARED]
BASE = ("dataset=iris", "trainer.epochs=2")


def tiny(name: str) -> list[str]:
    return [f"model={name}"] + ([] if name in REFERENCES else ["model.hidden=[3]"])


def numbers(record) -> list[dict]:
    """What a run computed: its history without the timings."""
    return [{k: v for k, v in row.items() if "time" not in k} for row in record.history]


def outcome(results: Path, *overrides: str) -> tuple[str, object]:
    """('refused', key named) or ('ran', (run id, history))."""
    cfg = compose_config(*overrides, f"paths.results_dir={results}", "trainer.rerun=true")
    try:
        record = runner.run(cfg)
    except ConfigError as error:
        return "refused", error.key
    return "ran", (record.run_id, numbers(record))


@pytest.fixture(scope="module")
def base_runs(tmp_path_factory) -> dict[str, tuple[str, list]]:
    results = tmp_path_factory.mktemp("base")
    return {name: outcome(results, *BASE, *tiny(name))[1] for name in FAMILY_NAMES}


@pytest.mark.parametrize("key", TRAINER_PROBES)
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_family_reads_refuses_or_unhashes_each_trainer_key(base_runs, tmp_path, capsys, name, key):
    kind, result = outcome(tmp_path, *BASE, *tiny(name), f"trainer.{key}={TRAINER_PROBES[key]}")
    if kind == "refused":
        assert result == f"trainer.{key}"
        return
    base_id, base_numbers = base_runs[name]
    run_id, run_numbers = result
    if run_id == base_id:  # unhashed: said once
        assert f"trainer.{key}" in capsys.readouterr().out, "an unhashed key set by the user is said once"
    else:
        assert run_numbers != base_numbers, (f"model={name} trainer.{key}: a new run id with the same "
                                             "numbers (a silent, ignored key)")


def test_lbfgs_refuses_a_weight_decay_it_has_no_place_for(tmp_path):
    """torch's and pykan's LBFGS take no weight decay: trainer.weight_decay was hashed and ignored."""
    for optimizer in ("lbfgs", "pykan_lbfgs"):
        assert outcome(tmp_path, *BASE, "model=mlp", f"trainer.optimizer={optimizer}",
                       "trainer.weight_decay=0.5") == ("refused", "trainer.weight_decay")


def test_a_grid_schedule_unhashes_the_knob_it_replaces_and_says_so(tmp_path, capsys):
    """Issue 47 case 1: model.grid_size=7 under trainer.grid_schedule=[3,5] trained the same
    stages as grid_size=5, under a second run id."""
    schedule = (*BASE, "model=kan", "model.hidden=[3]", "trainer.grid_schedule=[3,5]", "trainer.steps_per_grid=1")
    kind, (plain_id, plain) = outcome(tmp_path, *schedule)
    capsys.readouterr()
    kind, (moved_id, moved) = outcome(tmp_path, *schedule, "model.grid_size=7")
    assert (moved_id, moved) == (plain_id, plain)
    assert "does not read model.grid_size (trainer.grid_schedule sets it stage by stage)" in capsys.readouterr().out


@pytest.mark.parametrize("key, value", [("vary", "grid"), ("tolerance", "0.3")])
def test_the_reference_line_unhashes_the_budget_keys_it_does_not_read(tmp_path, capsys, key, value):
    """Issue 47 case 4: model=hgb under budget.vary=grid (refused for an MLP) was accepted,
    ignored and hashed."""
    budget = (*BASE, "model=hgb", "budget=params", "budget.target=1000")
    kind, plain = outcome(tmp_path, *budget)
    capsys.readouterr()
    kind, moved = outcome(tmp_path, *budget, f"budget.{key}={value}")
    assert moved == plain and f"budget.{key}" in capsys.readouterr().out


def test_unread_keys_hash_as_their_default_so_earlier_records_keep_their_ids():
    """A KAN with a schedule at the default grid_size, as every committed kan_paper record
    holds, keeps its hash; an hgb record at the trainer defaults keeps its hash too."""
    kan = {"model": {"name": "kan", "grid_size": 5}, "trainer": {"grid_schedule": [3, 5]}}
    assert config_hash(kan) == config_hash({**kan, "model": {"name": "kan", "grid_size": 7}})
    assert said_once(kan) == "" and "model.grid_size" in unread_keys(kan)
    hgb = {"model": {"name": "hgb"}, "trainer": {"lr": 0.001, "epochs": 20}}
    assert config_hash(hgb) == config_hash({**hgb, "trainer": {"lr": 0.5, "epochs": 20}})
    assert config_hash(hgb) != config_hash({**hgb, "trainer": {"lr": 0.001, "epochs": 20, "val_seed": 3}})
    assert math.isclose(unread_keys(hgb)["trainer.lr"][0], 1e-3)


USER_PROBES = {"path": "x.csv", "target": "y", "task": "regression", "text_column": "body", "label_column": "stars",
               "features": "mfcc", "package": "datasets", "object": "iris", "task_id": 31, "dataset_id": 31,
               "repeat": 1, "fold": 1}


def test_every_source_refuses_each_user_key_it_does_not_read():
    """Sources × the keys of a user's own data: a source that does not read a key refuses it
    by name before loading anything (it would otherwise join the run id and change nothing)."""
    from kanfair.config import DatasetConfig
    from kanfair.data import USER_KEYS, _registry, load_task

    assert set(USER_PROBES) == set(USER_KEYS)
    checked = 0
    for name, source in _registry().items():
        for key in USER_KEYS:
            if key in source.reads:
                continue
            with pytest.raises(ConfigError) as refused:
                load_task(DatasetConfig(name=name, **{key: USER_PROBES[key]}), "no-data-here")
            assert refused.value.key == f"dataset.{key}", (name, key)
            checked += 1
    assert checked > 500
