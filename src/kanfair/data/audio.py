"""Audio classification: Speech Commands (torchaudio's official splits) and UrbanSound8K.

Files are read with soundfile. Features: `waveform` (the paper: mono, resampled to 1 kHz,
cut or zero-padded to 1000 samples), or `mfcc` / `melspec` (torchaudio transforms on the
16 kHz mono clip cut or padded to 1 s, flattened). Decoded features are cached as a .pt
file under <data_dir>/<name>/.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import soundfile
import torch

from kanfair.config import DatasetConfig
from kanfair.data import splitting
from kanfair.data.task import Task
from kanfair.data.sources import cached, find

PAPER_RATE, PAPER_SAMPLES = 1000, 1000
FEATURE_RATE = 16000
N_MELS = N_MFCC = 40
URBANSOUND_TEST_FOLD = 10  # dataset.split=folds: folds 1-9 train, fold 10 test


def read_mono(path: str | Path) -> tuple[torch.Tensor, int]:
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(data.mean(axis=1)), rate


def _fit_length(signal: torch.Tensor, length: int) -> torch.Tensor:
    signal = signal[:length]
    return torch.nn.functional.pad(signal, (0, length - len(signal)))


def featurizer(kind: str) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """mono signal at its rate -> flat feature vector."""
    import torchaudio

    if kind == "waveform":
        return lambda signal, rate: _fit_length(
            torchaudio.functional.resample(signal, rate, PAPER_RATE), PAPER_SAMPLES)
    transform = (torchaudio.transforms.MFCC(FEATURE_RATE, n_mfcc=N_MFCC, melkwargs={"n_mels": N_MELS})
                 if kind == "mfcc"
                 else torchaudio.transforms.MelSpectrogram(FEATURE_RATE, n_mels=N_MELS))

    def features(signal: torch.Tensor, rate: int) -> torch.Tensor:
        clip = _fit_length(torchaudio.functional.resample(signal, rate, FEATURE_RATE), FEATURE_RATE)
        return transform(clip).flatten()
    return features


def _encode(files: list[Path], labels: list[str], classes: list[str], kind: str):
    make = featurizer(kind)
    index = {name: i for i, name in enumerate(classes)}
    x = torch.stack([make(*read_mono(f)) for f in files]) if files else torch.zeros(0)
    return x, torch.tensor([index[label] for label in labels], dtype=torch.int64)


def _speech_commands(cfg: DatasetConfig, data_dir: str) -> dict:
    from torchaudio.datasets import SPEECHCOMMANDS

    opened = {}

    def present(root: Path) -> bool:
        try:
            opened["train"] = SPEECHCOMMANDS(str(root), subset="training")
            opened["test"] = SPEECHCOMMANDS(str(root), subset="testing")
            return True
        except (RuntimeError, FileNotFoundError, OSError):
            return False

    find(cfg, data_dir, present, lambda root: SPEECHCOMMANDS(str(root), download=True))
    base = Path(opened["train"]._path)
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("_"))
    arrays = {}
    for split in ("train", "test"):
        files = [Path(p) for p in opened[split]._walker]
        arrays[split] = _encode(files, [f.parent.name for f in files], classes, cfg.features)
    return {"classes": classes, **arrays}


def _urbansound8k(cfg: DatasetConfig, data_dir: str) -> dict:
    """UrbanSound8K's own layout: metadata/UrbanSound8K.csv and audio/fold<k>/<file>."""
    found = {}

    def present(root: Path) -> bool:
        for base in (root, root / "UrbanSound8K"):
            if (base / "metadata" / "UrbanSound8K.csv").exists():
                found["base"] = base
                return True
        return False

    find(cfg, data_dir, present, None,
         manual="UrbanSound8K has no open download (request it at urbansounddataset.weebly.com): "
                f"unpack it so that {Path(data_dir) / 'urbansound8k' / 'metadata' / 'UrbanSound8K.csv'} "
                "exists, or point dataset.root at the unpacked folder")
    base = found["base"]
    with open(base / "metadata" / "UrbanSound8K.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = [name for _, name in sorted({(int(r["classID"]), r["class"]) for r in rows})]
    if splitting.check_split(cfg, SPLITS[cfg.name]) == "folds":
        train = [i for i, r in enumerate(rows) if int(r["fold"]) != URBANSOUND_TEST_FOLD]
        test = [i for i, r in enumerate(rows) if int(r["fold"]) == URBANSOUND_TEST_FOLD]
    else:  # the paper's permutation over the metadata's rows
        train, test = splitting.kanbefair_rows(len(rows))
    arrays = {}
    for split, indices in (("train", train), ("test", test)):
        chosen = [rows[i] for i in indices]
        files = [base / "audio" / f"fold{r['fold']}" / r["slice_file_name"] for r in chosen]
        arrays[split] = _encode(files, [r["class"] for r in chosen], classes, cfg.features)
    return {"classes": classes, **arrays}


AUDIO = {"speech_commands": _speech_commands, "urbansound8k": _urbansound8k}


SPLITS = {"speech_commands": (), "urbansound8k": ("kanbefair", "folds")}


def load(cfg: DatasetConfig, data_dir: str) -> Task:
    split = splitting.check_split(cfg, SPLITS[cfg.name])
    arrays = cached(cfg, data_dir, f"kanfair-cache-{cfg.features}{'-' + split if split else ''}.pt",
                    lambda: AUDIO[cfg.name](cfg, data_dir))
    (x_tr, y_tr), (x_te, y_te) = arrays["train"], arrays["test"]
    return Task(cfg.name, "classification", x_tr, y_tr, x_te, y_te, out_dim=len(arrays["classes"]),
                split=split)
