"""Text classification: AG News, CoLA and IMDb through Hugging Face `datasets`, or any
local table (dataset=text_csv), tokenised as the paper does.

The tokenizer is the "basic_english" normalisation (lower-case, punctuation split off);
the vocabulary comes from the train split (id 0 pads, id 1 is unknown). Each document is
a zero-padded row of token ids; the model's EmbeddingBag (mean, padding_idx 0) turns it
into a vector. Downloads are stored as parquet under <data_dir>/<name>/.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from kanfair.config import DatasetConfig
from kanfair.data.task import Task
from kanfair.data.sources import DataUnavailable, find
from kanfair.data.tabular import read_table

# hub id, config, text column, label column, train split, test split (CoLA's test has no labels)
HUB = {
    "ag_news": ("ag_news", None, "text", "label", "train", "test"),
    "imdb": ("imdb", None, "text", "label", "train", "test"),
    "cola": ("glue", "cola", "sentence", "label", "train", "validation"),
}
PAD, UNKNOWN = 0, 1
SPLIT_SEED, TEST_FRACTION = 0, 0.2
_NORMALISE = [(r"\'", " '  "), (r"\"", ""), (r"\.", " . "), (r"<br \/>", " "), (r",", " , "),
              (r"\(", " ( "), (r"\)", " ) "), (r"\!", " ! "), (r"\?", " ? "), (r"\;", " "),
              (r"\:", " "), (r"\s+", " ")]
_PATTERNS = [(re.compile(p), r) for p, r in _NORMALISE]


def basic_english(line: str) -> list[str]:
    line = line.lower()
    for pattern, replacement in _PATTERNS:
        line = pattern.sub(replacement, line)
    return line.split()


def build_vocab(documents: list[list[str]]) -> dict[str, int]:
    """Token -> id, most frequent first (ties alphabetical), after the pad and unknown ids."""
    counts = Counter(token for doc in documents for token in doc)
    ordered = sorted(counts, key=lambda token: (-counts[token], token))
    return {token: index for index, token in enumerate(ordered, start=2)}


def encode(documents: list[list[str]], vocab: dict[str, int], length: int) -> torch.Tensor:
    ids = torch.zeros(len(documents), max(length, 1), dtype=torch.int64)
    for row, doc in enumerate(documents):
        tokens = [vocab.get(token, UNKNOWN) for token in doc[:length]] or [UNKNOWN]
        ids[row, :len(tokens)] = torch.tensor(tokens)
    return ids


def text_task(name: str, train: pd.DataFrame, test: pd.DataFrame) -> Task:
    """Tokenise, build the vocabulary on train, encode; labels label-encoded on train."""
    train_docs = [basic_english(str(t)) for t in train["text"]]
    test_docs = [basic_english(str(t)) for t in test["text"]]
    vocab = build_vocab(train_docs)
    length = max(len(d) for d in train_docs + test_docs)
    labels = sorted(set(train["label"]))
    index = {label: i for i, label in enumerate(labels)}
    unseen = set(test["label"]) - set(labels)
    if unseen:
        raise ValueError(f"{name}: test labels {sorted(unseen)} never occur in train")
    as_y = lambda frame: torch.tensor([index[v] for v in frame["label"]], dtype=torch.int64)  # noqa: E731
    return Task(name, "classification", encode(train_docs, vocab, length), as_y(train),
                encode(test_docs, vocab, length), as_y(test), out_dim=len(labels),
                vocab_size=len(vocab) + 2)


def _fetch(name: str, root: Path) -> None:
    from datasets import load_dataset

    hub, config, text, label, train, test = HUB[name]
    data = load_dataset(hub, config)
    for split, file in ((train, "train.parquet"), (test, "test.parquet")):
        frame = data[split].to_pandas()[[text, label]]
        frame.columns = ["text", "label"]
        frame.to_parquet(root / file)


def load_hub(cfg: DatasetConfig, data_dir: str) -> Task:
    def present(root: Path) -> bool:
        return (root / "train.parquet").exists() and (root / "test.parquet").exists()

    root = find(cfg, data_dir, present, lambda root: _fetch(cfg.name, root))
    return text_task(cfg.name, pd.read_parquet(root / "train.parquet"),
                     pd.read_parquet(root / "test.parquet"))


def load_text_csv(cfg: DatasetConfig, data_dir: str) -> Task:
    """dataset=text_csv: dataset.path (CSV/parquet), dataset.text_column, dataset.label_column;
    a seeded random 80/20 split."""
    if not cfg.path:
        raise DataUnavailable("dataset=text_csv needs dataset.path=<CSV or parquet file> "
                              "(and dataset.text_column / dataset.label_column)")
    frame = read_table(cfg.path)
    missing = [c for c in (cfg.text_column, cfg.label_column) if c not in frame.columns]
    if missing:
        raise DataUnavailable(f"column(s) {', '.join(missing)} not in {cfg.path}; its columns are "
                              f"{', '.join(map(str, frame.columns))}")
    frame = frame[[cfg.text_column, cfg.label_column]].set_axis(["text", "label"], axis=1)
    train, test = train_test_split(frame, test_size=TEST_FRACTION, random_state=SPLIT_SEED)
    return text_task(Path(cfg.path).stem, train, test)
