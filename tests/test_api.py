"""The notebook API (kanfair.run, load_runs, compare): its docstring examples run, and a
run from Python equals the CLI's for the same config."""
from __future__ import annotations

import doctest
import json

import pytest

import kanfair
import kanfair.api
from conftest import only_record, run_train
from kanfair.schema import ConfigError


def test_the_docstring_examples_run():
    result = doctest.testmod(kanfair.api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_a_run_from_python_equals_the_cli_run_of_the_same_config(tmp_path):
    overrides = ["model=kan", "model.hidden=[3]", "dataset=wine", "trainer.epochs=3", "seed=4"]
    done = run_train(*overrides, f"paths.results_dir={tmp_path / 'cli'}")
    assert done.returncode == 0, done.stderr
    cli = only_record(tmp_path / "cli")
    record = kanfair.run([*overrides, f"paths.results_dir={tmp_path / 'api'}"])
    assert record.run_id == cli["run_id"] and record.test_metric == cli["test_metric"]
    assert record.history == cli["history"]
    again = kanfair.run([*overrides, f"paths.results_dir={tmp_path / 'api'}"])  # resumed: the stored one
    assert again.history == record.history


def test_load_runs_has_one_row_per_record_and_skips_unreadable_files(tmp_path, recwarn):
    for seed in (0, 1):
        kanfair.run(["model=mlp", "dataset=iris", "trainer.epochs=1", f"seed={seed}",
                     f"paths.results_dir={tmp_path}"])
    (tmp_path / "runs" / "broken.json").write_text("{")
    (tmp_path / "runs" / "list.json").write_text("[]")
    runs = kanfair.load_runs(tmp_path)
    assert len(runs) == 2 and set(runs.seed) == {0, 1}
    assert isinstance(runs.loc[0, "history"], list) and isinstance(runs.loc[0, "config"], dict)
    assert sorted(str(w.message).split()[2] for w in recwarn if "skipped" in str(w.message)) == \
        sorted(str(tmp_path / "runs" / name) + ":" for name in ("broken.json", "list.json"))
    assert json.loads((tmp_path / "runs" / "list.json").read_text()) == []


def test_compare_takes_a_model_config_and_a_pde_task(tmp_path):
    """model=mlp_tanh is a config of the mlp family (the PINN default): compare takes it by
    name, and a PDE task's table reports its L2RE."""
    table = kanfair.compare(["mlp_tanh", "cheby_kan"], "pde_poisson2d_sin", params=300,
                            overrides=["trainer.epochs=3", "dataset.pde.interior=64", "dataset.pde.boundary=16",
                                       "dataset.pde.eval_grid=9"], results_dir=str(tmp_path))
    assert sorted(table.model) == ["cheby_kan", "mlp"] and set(table.metric) == {"l2re"}
    assert (table.settings[table.model == "mlp"] == "tanh").all()


def test_an_unknown_model_names_every_choice_the_cli_takes():
    """The list in compare's refusal is the configs' (hgb and mlp_tanh among them), not
    the neural families' alone."""
    with pytest.raises(ConfigError) as refused:
        kanfair.compare(["mlp", "mpl"], "iris")
    assert "unknown model 'mpl'" in str(refused.value) and "hgb" in str(refused.value)
    assert "mlp_tanh" in str(refused.value)
