"""Audio loaders on fixtures: 16-bit WAV files in the real folder layouts."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from kanfair.config import DatasetConfig
from kanfair.data import load_task
from kanfair.data.audio import featurizer

RATE = 16000


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return 0.5 * np.sin(2 * np.pi * freq * t)


def write_wav(path, signal) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), signal, RATE, subtype="PCM_16")


def speech_commands_tree(root):
    """SpeechCommands/speech_commands_v0.02/<word>/<speaker>_nohash_<n>.wav + the split lists."""
    base = root / "SpeechCommands" / "speech_commands_v0.02"
    tests, vals = [], []
    for w, word in enumerate(["yes", "no", "up"]):
        for speaker in range(4):
            rel = f"{word}/spk{speaker}_nohash_0.wav"
            write_wav(base / rel, tone(40 + 20 * w, seconds=0.5 + 0.25 * speaker))
            (tests if speaker == 0 else vals if speaker == 1 else []).append(rel)
    write_wav(base / "_background_noise_" / "noise.wav", tone(5))
    (base / "testing_list.txt").write_text("\n".join(tests) + "\n")
    (base / "validation_list.txt").write_text("\n".join(vals) + "\n")


def test_speech_commands_uses_the_official_lists_and_the_papers_waveform(tmp_path):
    speech_commands_tree(tmp_path / "speech_commands")
    task = load_task(DatasetConfig(name="speech_commands", download="never"), str(tmp_path))
    assert task.out_dim == 3 and task.in_dim == 1000
    assert len(task.x_test) == 3 and len(task.x_train) == 6  # validation list left out
    assert sorted(task.y_test.tolist()) == [0, 1, 2]  # no, up, yes
    # "no" is word 1: a 60 Hz tone of 0.5 s; at 1 kHz that is 500 samples, then zeros
    first = task.x_test[task.y_test.tolist().index(0)]
    t = np.arange(500) / 1000
    assert torch.allclose(first[:500], torch.tensor(0.5 * np.sin(2 * np.pi * 60 * t), dtype=torch.float32),
                          atol=0.02)
    assert first[520:].abs().max() == 0


@pytest.mark.parametrize("features, size", [("mfcc", 40 * 81), ("melspec", 40 * 81)])
def test_spectral_features(tmp_path, features, size):
    speech_commands_tree(tmp_path / "speech_commands")
    task = load_task(DatasetConfig(name="speech_commands", download="never", features=features),
                     str(tmp_path))
    assert task.in_dim == size and torch.isfinite(task.x_train).all()


URBANSOUND_ROWS = [(1, 0, "air_conditioner"), (2, 3, "dog_bark"), (10, 3, "dog_bark"),
                   (10, 0, "air_conditioner"), (5, 1, "car_horn")]


def urbansound_tree(tmp_path: Path) -> None:
    base = tmp_path / "urbansound8k" / "UrbanSound8K"
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for i, (fold, cid, name) in enumerate(URBANSOUND_ROWS):
        write_wav(base / "audio" / f"fold{fold}" / f"clip{i}.wav", tone(30 + i))
        rows.append(f"clip{i}.wav,{i},0,1,1,{fold},{cid},{name}")
    (base / "metadata").mkdir(parents=True)
    (base / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")


def test_urbansound8k_gets_the_papers_permutation_by_default(tmp_path):
    urbansound_tree(tmp_path)
    task = load_task(DatasetConfig(name="urbansound8k", download="never"), str(tmp_path))
    with resources.files("kanfair.data").joinpath("splits/kanbefair_uciml_split.npz").open("rb") as handle:
        arrays = np.load(handle)
        train, test = arrays["train"][arrays["train"] < 5], arrays["test"][arrays["test"] < 5]
    label = {"air_conditioner": 0, "car_horn": 1, "dog_bark": 2}
    assert task.y_train.tolist() == [label[URBANSOUND_ROWS[i][2]] for i in train]
    assert task.y_test.tolist() == [label[URBANSOUND_ROWS[i][2]] for i in test] and task.split == "kanbefair"


def test_urbansound8k_metadata_and_folds(tmp_path):
    urbansound_tree(tmp_path)
    task = load_task(DatasetConfig(name="urbansound8k", download="never", split="folds"), str(tmp_path))
    assert task.out_dim == 3  # air_conditioner, car_horn, dog_bark by classID
    assert (len(task.x_train), len(task.x_test)) == (3, 2)
    assert sorted(task.y_test.tolist()) == [0, 2]


def test_melspec_peaks_in_the_tones_mel_band_and_mfcc_is_its_cepstrum():
    """A 1 kHz tone: the mel spectrogram (40 HTK bands over 0-8 kHz at 16 kHz, written
    here) peaks in the band nearest 1 kHz on the mel scale and is never negative; the MFCC
    is the orthonormal DCT-II of that spectrogram in dB (floored 80 dB below its peak)."""
    import scipy.fft

    signal, rate = torch.from_numpy(tone(1000.0).astype(np.float32)), RATE
    mel = featurizer("melspec")(signal, rate).view(40, -1).double()
    mfcc = featurizer("mfcc")(signal, rate).view(40, -1).double()
    to_mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731 (HTK)
    centres = np.linspace(0, to_mel(8000), 42)[1:-1]
    assert int(mel.mean(1).argmax()) == int(np.abs(centres - to_mel(1000)).argmin())
    assert bool((mel >= 0).all()) and bool((mfcc < 0).any())
    decibels = 10 * torch.log10(mel.clamp_min(1e-10))
    decibels = torch.maximum(decibels, decibels.max() - 80)
    expected = scipy.fft.dct(decibels.numpy(), type=2, norm="ortho", axis=0)
    np.testing.assert_allclose(mfcc.numpy(), expected, rtol=1e-3, atol=1e-2)
