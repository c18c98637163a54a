"""dataset=openml on a fixture cache written in openml's on-disk formats (task.xml,
datasplits.arff, description.xml, features.xml, dataset.arff), with the network cut: a
task's official fold is the test split, a data set by id is split 80/20, and what is
missing or wrong is one line naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from kanfair.config import DatasetConfig
from kanfair.data import load_task
from kanfair.data.sources import DataUnavailable
from kanfair.schema import ConfigError

TASK, DATASET, ROWS, FOLDS = 990001, 990002, 60, 3
COLOURS = ("red", "green", "blue")


def fold_of(row: int) -> int:
    return (row * 7) % FOLDS  # not contiguous: a loader that took row ranges would be wrong


def write_cache(root: Path, with_split: bool = True, with_data: bool = True) -> Path:
    """An openml root cache holding task TASK (3-fold CV) on data set DATASET: x = the row
    id, a colour (nominal, one missing), a constant column, class no/yes."""
    www = root / "org" / "openml" / "www"
    task_dir, data_dir = www / "tasks" / str(TASK), www / "datasets" / str(DATASET)
    task_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True)
    (task_dir / "task.xml").write_text(f"""<oml:task xmlns:oml="http://openml.org/openml">
  <oml:task_id>{TASK}</oml:task_id>
  <oml:task_name>Task {TASK}: fixture (Supervised Classification)</oml:task_name>
  <oml:task_type_id>1</oml:task_type_id>
  <oml:task_type>Supervised Classification</oml:task_type>
  <oml:input name="source_data">
    <oml:data_set>
      <oml:data_set_id>{DATASET}</oml:data_set_id>
      <oml:target_feature>class</oml:target_feature>
    </oml:data_set>
  </oml:input>
  <oml:input name="estimation_procedure">
    <oml:estimation_procedure>
      <oml:id>1</oml:id>
      <oml:type>crossvalidation</oml:type>
      <oml:data_splits_url>https://api.openml.org/api_splits/get/{TASK}/Task_{TASK}_splits.arff</oml:data_splits_url>
      <oml:parameter name="number_repeats">1</oml:parameter>
      <oml:parameter name="number_folds">{FOLDS}</oml:parameter>
      <oml:parameter name="percentage"/>
      <oml:parameter name="stratified_sampling">true</oml:parameter>
    </oml:estimation_procedure>
  </oml:input>
  <oml:input name="evaluation_measures">
    <oml:evaluation_measures>
      <oml:evaluation_measure>predictive_accuracy</oml:evaluation_measure>
    </oml:evaluation_measures>
  </oml:input>
</oml:task>
""")
    if with_split:
        lines = [f"{'TEST' if fold_of(row) == fold else 'TRAIN'},{row},0,{fold}"
                 for fold in range(FOLDS) for row in range(ROWS)]
        (task_dir / "datasplits.arff").write_text(
            f"@RELATION Task_{TASK}_splits\n\n@ATTRIBUTE type {{TRAIN,TEST}}\n@ATTRIBUTE rowid INTEGER\n"
            "@ATTRIBUTE repeat INTEGER\n@ATTRIBUTE fold INTEGER\n\n@DATA\n" + "\n".join(lines) + "\n")
    (data_dir / "description.xml").write_text(f"""<oml:data_set_description xmlns:oml="http://openml.org/openml">
  <oml:id>{DATASET}</oml:id>
  <oml:name>fixture</oml:name>
  <oml:version>1</oml:version>
  <oml:description>kanfair's test fixture</oml:description>
  <oml:format>ARFF</oml:format>
  <oml:upload_date>2024-01-01T00:00:00</oml:upload_date>
  <oml:licence>Public</oml:licence>
  <oml:url>https://api.openml.org/data/v1/download/{DATASET}/fixture.arff</oml:url>
  <oml:file_id>{DATASET}</oml:file_id>
  <oml:default_target_attribute>class</oml:default_target_attribute>
  <oml:status>active</oml:status>
</oml:data_set_description>
""")
    features = [("x", "numeric", ()), ("colour", "nominal", COLOURS), ("constant", "numeric", ()),
                ("class", "nominal", ("no", "yes"))]
    (data_dir / "features.xml").write_text(
        '<oml:data_features xmlns:oml="http://openml.org/openml">\n' + "".join(
            f"  <oml:feature><oml:index>{i}</oml:index><oml:name>{name}</oml:name>"
            f"<oml:data_type>{kind}</oml:data_type>"
            + "".join(f"<oml:nominal_value>{v}</oml:nominal_value>" for v in values)
            + f"<oml:is_target>{str(name == 'class').lower()}</oml:is_target><oml:is_ignore>false</oml:is_ignore>"
            f"<oml:is_row_identifier>false</oml:is_row_identifier>"
            f"<oml:number_of_missing_values>{int(name == 'colour')}</oml:number_of_missing_values></oml:feature>\n"
            for i, (name, kind, values) in enumerate(features)) + "</oml:data_features>\n")
    if with_data:
        rows = [f"{row},{'?' if row == 5 else COLOURS[row % 3]},1,{'yes' if row % 2 else 'no'}" for row in range(ROWS)]
        (data_dir / "dataset.arff").write_text(
            "@RELATION fixture\n\n@ATTRIBUTE x NUMERIC\n@ATTRIBUTE colour {red,green,blue}\n"
            "@ATTRIBUTE constant NUMERIC\n@ATTRIBUTE class {no,yes}\n\n@DATA\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any request openml makes fails the test: everything must come from the cache."""
    import openml

    def refuse(*args, **kwargs):
        raise ConnectionError("the network is cut in this test")

    monkeypatch.setattr(openml._api_calls, "_send_request", refuse)
    monkeypatch.setattr(openml._api_calls, "_perform_api_call", refuse)


