"""Text loaders and the EmbeddingBag front (no network: the hub is stubbed)."""
from __future__ import annotations

import datasets
import pandas as pd
import pytest
import torch

from conftest import compose_config
from kanfair import runner
from kanfair.config import DatasetConfig
from kanfair.data import load_task, sources, text
from kanfair.models.text import EmbeddingBagFront
from kanfair.schema import ConfigError


def test_basic_english_tokenizer():
    assert text.basic_english('It\'s "Great"!<br />Really, (very) good; no: yes?') == [
        "it", "'", "s", "great", "!", "really", ",", "(", "very", ")", "good", "no", "yes", "?"]


def test_vocabulary_by_frequency_with_pad_and_unknown_ids():
    vocab = text.build_vocab([["b", "a", "b"], ["c", "a", "b"]])
    assert vocab == {"b": 2, "a": 3, "c": 4}
    ids = text.encode([["b", "zzz"], ["c"]], vocab, 3)
    assert ids.tolist() == [[2, text.UNKNOWN, 0], [4, 0, 0]]


def _hub(split_names=("train", "test"), text_key="text"):
    rows = {"train": (["good fun", "bad day", "good day", "bad fun"], [1, 0, 1, 0]),
            "test": (["fun day", "bad good"], [1, 0]), "validation": (["good", "bad"], [1, 0])}
    return datasets.DatasetDict({
        name: datasets.Dataset.from_dict({text_key: rows[name][0], "label": rows[name][1]})
        for name in split_names})


@pytest.mark.parametrize("name, hub, config, splits, text_key", [
    ("ag_news", "ag_news", None, ("train", "test"), "text"),
    ("cola", "glue", "cola", ("train", "validation"), "sentence")])
def test_hub_sets_are_fetched_once_and_stored_as_parquet(tmp_path, monkeypatch, name, hub, config,
                                                         splits, text_key):
    calls = []

    def load_dataset(path, cfg=None):
        calls.append((path, cfg))
        return _hub(splits, text_key)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    task = load_task(DatasetConfig(name=name), str(tmp_path))
    assert calls == [(hub, config)] and (tmp_path / name / "test.parquet").exists()
    assert task.vocab_size == 2 + 4 and task.out_dim == 2 and len(task.x_train) == 4
    monkeypatch.setattr(datasets, "load_dataset", lambda *a: pytest.fail("fetched again"))
    assert torch.equal(load_task(DatasetConfig(name=name), str(tmp_path)).x_test, task.x_test)


def test_hub_offline_names_the_prepare_command(tmp_path, monkeypatch):
    def offline(*args):
        raise ConnectionError("offline")
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(sources.DataUnavailable, match="prepare imdb"):
        load_task(DatasetConfig(name="imdb", source="hf", split="published"), str(tmp_path))


def test_text_csv_and_parquet_tables(tmp_path):
    frame = pd.DataFrame({"review": [f"word{i % 7} other{i % 3}" for i in range(50)],
                          "stars": [i % 3 for i in range(50)]})
    frame.to_parquet(tmp_path / "r.parquet")
    task = load_task(DatasetConfig(name="text_csv", path=str(tmp_path / "r.parquet"),
                                   text_column="review", label_column="stars"), str(tmp_path))
    assert (len(task.x_train), len(task.x_test), task.out_dim) == (40, 10, 3)
    with pytest.raises(ConfigError, match="dataset.text_column: column 'body'.*its columns are 'review', 'stars'"):
        load_task(DatasetConfig(name="text_csv", path=str(tmp_path / "r.parquet"),
                                text_column="body", label_column="stars"), str(tmp_path))


def test_embedding_bag_front_averages_only_the_real_tokens():
    body = torch.nn.Identity()
    front = EmbeddingBagFront(10, 4, body)
    ids = torch.tensor([[3, 5, 0, 0], [7, 0, 0, 0]])
    weight = front.embedding.weight
    expected = torch.stack([(weight[3] + weight[5]) / 2, weight[7]])
    assert torch.allclose(front(ids), expected)


def test_text_runs_count_and_match_the_model_without_the_embedding(tmp_path, tmp_results):
    frame = pd.DataFrame({"text": [f"w{i % 5} v{i % 4}" for i in range(60)], "label": [i % 2 for i in range(60)]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = compose_config("model=mlp", "model.hidden=[16,32]", "dataset=text_csv",
                         f"dataset.path={tmp_path / 't.csv'}", "budget=params", "budget.target=700",
                         "trainer.epochs=1", f"paths.results_dir={tmp_results}")
    record = runner.run(cfg)
    embedding = record.extra["embedding"]
    assert embedding["dim"] == 16 and embedding["params"] == embedding["vocab_size"] * 16
    width = record.model_spec["hidden"][0]
    assert record.hidden == [16, width]
    assert record.params == 16 * width + width + width * 2 + 2 == record.budget["achieved"]
