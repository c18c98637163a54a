"""Generated regression tasks: KANbeFair's symbolic formulas (scipy.special), and the KAN
paper's toy functions and Feynman equations (kan_paper.py), all offline.

Two-input tasks draw x ~ U[0, 1)^2; 1000 train and 1000 test samples from a fixed seed.
The Bessel tasks use the derivative functions (jvp, yvp, kvp, ivp) as the paper's code
does, although they are named jv, yv, kv, iv. scipy >= 1.15 replaced sph_harm(m, n,
azimuth, polar) by sph_harm_y(n, m, polar, azimuth); the paper's sph_harm(0, n, x0, x1)
is therefore sph_harm_y(n, 0, x1, x0).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy import special

from kanfair.config import DatasetConfig
from kanfair.data import kan_paper, splitting
from kanfair.data.task import Task

N_TRAIN = N_TEST = 1000
DATA_SEED = 0


def _two_input(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.random((n, 2))
        return x, fn(x[:, 0], x[:, 1])
    return sample


def _poisson(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, 1)) * 8.0
    return x - 4.0, np.exp2(x[:, 0]) / special.gamma(x[:, 0] + 1.0)


def _gelu(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, 1)) * 8.0 - 4.0
    return x, 0.5 * x[:, 0] * (1.0 + special.erf(x[:, 0] / np.sqrt(2.0)))


FORMULAS = {
    "special_ellipkinc": _two_input(special.ellipkinc),
    "special_ellipeinc": _two_input(special.ellipeinc),
    "special_jv": _two_input(special.jvp),
    "special_yv": _two_input(special.yvp),
    "special_kv": _two_input(special.kvp),
    "special_iv": _two_input(special.ivp),
    "special_lpmv0": _two_input(lambda a, b: special.lpmv(0, a, b)),
    "special_lpmv1": _two_input(lambda a, b: special.lpmv(1, a, b)),
    "special_lpmv2": _two_input(lambda a, b: special.lpmv(2, a, b)),
    "special_sphharm01": _two_input(lambda a, b: special.sph_harm_y(1, 0, b, a).real),
    "special_sphharm02": _two_input(lambda a, b: special.sph_harm_y(2, 0, b, a).real),
    "special_1d_poisson": _poisson,
    "special_1d_gelu": _gelu,
    **kan_paper.FORMULAS,
}


def load(cfg: DatasetConfig, data_dir: str) -> Task:
    splitting.check_split(cfg, ())
    rng = np.random.default_rng(DATA_SEED)
    x_tr, y_tr = FORMULAS[cfg.name](rng, N_TRAIN)
    x_te, y_te = FORMULAS[cfg.name](rng, N_TEST)
    as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return Task(cfg.name, "regression", as_t(x_tr), as_t(y_tr).reshape(-1, 1),
                as_t(x_te), as_t(y_te).reshape(-1, 1), out_dim=1)
