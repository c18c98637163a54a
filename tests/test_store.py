"""The store is read strictly everywhere (issue 47): resume, `load_runs`, every report and
`kanfair-robust` take a record only when `results.record_problem` passes it, and name each
file they set aside with its reason. Each damage below is one a hand edit made, which once
gave a silent result: a string metric trusted on resume, a copy with another config hash
counted as a second seed, an ok record without a metric dropped without a word."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

import kanfair
from conftest import call, compose_config
from kanfair import runner
from kanfair.cli import report as report_cli
from kanfair.results import read_store, stored_problem
from kanfair.studies.robustness import chosen_records

DAMAGES = {  # name: (how the record is changed, the reason every reader gives)
    "string metric": (lambda r: {**r, "test_metric": "93.3"}, "test_metric is '93.3', not a number"),
    "ok without a metric": (lambda r: {**r, "test_metric": None}, "an ok record without a finite test_metric"),
    "another config hash": (lambda r: {**r, "config_hash": "ffffffffffffffff", "test_metric": -500.0},
                            "does not end in its seed and config hash"),
    "seed as text": (lambda r: {**r, "seed": "0"}, "seed is '0', not a whole number"),
    "unknown status": (lambda r: {**r, "status": "done"}, "an unknown status 'done'"),
    "val without its metric": (lambda r: {**r, "val_metric": None},  # the verdict once stopped: "all NA values"
                               "an ok record of protocol val without a finite val_metric"),
}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A store of three real iris runs (seeds 0, 1, 2)."""
    results = tmp_path_factory.mktemp("store")
    for seed in range(3):
        runner.run(compose_config("dataset=iris", "model=mlp", "model.hidden=[4]", "trainer.epochs=1",
                                  f"seed={seed}", f"paths.results_dir={results}"))
    return results


def damaged(good: Path, tmp_path: Path, damage) -> tuple[Path, Path]:
    """A copy of the good store with seed 0's record damaged in place; (store, that file)."""
    results = tmp_path / "results"
    shutil.copytree(good, results)
    path = sorted((results / "runs").glob("*-s0-*.json"))[0]
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    return results, path


@pytest.mark.parametrize("damage, reason", DAMAGES.values(), ids=DAMAGES.keys())
def test_every_reader_sets_a_damaged_record_aside_with_the_same_reason(good, tmp_path, damage, reason):
    results, path = damaged(good, tmp_path, damage)
    store = read_store(results / "runs")
    assert [(p, why) for p, why in store.not_used if p == path] and reason in store.not_used[0][1]
    assert len(store.records) == 2
    record = json.loads((good / "runs" / path.name).read_text())
    assert reason in stored_problem(results, record["run_id"], record["config_hash"], 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(kanfair.load_runs(results)) == 2
    assert any(reason in str(w.message) for w in caught)
    assert path.name not in {f"{r['run_id']}.json" for r in chosen_records(results / "runs")}


@pytest.mark.parametrize("damage, reason", DAMAGES.values(), ids=DAMAGES.keys())
def test_the_report_counts_a_damaged_record_and_its_verdict_still_runs(good, tmp_path, damage, reason):
    """`report --verdict` on a string metric once refused the whole report ("agg function
    failed"); a copy with another hash counted as a second seed ("55 ± 62, seeds 2")."""
    results, path = damaged(good, tmp_path, damage)
    status, err = call(report_cli.main, ["report.py", "--runs", str(results / "runs"), "--out",
                                         str(tmp_path / "out"), "--verdict"])
    assert status == 0, err
    assert f"kanfair: skipped {path}: " in err and reason in err
    table = (tmp_path / "out" / "table.md").read_text()
    assert "Files in the runs folder not used, left out of every number: 1." in table
    assert f"- {path.name}: " in table and "| 2 |" in table  # two seeds, not three


def test_a_copy_under_another_name_is_not_a_second_seed(good, tmp_path):
    """Two files of one run (a hand copy): the one under `<run_id>.json` is the record."""
    results = tmp_path / "results"
    shutil.copytree(good, results)
    original = sorted((results / "runs").glob("*-s0-*.json"))[0]
    copy = original.with_name("copy-" + original.name)
    shutil.copy(original, copy)
    store = read_store(results / "runs")
    assert len(store.records) == 3 and store.not_used == [(copy, store.not_used[0][1])]
    assert "stored under another name" in store.not_used[0][1]


@pytest.mark.parametrize("damage, reason", [DAMAGES["string metric"], DAMAGES["ok without a metric"]],
                         ids=["string metric", "ok without a metric"])
def test_resume_runs_again_what_the_report_would_not_use(good, tmp_path, capsys, damage, reason):
    """Issue 47 case 8: a string test_metric was 'skipped …: an ok record exists' on resume."""
    results, path = damaged(good, tmp_path, damage)
    record = runner.run(compose_config("dataset=iris", "model=mlp", "model.hidden=[4]", "trainer.epochs=1",
                                       "seed=0", f"paths.results_dir={results}"))
    out = capsys.readouterr().out
    assert record is not None and f"set aside {path}" in out and reason in out
    assert not read_store(results / "runs").not_used
