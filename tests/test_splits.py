"""The paper's exact splits and encodings (dataset.split=kanbefair) against the paper's
files read here directly, hand-computed codes, and the seeded alternative."""
from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from conftest import compose_config, only_record, run_train
from kanfair.config import DatasetConfig, TrainerConfig
from kanfair.data import load_task, tabular
from kanfair.data.splitting import kanbefair_rows, paper_clean, paper_codes
from kanfair.data.task import Task
from kanfair.results import config_hash
from kanfair.schema import ConfigError
from kanfair.trainer import make_splits

SPLITS = resources.files("kanfair.data").joinpath("splits")


def paper_permutation(n: int) -> tuple[np.ndarray, np.ndarray]:
    """train[train < n], test[test < n] straight from the packaged file."""
    with SPLITS.joinpath("kanbefair_uciml_split.npz").open("rb") as handle:
        arrays = np.load(handle)
        train, test = arrays["train"], arrays["test"]
    return train[train < n], test[test < n]


def recovered_rows(x: torch.Tensor, n: int) -> list[int]:
    """Row ids from a standardised 0..n-1 column."""
    ids = np.arange(n, dtype=np.float64)
    return np.rint(x.double().numpy() * ids.std() + ids.mean()).astype(int).tolist()


def test_the_packaged_permutation_is_the_papers_file():
    digest = hashlib.sha256(SPLITS.joinpath("kanbefair_uciml_split.npz").read_bytes()).hexdigest()
    assert digest == "05d9c93c55fe2211e2f6109b49cb8442873fc8894c7223dfc70f52e771a783bb"
    train, test = paper_permutation(100_000)
    assert len(train) == 80_000 and len(test) == 20_000 and not set(train) & set(test)


def spambase_sized_table(path: Path) -> Path:
    n = 4601
    frame = pd.DataFrame({"row": np.arange(n, dtype=np.float64), "label": np.arange(n) % 2})
    frame.to_csv(path, index=False)
    return path


def test_a_csv_under_the_papers_split_gets_3678_and_923_rows_from_the_cli(tmp_path, tmp_results):
    table = spambase_sized_table(tmp_path / "spam.csv")
    done = run_train("model=mlp", "dataset=csv", f"dataset.path={table}", "dataset.target=label",
                     "dataset.split=kanbefair", "trainer.protocol=kanbefair", "trainer.epochs=1",
                     f"paths.results_dir={tmp_results}")
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_results)
    assert (record["n_train"], record["n_test"]) == (3678, 923)
    assert record["split"] == "kanbefair" and record["config"]["dataset"]["split"] == "kanbefair"


def test_the_rows_are_exactly_the_permutations_in_order(tmp_path):
    table = spambase_sized_table(tmp_path / "spam.csv")
    task = load_task(DatasetConfig(name="csv", path=str(table), target="label", split="kanbefair"))
    train, test = paper_permutation(4601)
    assert recovered_rows(task.x_train[:, 0], 4601) == train.tolist()
    assert recovered_rows(task.x_test[:, 0], 4601) == test.tolist()
    assert torch.equal(task.y_train, torch.as_tensor(train % 2))


def test_more_rows_than_the_permutation_has_are_refused():
    with pytest.raises(ConfigError, match="100,000 rows.*100,001"):
        kanbefair_rows(100_001)


def coded(frame: pd.DataFrame, target: str, split: str) -> Task:
    path = Path(pytest.importorskip("tempfile").mkdtemp()) / "t.csv"
    frame.to_csv(path, index=False)
    return load_task(DatasetConfig(name="csv", path=str(path), target=target, split=split))


