"""R data packages as tasks: `dataset=rdata` (any data frame of any R package) and the real
tabular suite's presets (results/tabular_real; shared/reference/tabular.md, section C).

A package is read where R keeps it, or where `kanfair-data prepare` extracted it from the
Debian package (`apt-get download r-cran-<package>` and `dpkg-deb -x`: no R needed), with
the maintained reader `rdata`: its `data/` folder holds `.rda`/`.RData` files or a
lazy-load database (`Rdata.rdb` with its index `Rdata.rdx`). R factors become categories:
an ordered factor its level codes (the order kept), a factor of two levels one 0/1 column,
any other factor one-hot columns; logicals 0/1; a missing feature value the column mean;
then every column standardised (over all rows, kanfair's seeded convention). Rows with no
target are dropped, constant columns too; the presets drop what leaks and log what the
reference logs. Split: seeded 80/20 (dataset.split_seed), stratified for classification.
"""
from __future__ import annotations

import bz2
import lzma
import os
import shutil
import subprocess
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
from sklearn import datasets as skdatasets
from sklearn.preprocessing import LabelEncoder, StandardScaler

from kanfair.config import DatasetConfig
from kanfair.data import splitting
from kanfair.data.sources import DataUnavailable, check_column, prepare_command
from kanfair.data.task import Task
from kanfair.schema import ConfigError, check

R_LIBRARIES = ("/usr/lib/R/site-library", "/usr/lib/R/library", "/usr/local/lib/R/site-library")
EXTRACTED = "r"  # <data_dir>/r/<package>: where `prepare` puts a package's files


@dataclass(frozen=True)
class Preset:
    """A data set of the real tabular suite: where it is, its target and kind, the columns
    to drop (leaks, identifiers), whether the target is logged, and OpenML's id of the same
    data (None where none is confirmed)."""

    package: str
    object: str
    target: str
    kind: str
    openml: Optional[int] = None
    drop: tuple[str, ...] = ()
    log_target: bool = False


PRESETS = {
    "pima_diabetes": Preset("mlbench", "PimaIndiansDiabetes", "diabetes", "classification", 37),
    "sonar": Preset("mlbench", "Sonar", "Class", "classification", 40),
    "ionosphere": Preset("mlbench", "Ionosphere", "Class", "classification", 59),  # V2 is constant
    "spambase": Preset("kernlab", "spam", "type", "classification", 44),
    "credit_g": Preset("caret", "GermanCredit", "Class", "classification", 31),  # dummy-coded here
    "churn": Preset("modeldata", "mlc_churn", "churn", "classification", 40701),
    "vehicle": Preset("mlbench", "Vehicle", "Class", "classification", 54),
    "satimage": Preset("mlbench", "Satellite", "classes", "classification", 182),
    "letter": Preset("mlbench", "LetterRecognition", "lettr", "classification", 6),
    "dna": Preset("mlbench", "DNA", "Class", "classification", 40670),
    "shuttle": Preset("mlbench", "Shuttle", "Class", "classification", 40685),
    "glass": Preset("mlbench", "Glass", "Type", "classification", 41),
    "boston": Preset("mlbench", "BostonHousing", "medv", "regression", 531),
    "concrete": Preset("modeldata", "concrete", "compressive_strength", "regression", 4353),
    "ames": Preset("modeldata", "ames", "Sale_Price", "regression", log_target=True),
    "cps1988": Preset("AER", "CPS1988", "wage", "regression", log_target=True),
    "car_prices": Preset("modeldata", "car_prices", "Price", "regression", log_target=True),
}
SKLEARN_REGRESSION = {"diabetes": skdatasets.load_diabetes}  # the 22nd set (the other 4: tabular.BUNDLED)


def debian_package(package: str) -> str:
    return f"r-cran-{package.lower()}"


def package_candidates(package: str, data_dir: str | Path, root: Optional[str]) -> list[Path]:
    """Where a package's folder may be, in order: dataset.root (the package folder itself,
    or a library holding it), <data_dir>/r/<package>, $R_LIBS, R's system libraries."""
    libraries = [Path(root)] if root else []
    libraries.append(Path(data_dir) / EXTRACTED)
    libraries += [Path(p) for p in os.environ.get("R_LIBS", "").split(os.pathsep) if p]
    libraries += [Path(p) for p in R_LIBRARIES]
    found = [Path(root)] if root else []
    return found + [library / package for library in libraries]


