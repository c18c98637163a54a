"""Image classification sets through torchvision, with the paper's preprocessing.

Resize to 28x28 (colour sets: 3x28x28), scale to [0, 1], normalise per channel with the
paper's constants, flatten. The decoded uint8 images are cached once as a .pt file under
<data_dir>/<name>/, so later runs load in about a second.
"""
from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kanfair.config import DatasetConfig
from kanfair.data import splitting
from kanfair.data.task import Task
from kanfair.data.sources import cached, find

SIDE = 28
CACHE_NAME = "kanfair-cache.pt"


IDX_FILES_AS_RESOURCES = ("MNIST", "FashionMNIST", "KMNIST")  # raw IDX names = resources


@dataclass(frozen=True)
class VisionSet:
    dataset_name: str  # torchvision.datasets class, imported only when a set is loaded
    classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> type:
        from torchvision import datasets

        return getattr(datasets, self.dataset_name)

    @property
    def importable(self) -> bool:
        """A plain folder of its IDX files (gzipped or not) can be imported."""
        return self.dataset_name in IDX_FILES_AS_RESOURCES


VISION = {
    "mnist": VisionSet("MNIST", 10, (0.1307,), (0.3081,)),
    "fmnist": VisionSet("FashionMNIST", 10, (0.2860,), (0.3530,)),
    "kmnist": VisionSet("KMNIST", 10, (0.1918,), (0.3483,)),
    # the paper's code gives EMNIST-Letters 37 outputs (labels are 1..26)
    "emnist_letters": VisionSet("EMNIST", 37, (0.1724,), (0.3311,), {"split": "letters"}),
    "emnist_balanced": VisionSet("EMNIST", 47, (0.1753,), (0.3334,), {"split": "balanced"}),
    "cifar10": VisionSet("CIFAR10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": VisionSet("CIFAR100", 100, (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": VisionSet("SVHN", 10, (0.4381, 0.4442, 0.4734), (0.1983, 0.2013, 0.1972)),
}


def _open(spec: VisionSet, root: Path, train: bool, download: bool):
    if spec.dataset_name == "SVHN":
        return spec.dataset(str(root), split="train" if train else "test", download=download)
    return spec.dataset(str(root), train=train, download=download, **spec.options)


def _images_and_labels(data) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, 28, 28) and int64 labels from a torchvision data set object."""
    images = torch.as_tensor(np.asarray(data.data))
    if images.dim() == 3:  # MNIST family: (N, H, W)
        images = images.unsqueeze(1)
    elif images.shape[-1] == 3:  # CIFAR: (N, H, W, C)
        images = images.permute(0, 3, 1, 2)
    labels = getattr(data, "targets", None)
    labels = data.labels if labels is None else labels
    if images.shape[-1] != SIDE:
        from torchvision.transforms.v2 import functional as TF

        images = TF.resize(images.contiguous(), [SIDE, SIDE], antialias=True)
    return images.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64)


def import_idx_folder(spec: VisionSet, folder: Path, target: Path) -> bool:
    """A folder of IDX files (gzipped or not, e.g. the Debian package's) copied into
    torchvision's layout under `target`; False if the folder does not hold them."""
    raw = target / spec.dataset_name / "raw"
    wanted = [Path(url).name for url, _ in spec.dataset.resources]
    sources = [folder / name if (folder / name).exists() else folder / name[:-3] for name in wanted]
    if folder == target or not all(src.exists() for src in sources):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for src in sources:
        out = raw / src.name.removesuffix(".gz")
        opener = gzip.open if src.suffix == ".gz" else open
        with opener(src, "rb") as reader, open(out, "wb") as writer:
            shutil.copyfileobj(reader, writer)
    return True


def _decode(spec: VisionSet, cfg: DatasetConfig, data_dir: str) -> dict[str, torch.Tensor]:
    opened: dict[str, Any] = {}
    target = Path(data_dir) / cfg.name

    def present(root: Path) -> bool:
        if spec.importable and import_idx_folder(spec, root, target):
            root = target
        try:
            opened["train"] = _open(spec, root, True, download=False)
            opened["test"] = _open(spec, root, False, download=False)
            return True
        except (RuntimeError, FileNotFoundError, OSError):
            return False

    def download(root: Path) -> None:
        for train in (True, False):
            _open(spec, root, train, download=True)

    find(cfg, data_dir, present, download)
    x_train, y_train = _images_and_labels(opened["train"])
    x_test, y_test = _images_and_labels(opened["test"])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def normalise(images: torch.Tensor, spec: VisionSet) -> torch.Tensor:
    """uint8 (N, C, 28, 28) -> float32 (N, C·28·28), per-channel (x/255 - mean)/std."""
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return ((images.float() / 255 - mean) / std).flatten(1)


def load(cfg: DatasetConfig, data_dir: str) -> Task:
    splitting.check_split(cfg, ())
    spec = VISION[cfg.name]
    arrays = cached(cfg, data_dir, CACHE_NAME, lambda: _decode(spec, cfg, data_dir))
    return Task(cfg.name, "classification", normalise(arrays["x_train"], spec), arrays["y_train"],
                normalise(arrays["x_test"], spec), arrays["y_test"], out_dim=spec.classes)