def standardised(values: list[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (v - v.mean()) / v.std()


def test_the_papers_codes_follow_first_appearance_not_sorted_order():
    frame = pd.DataFrame({"colour": ["red", " Blue", "red", "green!", "blue.", "Red"],
                          "answer": ["yes", "no", "yes", "no", "maybe", "yes"]})
    first = [0, 1, 0, 2, 1, 0]  # red, blue, green after lower-casing and stripping the ends
    sorted_codes = [2, 0, 2, 1, 0, 2]  # seeded: punctuation removed anywhere, sorted: blue, green, red
    assert paper_codes(paper_clean(frame.colour)).tolist() == first
    task = coded(frame, "answer", "kanbefair")
    x = torch.cat([task.x_train, task.x_test])[:, 0].double().numpy()
    rows = np.concatenate(paper_permutation(6))
    assert np.allclose(x, standardised(first)[rows], atol=1e-6)
    assert torch.cat([task.y_train, task.y_test]).tolist() == [[0, 1, 0, 1, 2, 0][r] for r in rows]
    seeded = coded(frame.assign(answer=[0, 1, 0, 1, 1, 0]), "answer", "seeded")
    got = np.unique(np.round(torch.cat([seeded.x_train, seeded.x_test])[:, 0].double().numpy(), 4))
    assert np.allclose(got, np.unique(np.round(standardised(sorted_codes), 4)), atol=1e-4)


def test_the_paper_strips_only_at_both_ends_and_keeps_only_float64_int64_and_text():
    assert paper_clean(pd.Series(["  A.b!c?!", "x-y", "(z)", None])).tolist() == ["a.b!c", "x-y", "z", "nan"]
    frame = pd.DataFrame({"f64": [0.5, 1.5, 2.5, 3.5], "i64": [1, 2, 3, 4],
                          "f32": np.array([1, 2, 3, 4], dtype=np.float32),
                          "flag": [True, False, True, False], "word": ["a", "b", "a", "c"],
                          "y": [1, 0, 1, 0]})
    path = Path(pytest.importorskip("tempfile").mkdtemp()) / "t.parquet"
    frame.to_parquet(path)
    task = load_task(DatasetConfig(name="csv", path=str(path), target="y", split="kanbefair"))
    assert task.in_dim == 3  # f64, i64, word; float32 and bool dropped as the paper's code did
    assert torch.equal(torch.cat([task.y_train, task.y_test]), torch.tensor([[0, 1, 0, 1][r] for r in
                                                                            np.concatenate(paper_permutation(4))]))


def uci_frames(n: int = 50) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.DataFrame({"row": np.arange(n, dtype=np.float64), "noise": np.linspace(0, 1, n)}),
            pd.DataFrame({"class": ["spam" if i % 3 else "ham" for i in range(n)]}))


def test_a_uci_set_gets_the_papers_split_by_default_and_seeded_restores_todays(tmp_path, monkeypatch):
    monkeypatch.setattr(tabular, "fetch_uci", lambda uci_id: uci_frames())
    paper = load_task(DatasetConfig(name="spam"), str(tmp_path))
    train, test = paper_permutation(50)
    assert recovered_rows(paper.x_train[:, 0], 50) == train.tolist() and paper.split == "kanbefair"
    assert recovered_rows(paper.x_test[:, 0], 50) == test.tolist()
    seeded = load_task(DatasetConfig(name="spam", split="seeded"), str(tmp_path))
    from sklearn.model_selection import train_test_split
    labels = uci_frames()[1]["class"].to_numpy()
    expected_train, _ = train_test_split(np.arange(50), test_size=0.2, random_state=0, stratify=labels)
    assert recovered_rows(seeded.x_train[:, 0], 50) == expected_train.tolist()
    hashes = {split: config_hash(OmegaConf.to_container(compose_config("dataset=spam", *split), resolve=True))
              for split in [(), ("dataset.split=seeded",)]}
    assert hashes[()] != hashes[("dataset.split=seeded",)]


def titanic_frame(n: int = 891) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "PassengerId": range(1, n + 1), "Survived": rng.integers(0, 2, n), "Pclass": rng.integers(1, 4, n),
        "Name": [f"P {i}" for i in range(n)], "Sex": rng.choice(["male", "female"], n),
        "Age": np.where(np.arange(n) % 7 == 0, np.nan, 30.0), "SibSp": 0, "Parch": 0,
        "Ticket": [f"T{i % 50}" for i in range(n)], "Fare": np.arange(n, dtype=np.float64),
        "Cabin": [None if i % 3 else f"C{i % 4}" for i in range(n)], "Embarked": rng.choice(["S", "C"], n)})


def test_titanic_gets_the_papers_row_lists(tmp_path):
    (tmp_path / "titanic").mkdir()
    titanic_frame().to_csv(tmp_path / "titanic" / "train.csv", index=False)
    task = load_task(DatasetConfig(name="titanic"), str(tmp_path))
    lists = json.loads(SPLITS.joinpath("kanbefair_titanic_split.json").read_text())
    fare = 6  # Pclass, Sex, Age, SibSp, Parch, Ticket, Fare, Cabin, Embarked
    assert task.in_dim == 9 and (len(task.x_train), len(task.x_test)) == (712, 179)
    assert recovered_rows(task.x_train[:, fare], 891) == lists["train"]
    assert recovered_rows(task.x_test[:, fare], 891) == lists["test"]
    (tmp_path / "short").mkdir()
    titanic_frame(30).to_csv(tmp_path / "short" / "train.csv", index=False)
    with pytest.raises(ConfigError, match="891-row"):
        load_task(DatasetConfig(name="titanic", path=str(tmp_path / "short" / "train.csv")), str(tmp_path))


def test_imdb_is_the_papers_csv_split_by_the_permutation(tmp_path):
    (tmp_path / "imdb").mkdir()
    n = 300
    pd.DataFrame({"review": [f"film number{i} was {'good' if i % 2 else 'bad'}" for i in range(n)],
                  "sentiment": ["positive" if i % 2 else "negative" for i in range(n)]}).to_csv(
        tmp_path / "imdb" / "IMDB Dataset.csv", index=False)
    task = load_task(DatasetConfig(name="imdb"), str(tmp_path))
    train, test = paper_permutation(n)
    assert (len(task.x_train), len(task.x_test)) == (len(train), len(test)) and task.split == "kanbefair"
    assert task.y_train.tolist() == (train % 2).tolist()  # negative < positive


def test_imdb_missing_names_the_csv_and_the_hugging_face_copy(tmp_path):
    with pytest.raises(Exception, match="IMDB Dataset.csv.*dataset.source=hf dataset.split=published"):
        load_task(DatasetConfig(name="imdb"), str(tmp_path))


def test_the_validation_seed_moves_the_validation_split_and_the_hash():
    task = Task("t", "classification", torch.randn(100, 2), torch.arange(100) % 2, torch.randn(10, 2),
                torch.arange(10) % 2, 2)
    first, again = make_splits(task, "val", 0.2, 0), make_splits(task, "val", 0.2, 0)
    other = make_splits(task, "val", 0.2, 1)
    assert torch.equal(first.x_val, again.x_val) and not torch.equal(first.x_val, other.x_val)
    assert TrainerConfig().val_seed == 0
    base = OmegaConf.to_container(compose_config(), resolve=True)
    moved = OmegaConf.to_container(compose_config("trainer.val_seed=1"), resolve=True)
    assert config_hash(base) != config_hash(moved)


@pytest.mark.parametrize("override", ["dataset=digits dataset.split=kanbefair",
                                      "dataset=csv dataset.split=folds dataset.path=x.csv dataset.target=y"])
def test_a_split_a_data_set_does_not_have_is_refused_in_one_line(tmp_results, override):
    done = run_train(*override.split(), f"paths.results_dir={tmp_results}")
    assert done.returncode == 2 and "dataset.split" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