def find_package(package: str, data_dir: str | Path, root: Optional[str], name: str) -> Path:
    """The first candidate folder with a data/ folder, or one line saying how to get it."""
    candidates = package_candidates(package, data_dir, root)
    for folder in candidates:
        if (folder / "data").is_dir():
            return folder
    raise DataUnavailable(
        f"R package '{package}' not found (looked in {', '.join(str(c) for c in candidates)}); run "
        f"`{prepare_command(name, data_dir, package if name == 'rdata' else None)}` (it extracts the Debian "
        f"package {debian_package(package)} with apt-get download, no R needed), install it in R, or set "
        "dataset.root to its folder")


def read_lazy_load(base: Path, name: str) -> Any:
    """Object `name` of R's lazy-load database base.rdb (index base.rdx, a gzip RDS): its
    entry is a 4-byte big-endian length, then the serialised object zlib-compressed (or
    xz with a 'Z' type byte, bzip2 with '2', raw with '0')."""
    import rdata

    index = rdata.conversion.convert(rdata.parser.parse_file(base.with_suffix(".rdx")))
    variables = index["variables"]
    if name not in variables:
        raise KeyError(name)
    offset, length = (int(v) for v in variables[name])
    with open(base.with_suffix(".rdb"), "rb") as handle:
        handle.seek(offset)
        blob = handle.read(length)
    compressed = int(np.asarray(index.get("compressed", True)).ravel()[0])  # TRUE (zlib), 2 or 3
    if compressed == 1:
        raw = zlib.decompress(blob[4:])
    elif blob[4:5] == b"Z":
        raw = lzma.decompress(blob[5:], format=lzma.FORMAT_RAW,
                              filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}])
    elif blob[4:5] == b"2":
        raw = bz2.decompress(blob[5:])
    else:  # "0": stored uncompressed
        raw = blob[5:]
    return rdata.conversion.convert(rdata.parser.parse_data(raw))


def objects_in(package_dir: Path) -> list[str]:
    """The data objects a package's data/ folder offers (by file name for .rda files)."""
    data = package_dir / "data"
    if (data / "Rdata.rdx").exists():
        import rdata

        return sorted(map(str, rdata.conversion.convert(rdata.parser.parse_file(data / "Rdata.rdx"))["variables"]))
    return sorted(p.stem for p in data.iterdir() if p.suffix.lower() in (".rda", ".rdata"))


def read_object(package_dir: Path, name: str) -> Any:
    """Data object `name` of the package in `package_dir`, from its lazy-load database or
    from its .rda/.RData files (the one named after it first); a ConfigError naming
    dataset.object, with the objects there, when it has none of that name."""
    import rdata

    data = package_dir / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata: "Unknown encoding. Assumed ASCII."
        if (data / "Rdata.rdx").exists():
            try:
                return read_lazy_load(data / "Rdata", name)
            except KeyError:
                pass
        else:
            files = sorted(p for p in data.iterdir() if p.suffix.lower() in (".rda", ".rdata"))
            for path in sorted(files, key=lambda p: p.stem != name):
                objects = rdata.read_rda(path)
                if name in objects:
                    return objects[name]
    raise ConfigError("dataset.object", f"{package_dir.name} has no data object '{name}'",
                      f"choose one of {', '.join(objects_in(package_dir))}")


def encode_r_features(frame: pd.DataFrame) -> np.ndarray:
    """R's columns as numbers (the module docstring's rules), standardised."""
    parts = []
    for name, column in frame.items():
        if isinstance(column.dtype, pd.CategoricalDtype) and (column.cat.ordered or len(column.cat.categories) <= 2):
            parts.append(column.cat.codes.astype(float).where(column.notna()).rename(name))
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            parts.append(pd.to_numeric(column.astype("Float64"), errors="coerce").astype(float).rename(name))
        else:
            parts.append(pd.get_dummies(column.astype("category"), prefix=str(name), dtype=float))
    values = pd.concat(parts, axis=1)
    values = values.fillna(values.mean())
    return StandardScaler().fit_transform(values.to_numpy(dtype=float))


