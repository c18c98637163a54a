"""Vision loaders on fixtures in the real on-disk formats (no network)."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from kanfair.config import DatasetConfig
from kanfair.data import load_task, sources, vision


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """IDX format: magic (0, 0, type 0x08 = uint8, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def idx_set(folder: Path, n_train: int = 30, n_test: int = 10, prefix=("train", "t10k"),
            compress: bool = False, classes: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(prefix, (n_train, n_test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, classes, count, dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def no_checksums(monkeypatch):
    """Fixtures cannot match torchvision's MD5 sums of the real CIFAR/SVHN files."""
    import torchvision.datasets.cifar as cifar
    import torchvision.datasets.svhn as svhn

    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(svhn, "check_integrity", lambda *a, **k: True)


def test_mnist_from_torchvision_layout_is_normalised_flattened_and_cached(tmp_path):
    arrays = idx_set(tmp_path / "copy" / "MNIST" / "raw")
    cfg = DatasetConfig(name="mnist", root=str(tmp_path / "copy"), download="never")
    task = load_task(cfg, str(tmp_path / "data"))
    images, labels = arrays["train"]
    assert task.x_train.shape == (30, 784) and task.out_dim == 10 and task.in_dim == 784
    expected = (images[3].reshape(-1) / 255 - 0.1307) / 0.3081
    assert torch.allclose(task.x_train[3], torch.tensor(expected, dtype=torch.float32), atol=1e-6)
    assert torch.equal(task.y_train, torch.tensor(labels, dtype=torch.int64))
    assert (tmp_path / "data" / "mnist" / vision.CACHE_NAME).exists()
    for file in (tmp_path / "copy" / "MNIST" / "raw").iterdir():
        file.unlink()  # the cache alone now serves the data
    assert torch.equal(load_task(cfg, str(tmp_path / "data")).x_test, task.x_test)


def test_fmnist_from_a_debian_style_folder_of_gzipped_idx_files(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    arrays = idx_set(system, compress=True)
    monkeypatch.setitem(sources.SYSTEM_LOCATIONS, "fmnist", [str(system)])
    task = load_task(DatasetConfig(name="fmnist", download="never"), str(tmp_path / "data"))
    assert task.x_test.shape == (10, 784)
    assert torch.equal(task.y_test, torch.tensor(arrays["t10k"][1], dtype=torch.int64))
    expected = (arrays["t10k"][0][0].reshape(-1) / 255 - 0.2860) / 0.3530
    assert torch.allclose(task.x_test[0], torch.tensor(expected, dtype=torch.float32), atol=1e-6)


@pytest.mark.parametrize("name, split, classes", [("emnist_letters", "letters", 37),
                                                  ("emnist_balanced", "balanced", 47)])
def test_emnist_splits(tmp_path, name, split, classes):
    raw = tmp_path / name / "EMNIST" / "raw"
    arrays = idx_set(raw, prefix=(f"emnist-{split}-train", f"emnist-{split}-test"), classes=26)
    task = load_task(DatasetConfig(name=name, download="never"), str(tmp_path))
    assert task.out_dim == classes and task.x_train.shape == (30, 784)
    images = arrays[f"emnist-{split}-train"][0]  # as stored (not transposed), as the paper read it
    mean, std = PAPER_NORMALISATION[name]
    assert torch.allclose(task.x_train[5], torch.tensor((images[5].reshape(-1) / 255 - mean[0]) / std[0],
                                                        dtype=torch.float32), atol=1e-6)


def test_kmnist(tmp_path):
    arrays = idx_set(tmp_path / "kmnist" / "KMNIST" / "raw")
    task = load_task(DatasetConfig(name="kmnist", download="never"), str(tmp_path))
    (mean,), (std,) = PAPER_NORMALISATION["kmnist"]
    expected = (arrays["t10k"][0][2].reshape(-1) / 255 - mean) / std
    assert task.in_dim == 784 and torch.allclose(task.x_test[2], torch.tensor(expected, dtype=torch.float32), atol=1e-6)


# the paper's per-channel normalisation, written here from its code (not read from kanfair)
PAPER_NORMALISATION = {
    "mnist": ((0.1307,), (0.3081,)), "fmnist": ((0.2860,), (0.3530,)), "kmnist": ((0.1918,), (0.3483,)),
    "emnist_letters": ((0.1724,), (0.3311,)), "emnist_balanced": ((0.1753,), (0.3334,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": ((0.4381, 0.4442, 0.4734), (0.1983, 0.2013, 0.1972)),
}


@pytest.mark.parametrize("name", sorted(PAPER_NORMALISATION))
def test_every_vision_set_normalises_with_the_papers_constants(name):
    spec = vision.VISION[name]
    assert (spec.mean, spec.std) == PAPER_NORMALISATION[name]


def _cifar_batch(path: Path, count: int, label_key: str, classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    with open(path, "wb") as handle:
        pickle.dump({"data": data, label_key: rng.integers(0, classes, count).tolist()}, handle)
    return data


@pytest.mark.parametrize("name, folder, label_key, classes, train_files, meta", [
    ("cifar10", "cifar-10-batches-py", "labels", 10,
     [f"data_batch_{i}" for i in range(1, 6)], ("batches.meta", "label_names")),
    ("cifar100", "cifar-100-python", "fine_labels", 100, ["train"], ("meta", "fine_label_names")),
])
def test_cifar_pickles_are_resized_to_3x28x28(tmp_path, no_checksums, name, folder, label_key,
                                              classes, train_files, meta):
    root = tmp_path / name / folder
    root.mkdir(parents=True)
    for seed, file in enumerate(train_files):
        _cifar_batch(root / file, 4, label_key, classes, seed)
    test_data = _cifar_batch(root / ("test_batch" if name == "cifar10" else "test"), 6, label_key,
                             classes, 99)
    with open(root / meta[0], "wb") as handle:
        pickle.dump({meta[1]: [str(i) for i in range(classes)]}, handle)
    task = load_task(DatasetConfig(name=name, download="never"), str(tmp_path))
    assert task.x_train.shape == (4 * len(train_files), 3 * 28 * 28) and task.out_dim == classes
    # a constant image stays constant through the antialiased resize
    assert task.x_test.shape == (6, 2352)
    image = torch.tensor(test_data[0].reshape(3, 32, 32))
    from torchvision.transforms.v2 import functional as TF
    resized = TF.resize(image, [28, 28], antialias=True).float() / 255
    mean = torch.tensor(PAPER_NORMALISATION[name][0]).view(3, 1, 1)
    std = torch.tensor(PAPER_NORMALISATION[name][1]).view(3, 1, 1)
    assert torch.allclose(task.x_test[0], ((resized - mean) / std).flatten(), atol=1e-5)


def test_svhn_mat_files_map_label_10_to_0(tmp_path, no_checksums):
    rng = np.random.default_rng(0)
    for split, count in (("train", 5), ("test", 3)):
        x = rng.integers(0, 256, (32, 32, 3, count), dtype=np.uint8)
        y = np.array([[10], [1], [3], [10], [2]][:count], dtype=np.uint8)
        (tmp_path / "svhn").mkdir(exist_ok=True)
        scipy.io.savemat(tmp_path / "svhn" / f"{split}_32x32.mat", {"X": x, "y": y})
    task = load_task(DatasetConfig(name="svhn", download="never"), str(tmp_path))
    assert task.x_train.shape == (5, 2352)
    assert task.y_train.tolist() == [0, 1, 3, 0, 2]


def test_svhn_keeps_height_width_and_channel_apart(tmp_path, no_checksums):
    """SVHN's .mat stores X as (H, W, C, N): a picture that darkens down its rows, with one
    level per channel, must come out darkening down the rows of each channel plane."""
    rows = np.linspace(0, 240, 32).astype(np.uint8)
    x = np.zeros((32, 32, 3, 2), dtype=np.uint8)
    for channel, scale in enumerate((1.0, 0.5, 0.25)):
        x[:, :, channel, :] = (rows[:, None, None] * scale).astype(np.uint8)
    (tmp_path / "svhn").mkdir()
    for split in ("train", "test"):
        scipy.io.savemat(tmp_path / "svhn" / f"{split}_32x32.mat", {"X": x, "y": np.array([[1], [2]], dtype=np.uint8)})
    image = load_task(DatasetConfig(name="svhn", download="never"), str(tmp_path)).x_test[0].view(3, 28, 28)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in PAPER_NORMALISATION["svhn"])
    pixels = image * std + mean  # back to [0, 1]
    assert torch.allclose(pixels[:, :, 0], pixels[:, :, 27], atol=1e-4)  # constant along the width
    assert bool((pixels[:, 1:, 5] >= pixels[:, :-1, 5] - 1e-4).all()) and float(pixels[0, 27, 5] - pixels[0, 0, 5]) > 0.8
    assert bool((pixels[1] < pixels[0] + 1e-4).all()) and bool((pixels[2] < pixels[1] + 1e-4).all())


def test_missing_data_names_where_it_looked_and_the_prepare_command(tmp_path):
    with pytest.raises(sources.DataUnavailable) as caught:
        load_task(DatasetConfig(name="cifar10", download="never"), str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path / "cifar10") in message and "python -m kanfair.cli.data prepare cifar10" in message
    assert "\n" not in message


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    task = load_task(DatasetConfig(name="fmnist", download="never"), str(tmp_path))
    assert (len(task.x_train), len(task.x_test), task.in_dim) == (60000, 10000, 784)
    assert set(task.y_test.tolist()) == set(range(10))
    assert abs(float(task.x_train.mean())) < 0.01 and abs(float(task.x_train.std()) - 1) < 0.01


@pytest.mark.parametrize("host", [None, "node1.cluster.example"])
def test_a_truncated_cache_is_rebuilt_and_a_killed_builds_temporary_removed(tmp_path, capsys, monkeypatch, host):
    """A cache cut short by a kill is named and rebuilt, not a crash; the temporary of a
    build whose process is gone is deleted, a live process's temporary is kept."""
    import os
    import socket
    import subprocess

    if host:  # a fully qualified host name has dots of its own
        monkeypatch.setattr(socket, "gethostname", lambda: host)
    arrays = idx_set(tmp_path / "copy" / "MNIST" / "raw")
    cfg = DatasetConfig(name="mnist", root=str(tmp_path / "copy"), download="never")
    cache = tmp_path / "data" / "mnist" / vision.CACHE_NAME
    whole = load_task(cfg, str(tmp_path / "data"))
    cache.write_bytes(cache.read_bytes()[:100])  # truncated
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    stale = cache.parent / f"{cache.name}.{socket.gethostname()}.{dead.pid}.abc.tmp"
    live = cache.parent / f"{cache.name}.{socket.gethostname()}.{os.getpid()}.def.tmp"
    stale.write_bytes(b"x" * 1000)
    live.write_bytes(b"y")
    again = load_task(cfg, str(tmp_path / "data"))
    assert torch.equal(again.x_train, whole.x_train)
    assert torch.equal(again.y_test, torch.tensor(arrays["t10k"][1], dtype=torch.int64))
    assert f"the cache {cache} is unreadable" in capsys.readouterr().err
    assert not stale.exists() and live.exists()
    assert torch.load(cache, weights_only=True)["version"] == sources.CACHE_VERSION
