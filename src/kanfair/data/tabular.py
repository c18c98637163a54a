"""Tabular tasks: scikit-learn's bundled sets, the paper's UCI sets, and any user table.

Under dataset.split=kanbefair (the default of the UCI sets and Titanic) a table gets the
paper's exact rows and encoding (kanfair.data.splitting). Under `seeded` (the default of
dataset=csv): string columns lower-cased, stripped of punctuation and label-encoded in
sorted order, other non-numeric columns dropped, NaN -> 0, StandardScaler on all rows,
targets label-encoded, a seeded 80/20 split (dataset.split_seed), stratified for
classification. UCI sets come through ucimlrepo and are stored as parquet under
<data_dir>/<name>/ the first time, so later runs need no network.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler

from kanfair.config import DatasetConfig
from kanfair.data import splitting
from kanfair.data.task import Task
from kanfair.data.sources import DataUnavailable, check_column, find
from kanfair.schema import ConfigError, check

BUNDLED = {
    "digits": skdatasets.load_digits,
    "breast_cancer": skdatasets.load_breast_cancer,
    "wine": skdatasets.load_wine,
    "iris": skdatasets.load_iris,
}
UCI_IDS = {
    "abalone": 1, "income": 2, "mushroom": 73, "wine_quality": 186, "bank": 222, "rice": 545,
    "bean": 602, "student": 697, "spam": 94, "card": 350, "telescope": 159, "dota": 367,
    "darwin": 732, "toxicity": 728,
}
TITANIC_TARGET = "Survived"
TITANIC_IDENTIFIERS = ("PassengerId", "Name")
TITANIC_CATEGORIES = ("Sex", "Ticket", "Cabin", "Embarked")  # the paper codes these four
BUNDLED_SPLIT_SEED = 0
TEST_FRACTION = 0.2
PAPER_SPLITS, USER_SPLITS = ("kanbefair", "seeded"), ("seeded", "kanbefair")  # default first
FEATURES_FILE, TARGETS_FILE = "features.parquet", "targets.parquet"


def as_task(name: str, kind: str, x: np.ndarray, y: np.ndarray, out_dim: int,
            rows: tuple[np.ndarray, np.ndarray], split: str) -> Task:
    """A table's features and target as a Task on its (train, test) rows: shared by every
    tabular source (UCI, R packages), so that each refuses values float32 cannot hold alike."""
    train, test = rows
    checked = [("a feature", x)] + ([("the target", y)] if kind == "regression" else [])
    with np.errstate(over="ignore", invalid="ignore"):
        overflow = [what for what, values in checked if not np.isfinite(np.asarray(values, np.float32)).all()]
    if overflow:  # e.g. 1e308 in the file: it overflows float32 (or the scaler); not a model's fault
        raise ValueError(f"{name}: {overflow[0]} overflows float32 once read and standardised (|values| "
                         "near 1e308 or beyond 3.4e38); rescale or drop that column of the data")
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    if kind == "classification":
        as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    else:
        as_y = lambda a: torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1)  # noqa: E731
    return Task(name, kind, as_x(x[train]), as_y(y[train]), as_x(x[test]), as_y(y[test]),
                out_dim=out_dim, split=split)


def load_bundled(cfg: DatasetConfig, data_dir: str) -> Task:
    """Stratified 80/20 split with a fixed seed; features standardised with train statistics."""
    splitting.check_split(cfg, ())
    x, y = BUNDLED[cfg.name](return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=BUNDLED_SPLIT_SEED)
    scaler = StandardScaler().fit(x_tr)
    as_x = lambda a: torch.as_tensor(scaler.transform(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return Task(cfg.name, "classification", as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te),
                out_dim=int(np.max(y)) + 1)


def encode_features(frame: pd.DataFrame) -> np.ndarray:
    """The paper's feature preprocessing (see the module docstring)."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            columns.append(column.astype(float))
        elif pd.api.types.is_numeric_dtype(column):
            columns.append(column.astype(float))
        elif pd.api.types.is_string_dtype(column) or column.dtype == object:
            # a missing string is the text "nan", as pandas < 3 (the paper's) made it
            text = (column.fillna("nan").astype(str).str.lower()
                    .str.replace(r"[^\w\s]", "", regex=True).str.strip())
            columns.append(pd.Series(LabelEncoder().fit_transform(text), index=frame.index,
                                     dtype=float))
    if not columns:
        raise ValueError("the table has no numeric or string feature columns")
    values = pd.concat(columns, axis=1).fillna(0.0).to_numpy()
    return StandardScaler().fit_transform(values)


def table_task(name: str, features: pd.DataFrame, target: pd.Series, kind: str,
               cfg: DatasetConfig) -> Task:
    """A table as a task, encoded and split as dataset.split says (see the module docstring)."""
    split = splitting.check_split(cfg, USER_SPLITS if cfg.name in ("csv", "text_csv") else PAPER_SPLITS)
    paper = split == "kanbefair"
    check(len(features.columns) > 0, "dataset.target", f"{cfg.path or name} has no column besides its target "
          f"'{target.name}': nothing to learn from", "give a table with feature columns beside the target")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, in one line
        x = splitting.paper_features(features) if paper else encode_features(features)
    if kind == "classification":
        y = (splitting.paper_target(target) if paper
             else LabelEncoder().fit_transform(target.astype(str).str.strip().to_numpy()))
        rows = splitting.rows_of(split, len(y), cfg.split_seed, None if paper else y)
        return as_task(name, kind, x, y, int(y.max()) + 1, rows, split)
    numbers = pd.to_numeric(target, errors="coerce")
    text = target[numbers.isna() & target.notna()]
    if len(text):
        raise ConfigError("dataset.task", f"regression needs a numeric target; column '{target.name}' "
                          f"has text such as {str(text.iloc[0])!r}", "use dataset.task=classification or "
                          "another dataset.target")
    y = numbers.fillna(0.0).to_numpy(dtype=float)
    return as_task(name, kind, x, y, 1, splitting.rows_of(split, len(y), cfg.split_seed), split)


