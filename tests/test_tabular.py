"""Tabular loaders: the paper's preprocessing, UCI through a stubbed fetch, user tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from kanfair.config import DatasetConfig
from kanfair.data import load_task, sources, tabular
from kanfair.schema import ConfigError


def test_encode_features_follows_the_paper_by_hand():
    frame = pd.DataFrame({"num": [1.0, np.nan, 3.0, 4.0],
                          "text": ["Red!", "red", " Blue", None],
                          "when": pd.to_datetime(["2020-01-01"] * 4)})
    got = tabular.encode_features(frame)
    assert got.shape == (4, 2)  # the datetime column is dropped
    num = np.array([1.0, 0.0, 3.0, 4.0])  # NaN -> 0
    # lower-cased, punctuation stripped, missing as "nan", sorted codes: blue 0, nan 1, red 2
    text = np.array([2.0, 2.0, 0.0, 1.0])
    for column, expected in ((0, num), (1, text)):
        standard = (expected - expected.mean()) / expected.std()
        np.testing.assert_allclose(got[:, column], standard, atol=1e-12)


def _uci_frames(n: int = 50):
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=n), "kind": rng.choice(["a", "b"], n)})
    targets = pd.DataFrame({"class": rng.choice(["spam", "ham"], n)})
    return features, targets


def test_uci_set_is_fetched_once_then_served_from_parquet(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tabular, "fetch_uci", lambda uci_id: calls.append(uci_id) or _uci_frames())
    task = load_task(DatasetConfig(name="spam", split="seeded"), str(tmp_path))
    assert calls == [94] and (tmp_path / "spam" / tabular.FEATURES_FILE).exists()
    assert (len(task.x_train), len(task.x_test), task.in_dim, task.out_dim) == (40, 10, 2, 2)
    monkeypatch.setattr(tabular, "fetch_uci", lambda uci_id: pytest.fail("fetched again"))
    again = load_task(DatasetConfig(name="spam", split="seeded"), str(tmp_path))
    assert torch.equal(again.x_test, task.x_test)


def test_uci_offline_names_the_prepare_command(tmp_path, monkeypatch):
    def offline(uci_id):
        raise ConnectionError("network unreachable")
    monkeypatch.setattr(tabular, "fetch_uci", offline)
    with pytest.raises(sources.DataUnavailable, match="prepare bank.*no network|no network.*prepare bank"):
        load_task(DatasetConfig(name="bank"), str(tmp_path))


def test_every_paper_uci_set_is_registered():
    assert set(tabular.UCI_IDS) == {"abalone", "income", "mushroom", "wine_quality", "bank", "rice",
                                    "bean", "student", "spam", "card", "telescope", "dota",
                                    "darwin", "toxicity"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_user_tables_for_classification_and_regression(tmp_path, suffix):
    features, targets = _uci_frames(40)
    frame = features.assign(label=targets["class"], value=np.arange(40.0))
    path = tmp_path / f"table{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    clf = load_task(DatasetConfig(name="csv", path=str(path), target="label"), str(tmp_path))
    assert clf.kind == "classification" and clf.out_dim == 2 and clf.in_dim == 3
    reg = load_task(DatasetConfig(name="csv", path=str(path), target="value", task="regression"),
                    str(tmp_path))
    assert reg.kind == "regression" and reg.y_train.shape == (32, 1)
    assert sorted(torch.cat([reg.y_train, reg.y_test]).flatten().tolist()) == list(np.arange(40.0))


def test_user_table_errors_say_what_to_set(tmp_path):
    with pytest.raises(sources.DataUnavailable, match="dataset.path"):
        load_task(DatasetConfig(name="csv"), str(tmp_path))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="dataset.target: column 'c' is not in .*its columns are 'a', 'b'"):
        load_task(DatasetConfig(name="csv", path=str(tmp_path / "t.csv"), target="c"), str(tmp_path))


def test_titanic_from_its_kaggle_csv_has_nine_features(tmp_path):
    rng = np.random.default_rng(0)
    n = 30
    frame = pd.DataFrame({
        "PassengerId": range(n), "Survived": rng.integers(0, 2, n), "Pclass": rng.integers(1, 4, n),
        "Name": [f"Person {i}" for i in range(n)], "Sex": rng.choice(["male", "female"], n),
        "Age": rng.normal(30, 10, n), "SibSp": rng.integers(0, 3, n), "Parch": rng.integers(0, 3, n),
        "Ticket": [f"T{i}" for i in range(n)], "Fare": rng.normal(30, 5, n),
        "Cabin": [None] * n, "Embarked": rng.choice(["S", "C", "Q"], n)})
    (tmp_path / "titanic").mkdir()
    frame.to_csv(tmp_path / "titanic" / "train.csv", index=False)
    task = load_task(DatasetConfig(name="titanic", split="seeded"), str(tmp_path))
    assert task.in_dim == 9 and task.out_dim == 2
