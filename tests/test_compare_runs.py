"""scripts/compare_runs.py: two runs folders are the same runs with the same numbers, or
each difference is named (a sweep under SLURM against the same sweep under joblib)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import REPO, call
from kanfair.cli.compare import main

FIXTURE = REPO / "tests" / "fixtures" / "records" / "digits-mlp-s0-60d14c8e79010e9b.json"


def store(folder: Path, **changes) -> Path:
    folder.mkdir(parents=True)
    record = json.loads(FIXTURE.read_text())
    for key, value in changes.items():
        if key == "loss":
            last = record["history"][-1]
            last["running_train_loss" if "running_train_loss" in last else "train_loss"] *= value
        else:
            record[key] = value
    (folder / FIXTURE.name).write_text(json.dumps(record))
    return folder


def compare(first: Path, second: Path, *flags: str) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([str(first), str(second), *flags])
    return status, out.getvalue()


def test_the_same_runs_with_the_same_numbers_are_the_same(tmp_path):
    status, out = compare(store(tmp_path / "a"), store(tmp_path / "b"), "--runs")
    assert status == 0 and "1 runs in both, 0 only in the first, 0 only in the second; 1 of 1" in out


def test_a_metric_or_a_loss_off_by_more_than_the_tolerance_is_named(tmp_path):
    record = json.loads(FIXTURE.read_text())
    a = store(tmp_path / "a")
    status, out = compare(a, store(tmp_path / "b", test_metric=record["test_metric"] * (1 + 1e-4)))
    assert status == 1 and FIXTURE.stem in out and "0 of 1" in out
    status, out = compare(a, store(tmp_path / "c", loss=1 + 1e-4))
    assert status == 1 and FIXTURE.stem in out
    assert compare(a, tmp_path / "c", "--rtol", "1e-3")[0] == 0  # within a looser tolerance
    assert compare(a, store(tmp_path / "d", test_metric=record["test_metric"] * (1 + 1e-8)))[0] == 0


def test_a_run_on_one_side_only_is_named(tmp_path):
    a = store(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    record = json.loads(FIXTURE.read_text())
    record["seed"], record["run_id"] = 1, record["run_id"].replace("-s0-", "-s1-")
    (b / f"{record['run_id']}.json").write_text(json.dumps(record))
    status, out = compare(a, b)
    assert status == 1 and f"only in the second: {record['run_id']}" in out


def test_a_folder_without_records_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    status, err = call(main, ["compare_runs.py", str(store(tmp_path / "a")), str(tmp_path / "empty")])
    assert status == 2 and "holds no records" in err and len(err.strip().splitlines()) == 1