def read_table(path: str | Path) -> pd.DataFrame:
    """A user's CSV or parquet file, refused in one line naming it when it cannot be read,
    has no rows, or holds infinite numbers (which would train on inf silently)."""
    path = Path(path)
    if not path.exists():
        raise DataUnavailable(f"table '{path}' does not exist; set dataset.path to a CSV or parquet file")
    parquet = path.suffix in (".parquet", ".pq")
    try:
        frame = pd.read_parquet(path) if parquet else pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"cannot read '{path}' as a {'parquet' if parquet else 'CSV'} table ({detail}); "
                         "dataset.path needs a comma-separated text file with a header row, or parquet") from error
    if not parquet:
        with open(path, newline="", errors="replace") as handle:
            header = next(csv.reader(handle), [])
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:  # pandas would rename the copy (y -> y.1) and keep it as a feature
            raise ValueError(f"'{path}' names column(s) {', '.join(map(repr, repeated))} more than once; "
                             "give every column of dataset.path its own name")
    if frame.empty:
        raise ValueError(f"'{path}' has no data rows (columns: {', '.join(map(str, frame.columns)) or 'none'}); "
                         "dataset.path needs a table with a header row and data rows")
    numbers = frame.select_dtypes("number")
    infinite = [str(c) for c in numbers.columns if np.isinf(numbers[c].to_numpy(dtype=float)).any()]
    if infinite:
        raise ValueError(f"'{path}' has infinite values in column(s) {', '.join(infinite)}; "
                         "replace them or drop those rows (NaN is read as missing and set to 0)")
    return frame


def load_csv(cfg: DatasetConfig, data_dir: str) -> Task:
    """dataset=csv: any user table (dataset.path, dataset.target, dataset.task)."""
    splitting.check_split(cfg, USER_SPLITS)
    if not cfg.path or not cfg.target:
        raise DataUnavailable("dataset=csv needs dataset.path=<CSV or parquet file> and "
                              "dataset.target=<column>")
    frame = read_table(cfg.path)
    check_column(cfg.target, frame.columns, "dataset.target", cfg.path)
    missing = int(frame[cfg.target].isna().sum())
    check(missing == 0, "dataset.target", f"{missing} of the {len(frame)} rows of {cfg.path} have no "
          f"'{cfg.target}' (an empty target would become a class or a 0)", "drop those rows or fill them in")
    return table_task(Path(cfg.path).stem, frame.drop(columns=[cfg.target]), frame[cfg.target],
                      cfg.task, cfg)


def load_titanic(cfg: DatasetConfig, data_dir: str) -> Task:
    """Kaggle's Titanic train.csv (dataset.path, or <root>|<data_dir>/titanic/train.csv)."""
    found: dict[str, Path] = {}

    def present(root: Path) -> bool:
        found["path"] = root / "train.csv"
        return found["path"].exists()

    path = Path(cfg.path) if cfg.path else None
    if path is None:
        find(cfg, data_dir, present, None,
             manual="Titanic is Kaggle's train.csv (kaggle.com/c/titanic/data, after signing in), "
                    f"which has no open download: put it at {Path(data_dir) / 'titanic' / 'train.csv'} "
                    "or pass dataset.path=<its path>")
        path = found["path"]
    frame = read_table(path)
    features = frame.drop(columns=[c for c in (TITANIC_TARGET, *TITANIC_IDENTIFIERS) if c in frame])
    if splitting.check_split(cfg, PAPER_SPLITS) == "seeded":
        return table_task("titanic", features, frame[TITANIC_TARGET], "classification", cfg)
    return titanic_as_the_paper(features, frame[TITANIC_TARGET])


def titanic_as_the_paper(features: pd.DataFrame, survived: pd.Series) -> Task:
    """The paper's Titanic: Sex, Ticket, Cabin, Embarked coded by first appearance (as
    text, no cleaning), NaN -> 0, StandardScaler on every feature, its explicit rows."""
    features = features.copy()
    for name in TITANIC_CATEGORIES:
        features[name] = splitting.paper_codes(features[name])
    x = StandardScaler().fit_transform(features.astype(float).fillna(0.0).to_numpy())
    y = survived.to_numpy(dtype=np.int64)
    return as_task("titanic", "classification", x, y, int(y.max()) + 1,
                    splitting.titanic_rows(len(y)), "kanbefair")


def fetch_uci(uci_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and targets of a UCI data set through ucimlrepo (needs the network)."""
    from ucimlrepo import fetch_ucirepo

    repo = fetch_ucirepo(id=uci_id)
    return repo.data.features, repo.data.targets


def load_uci(cfg: DatasetConfig, data_dir: str) -> Task:
    def present(root: Path) -> bool:
        return (root / FEATURES_FILE).exists() and (root / TARGETS_FILE).exists()

    def download(root: Path) -> None:
        features, targets = fetch_uci(UCI_IDS[cfg.name])
        features.to_parquet(root / FEATURES_FILE)
        targets.to_parquet(root / TARGETS_FILE)

    root = find(cfg, data_dir, present, download)
    targets = pd.read_parquet(root / TARGETS_FILE)
    return table_task(cfg.name, pd.read_parquet(root / FEATURES_FILE), targets.iloc[:, 0],
                      "classification", cfg)