def openml_task(root: Path, **keys) -> object:
    return load_task(DatasetConfig(name="openml", root=str(root), **keys), "data")


def row_ids(x: np.ndarray, task) -> np.ndarray:
    """Back from the standardised first column (x = row id over all rows) to row ids."""
    ids = np.arange(ROWS, dtype=float)
    return np.rint(x[:, 0] * ids.std() + ids.mean()).astype(int)


@pytest.mark.parametrize("fold", [0, 2])
def test_a_task_offline_has_its_official_fold_as_the_test_split(tmp_path, fold):
    task = openml_task(write_cache(tmp_path), task_id=TASK, fold=fold)
    test_rows = sorted(row_ids(task.x_test.numpy(), task))
    assert test_rows == [r for r in range(ROWS) if fold_of(r) == fold]
    assert sorted(row_ids(task.x_train.numpy(), task)) == [r for r in range(ROWS) if fold_of(r) != fold]
    assert task.y_test.tolist() == [r % 2 for r in row_ids(task.x_test.numpy(), task)]
    # x, colour one-hot (3), the constant column dropped
    assert task.in_dim == 4 and task.kind == "classification" and task.out_dim == 2 and task.split == "published"
    assert task.name == ("openml_task_990001" if fold == 0 else f"openml_task_990001_r0f{fold}")


def test_a_data_set_by_id_offline_is_split_80_20_with_its_default_target(tmp_path):
    task = openml_task(write_cache(tmp_path), dataset_id=DATASET)
    assert (len(task.x_train), len(task.x_test)) == (48, 12) and task.out_dim == 2
    assert task.name == "openml_990002" and task.split == "seeded"


def test_a_task_missing_from_the_cache_is_one_line_naming_the_key_and_the_file(tmp_path):
    write_cache(tmp_path, with_data=False)
    with pytest.raises(ConfigError, match=r"dataset.task_id: OpenML task 990001 is not in the cache \(.*dataset.arff"):
        openml_task(tmp_path, task_id=TASK, download="never")
    with pytest.raises(ConfigError, match="dataset.task_id: OpenML task 7 is not in the cache"):
        openml_task(tmp_path, task_id=7, download="never")


def test_offline_a_download_fails_in_one_line_saying_how_to_fetch(tmp_path):
    write_cache(tmp_path, with_split=False)
    with pytest.raises(DataUnavailable, match="could not fetch OpenML task 990001 .*openml.tasks.get_task"):
        openml_task(tmp_path, task_id=TASK)


@pytest.mark.parametrize("keys, key", [({"task_id": TASK, "fold": 3}, "dataset.fold"),
                                       ({"task_id": TASK, "repeat": 1}, "dataset.repeat"),
                                       ({"task_id": TASK, "dataset_id": DATASET}, "dataset.task_id"),
                                       ({}, "dataset.task_id"),
                                       ({"dataset_id": DATASET, "target": "nope"}, "dataset.target"),
                                       ({"task_id": TASK, "target": "x"}, "dataset.target"),
                                       # issue 47: a task's kind is its own; dataset.task was hashed, unread
                                       ({"task_id": TASK, "task": "regression"}, "dataset.task")])
def test_bad_keys_are_refused_naming_the_key(tmp_path, keys, key):
    with pytest.raises(ConfigError, match=f"^{key}:"):
        openml_task(write_cache(tmp_path), **keys)


def test_a_run_on_a_cached_task_records_the_tasks_name(tmp_path):
    cache = write_cache(tmp_path / "cache")
    done = subprocess.run([sys.executable, str(REPO / "train.py"), "model=mlp", "dataset=openml",
                           f"dataset.task_id={TASK}", f"dataset.root={cache}", "dataset.download=never",
                           "trainer.epochs=2", f"paths.results_dir={tmp_path / 'results'}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "on openml_task_990001 |" in done.stdout


def test_the_cc18_suite_with_no_cached_task_stops_at_once_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "train.py"), "experiment=openml_cc18", "model=mlp",
                           f"dataset.root={tmp_path / 'empty'}", "dataset.download=never",
                           f"paths.results_dir={tmp_path / 'results'}", f"hydra.sweep.dir={tmp_path / 'jobs'}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "dataset.task_id: OpenML task 3 is not in the cache" in done.stderr