def frame_task(name: str, frame: Any, target: str, kind: str, cfg: DatasetConfig,
               drop: tuple[str, ...] = (), log_target: bool = False,
               rows: Optional[tuple[np.ndarray, np.ndarray]] = None) -> Task:
    """A data frame (an R object, an OpenML table) as a task: the module docstring's
    encoding, and its seeded split, or the published one `rows` gives (train and test row
    positions of `frame`: an OpenML task's fold)."""
    from kanfair.data.tabular import as_task

    check(isinstance(frame, pd.DataFrame), "dataset.object", f"{name} is an R {type(frame).__name__}, "
          "not a data frame", "choose a data frame object of the package")
    check_column(target, frame.columns, "dataset.target", name)
    split = splitting.check_split(cfg, ("seeded",) if rows is None else ("published",))
    labelled = frame[target].notna().to_numpy()
    if rows is not None:  # the published rows, renumbered past the rows without a target
        position = np.cumsum(labelled) - 1
        rows = tuple(position[r[labelled[r]]] for r in rows)
    frame = frame[labelled].reset_index(drop=True)
    features = frame.drop(columns=[target, *[c for c in drop if c in frame]])
    features = features.loc[:, features.nunique(dropna=False) > 1]  # a constant column says nothing
    x = encode_r_features(features)
    if kind == "classification":
        y = LabelEncoder().fit_transform(frame[target].astype(str).to_numpy())
        rows = rows or splitting.rows_of(split, len(y), cfg.split_seed, y)
        return as_task(name, kind, x, y, int(y.max()) + 1, rows, split)
    check(pd.api.types.is_numeric_dtype(frame[target]), "dataset.task", f"regression needs a numeric "
          f"target; '{target}' of {name} is {frame[target].dtype}", "use dataset.task=classification")
    y = frame[target].to_numpy(dtype=float)
    y = np.log(y) if log_target else y
    return as_task(name, kind, x, y, 1, rows or splitting.rows_of(split, len(y), cfg.split_seed), split)


def load_rdata(cfg: DatasetConfig, data_dir: str) -> Task:
    """dataset=rdata: dataset.package, dataset.object, dataset.target, dataset.task."""
    if not cfg.package or not cfg.object or not cfg.target:
        raise DataUnavailable("dataset=rdata needs dataset.package=<R package>, dataset.object=<its data "
                              "frame> and dataset.target=<column>, e.g. dataset.package=mlbench "
                              "dataset.object=Sonar dataset.target=Class")
    folder = find_package(cfg.package, data_dir, cfg.root, "rdata")
    return frame_task(cfg.object, read_object(folder, cfg.object), cfg.target, cfg.task, cfg)


def load_preset(cfg: DatasetConfig, data_dir: str) -> Task:
    """A preset of the real tabular suite (PRESETS, or scikit-learn's diabetes)."""
    if cfg.name in SKLEARN_REGRESSION:
        x, y = SKLEARN_REGRESSION[cfg.name](return_X_y=True, as_frame=True)
        return frame_task(cfg.name, x.assign(target=y), "target", "regression", cfg)
    preset = PRESETS[cfg.name]
    folder = find_package(preset.package, data_dir, cfg.root, cfg.name)
    return frame_task(cfg.name, read_object(folder, preset.object), preset.target, preset.kind, cfg,
                      preset.drop, preset.log_target)


def extract_debian_package(package: str, data_dir: str | Path) -> Path:
    """Download r-cran-<package> with apt-get (no R, no root needed to download) and extract
    the package folder to <data_dir>/r/<package>; returns it."""
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise DataUnavailable(f"extracting {debian_package(package)} needs apt-get and dpkg-deb (a Debian-family "
                              f"system); elsewhere install the R package '{package}' and set dataset.root to it")
    target = Path(data_dir) / EXTRACTED / package
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run(["apt-get", "download", debian_package(package)], cwd=work, capture_output=True,
                              text=True)
        debs = list(Path(work).glob("*.deb"))
        if done.returncode or not debs:
            detail = (done.stderr.strip().splitlines() or ["no .deb"])[-1]
            raise DataUnavailable(f"apt-get download {debian_package(package)} failed ({detail}); "
                                  "check the package name and the network")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(Path(work) / "x")], check=True)
        found = [p for p in Path(work, "x").glob(f"usr/lib/R/*/{package}") if (p / "data").is_dir()]
        if not found:
            raise DataUnavailable(f"{debs[0].name} holds no R package folder {package} with data")
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(found[0], target)
    return target
