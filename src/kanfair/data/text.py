"""Text classification: AG News, CoLA and IMDb through Hugging Face `datasets`, IMDb as
the paper read it (its 50k-review CSV, split by the paper's permutation), or any local
table (dataset=text_csv), tokenised as the paper does.

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

from kanfair.config import DatasetConfig
from kanfair.data import splitting
from kanfair.data.task import Task
from kanfair.data.sources import DataUnavailable, candidate_roots, check_column, find
from kanfair.schema import check
from kanfair.data.tabular import read_table

# hub id, config, text column, label column, train split, test split (CoLA's test has no labels)
HUB = {
    "ag_news": ("ag_news", None, "text", "label", "train", "test"),
    "imdb": ("imdb", None, "text", "label", "train", "test"),
    "cola": ("glue", "cola", "sentence", "label", "train", "validation"),
}
PAD, UNKNOWN = 0, 1
IMDB_CSV = "IMDB Dataset.csv"  # Kaggle's 50k-review file: columns review, sentiment
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


def text_task(name: str, train: pd.DataFrame, test: pd.DataFrame, split: str = "published") -> Task:
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
                vocab_size=len(vocab) + 2, split=split)


def _fetch(name: str, root: Path) -> None:
    from datasets import load_dataset

    hub, config, text, label, train, test = HUB[name]
    data = load_dataset(hub, config)
    for split, file in ((train, "train.parquet"), (test, "test.parquet")):
        frame = data[split].to_pandas()[[text, label]]
        frame.columns = ["text", "label"]
        frame.to_parquet(root / file)


def split_table(name: str, frame: pd.DataFrame, cfg: DatasetConfig) -> Task:
    """A table of text and label split by dataset.split (kanbefair or seeded)."""
    split = splitting.check_split(cfg, ("seeded", "kanbefair") if cfg.name == "text_csv" else ("kanbefair", "seeded"))
    labels = None if split == "kanbefair" else frame["label"].astype(str).to_numpy()
    train, test = splitting.rows_of(split, len(frame), cfg.split_seed, labels)
    return text_task(name, frame.iloc[train], frame.iloc[test], split)


def load_imdb_csv(cfg: DatasetConfig, data_dir: str) -> Task:
    """IMDb as the paper read it: the CSV at dataset.path or in <root>|<data_dir>/imdb/."""
    folders = candidate_roots(cfg, data_dir)
    path = Path(cfg.path) if cfg.path else next(
        (folder / IMDB_CSV for folder in folders if (folder / IMDB_CSV).exists()), None)
    if path is None or not path.exists():
        where = path or " or ".join(str(folder) for folder in folders)
        raise DataUnavailable(
            f"the paper's IMDb is Kaggle's '{IMDB_CSV}' (columns review, sentiment; no open download), "
            f"not found in {where}: put it there or set dataset.path; or use the Hugging Face copy "
            f"with its own split: dataset.source=hf dataset.split=published")
    frame = read_table(path)
    missing_columns = {"review", "sentiment"} - set(frame.columns)
    if missing_columns:
        raise DataUnavailable(f"{path} has no column(s) {', '.join(sorted(missing_columns))}; "
                              f"the paper's file has review and sentiment")
    return split_table("imdb", frame[["review", "sentiment"]].set_axis(["text", "label"], axis=1), cfg)


def load_hub(cfg: DatasetConfig, data_dir: str) -> Task:
    """A Hugging Face set with its published split (IMDb: only with dataset.source=hf)."""
    if cfg.name == "imdb" and cfg.source != "hf":
        return load_imdb_csv(cfg, data_dir)
    splitting.check_split(cfg, ("published",) if cfg.name == "imdb" else ())

    def present(root: Path) -> bool:
        return (root / "train.parquet").exists() and (root / "test.parquet").exists()

    root = find(cfg, data_dir, present, lambda root: _fetch(cfg.name, root))
    return text_task(cfg.name, pd.read_parquet(root / "train.parquet"),
                     pd.read_parquet(root / "test.parquet"))


def load_text_csv(cfg: DatasetConfig, data_dir: str) -> Task:
    """dataset=text_csv: dataset.path (CSV/parquet), dataset.text_column, dataset.label_column;
    split by dataset.split (seeded by default, or the paper's permutation)."""
    if not cfg.path:
        raise DataUnavailable("dataset=text_csv needs dataset.path=<CSV or parquet file> "
                              "(and dataset.text_column / dataset.label_column)")
    frame = read_table(cfg.path)
    for key, column in (("dataset.text_column", cfg.text_column), ("dataset.label_column", cfg.label_column)):
        check_column(column, frame.columns, key, cfg.path)
    missing = int(frame[cfg.label_column].isna().sum())
    check(missing == 0, "dataset.label_column", f"{missing} of the {len(frame)} rows of {cfg.path} have no "
          f"'{cfg.label_column}' (an empty label would become a class)", "drop those rows or fill them in")
    frame = frame[[cfg.text_column, cfg.label_column]].set_axis(["text", "label"], axis=1)
    return split_table(Path(cfg.path).stem, frame, cfg)
