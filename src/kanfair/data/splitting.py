"""Train/test splits and the paper's encoding of tables.

`kanbefair`: the paper's own split, read from package data (see splits/PROVENANCE.md):
one fixed permutation of 100,000 positions serves every table of n <= 100,000 rows
(train[train < n], test[test < n], in that order), and Titanic has explicit row lists.
`seeded`: a seeded 80/20 split (dataset.split_seed), stratified for classification.
Under `kanbefair` tables are also encoded as the paper's code did (`paper_features`,
`paper_codes`): a reproduction needs the paper's exact rows and codes, not equivalents.
"""
from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Optional, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from kanfair.config import DatasetConfig
from kanfair.schema import check

PERMUTATION_ROWS = 100_000
TEST_FRACTION = 0.2
# the paper's code: str.lower(), then str.strip() of these characters and ' \n\r\t'
PAPER_STRIP = '!"#%&\'()*,./:;?@[\\]^_`{|}~' + " \n\r\t"


def check_split(cfg: DatasetConfig, allowed: Sequence[str]) -> str:
    """The split to use: dataset.split if this data set has it, else (unset) its default,
    the first of `allowed` (as its YAML file sets it). "" for a data set with one split."""
    if not allowed:
        check(cfg.split is None, "dataset.split", f"does not apply to {cfg.name} (it has one fixed split)",
              "leave dataset.split unset")
        return ""
    split = cfg.split or allowed[0]
    check(split in allowed, "dataset.split", f"'{split}' is not a split of {cfg.name}",
          f"choose one of {', '.join(allowed)}")
    return split


@functools.lru_cache(maxsize=1)
def _permutation() -> tuple[np.ndarray, np.ndarray]:
    with resources.files("kanfair.data").joinpath("splits/kanbefair_uciml_split.npz").open("rb") as handle:
        arrays = np.load(handle)
        return arrays["train"].astype(np.int64), arrays["test"].astype(np.int64)


def kanbefair_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's train and test rows of a table of n rows, in the paper's order."""
    check(n <= PERMUTATION_ROWS, "dataset.split",
          f"the paper's permutation covers {PERMUTATION_ROWS:,} rows, this table has {n:,}",
          "use dataset.split=seeded")
    train, test = _permutation()
    return train[train < n], test[test < n]


def titanic_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's Titanic rows (Kaggle's train.csv, 891 rows)."""
    text = resources.files("kanfair.data").joinpath("splits/kanbefair_titanic_split.json").read_text()
    lists = json.loads(text)
    needed = len(lists["train"]) + len(lists["test"])
    check(n == needed, "dataset.split", f"the paper's Titanic split is for Kaggle's {needed}-row train.csv; "
          f"this table has {n} rows", "use Kaggle's train.csv, or dataset.split=seeded")
    return np.asarray(lists["train"]), np.asarray(lists["test"])


def seeded_rows(n: int, seed: int, labels: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """A seeded 80/20 split of n rows, stratified by `labels` when given; refused, naming
    dataset.task, where a class has too few rows to be on both sides (often a numeric
    target read as classes)."""
    if labels is not None:
        values, counts = np.unique(labels, return_counts=True)
        rare, held = int((counts < 2).sum()), math.ceil(TEST_FRACTION * n)  # scikit-learn's sizes
        check(rare == 0 and len(values) <= min(held, n - held), "dataset.task",
              f"{len(values)} classes in {n} rows ({rare} with a single row): a stratified split cannot "
              "put every class on both sides", "for a numeric target use dataset.task=regression; else "
              "merge or drop the rare classes")
    train, test = train_test_split(np.arange(n), test_size=TEST_FRACTION, random_state=seed,
                                   stratify=labels)
    return train, test


def rows_of(split: str, n: int, seed: int, labels: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a table's split: kanbefair, or seeded with `seed` (stratified by labels)."""
    return kanbefair_rows(n) if split == "kanbefair" else seeded_rows(n, seed, labels)


def _as_text(column: pd.Series) -> pd.Series:
    """Values as text, a missing one as "nan" (what astype(str) gave the paper's pandas)."""
    return column.map(lambda value: "nan" if pd.isna(value) else str(value)).astype(object)


def paper_clean(column: pd.Series) -> pd.Series:
    """Lower-case, then strip PAPER_STRIP at both ends only (never inside the text)."""
    return _as_text(column).map(lambda text: text.lower().strip(PAPER_STRIP))


def paper_codes(column: pd.Series) -> np.ndarray:
    """Each distinct value coded by the order of its first appearance in the rows."""
    codes, _ = pd.factorize(_as_text(column), sort=False)
    return codes


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or pd.api.types.is_string_dtype(column)


def paper_features(frame: pd.DataFrame) -> np.ndarray:
    """The paper's features: float64 and int64 columns kept, text columns lower-cased,
    stripped at both ends and coded by first appearance, every other dtype dropped;
    NaN -> 0; StandardScaler over all rows."""
    kept = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype in (np.float64, np.int64):
            kept[name] = column.astype(float)
        elif _is_text(column):
            kept[name] = pd.Series(paper_codes(paper_clean(column)), index=frame.index, dtype=float)
    check(bool(kept), "dataset.path", "the table has no float64, int64 or text feature column",
          "give a table with numeric or text features")
    values = pd.DataFrame(kept).fillna(0.0).to_numpy()
    return StandardScaler().fit_transform(values)


def paper_target(column: pd.Series) -> np.ndarray:
    """The paper's targets: text lower-cased and stripped, then every target (numbers too)
    coded by first appearance."""
    return paper_codes(paper_clean(column) if _is_text(column) else column)
