"""The KAN paper's regression tasks (Liu et al. 2024): the five toy functions of its
Figure 3.1 and the 27 dimensionless Feynman equations of its Table 2, generated offline.

Facts and sources: shared/reference/kan_paper.md (sections 4 and 6). The paper states a
domain only for I.16.6 ((-1, 1) for both inputs); pykan's `create_dataset` default is
U[-1, 1] for every input, so that is the domain here, except where a formula is undefined
or singular on it: there the domain is named beside the formula (e.g. a divisor on
[0.5, 2]). Three formulas are garbled in the paper's text (I.15.3x, II.11.27, III.9.52);
they are rewritten from the AI Feynman originals by the paper's own reduction (divide by
the characteristic quantity, name the ratios), as written beside them. Each sampler
draws every input uniformly on its interval (as pykan's `create_dataset`), 1000 train and
1000 test rows from the symbolic tasks' fixed seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import special

UNIT = (-1.0, 1.0)
PI = np.pi


@dataclass(frozen=True)
class Formula:
    """fn(x_1, ..., x_d) with each x_i ~ U[low_i, high_i] (`domain`): called as a sampler,
    (rng, n) -> (inputs (n, d), targets (n,))."""

    domain: tuple[tuple[float, float], ...]
    fn: Callable[..., np.ndarray]

    def __call__(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.array(self.domain).T
        x = low + (high - low) * rng.random((n, len(low)))
        return x, self.fn(*x.T)


def _uniform(domain: Sequence[tuple[float, float]], fn: Callable[..., np.ndarray]) -> Formula:
    return Formula(tuple((float(lo), float(hi)) for lo, hi in domain), fn)


def _sinc_squared(x: np.ndarray) -> np.ndarray:
    """sin(x)^2 / x^2, 1 at x = 0 (numpy's sinc is sin(pi x) / (pi x))."""
    return np.sinc(x / PI) ** 2


TOY = {
    "kan_toy_bessel": _uniform([UNIT], lambda x: special.j0(20 * x)),
    "kan_toy_exp_sin": _uniform([UNIT] * 2, lambda x, y: np.exp(np.sin(PI * x) + y ** 2)),
    "kan_toy_xy": _uniform([UNIT] * 2, lambda x, y: x * y),
    "kan_toy_100d": _uniform([UNIT] * 100, lambda *x: np.exp(np.mean(np.sin(PI * np.stack(x) / 2) ** 2, axis=0))),
    "kan_toy_4d": _uniform([UNIT] * 4, lambda a, b, c, d: np.exp(
        0.5 * (np.sin(PI * (a ** 2 + b ** 2)) + np.sin(PI * (c ** 2 + d ** 2))))),
}

FEYNMAN = {
    # exp(-theta^2 / 2 sigma^2) / sqrt(2 pi sigma^2); sigma on [0.5, 2]
    "feynman_i_6_2": _uniform([UNIT, (0.5, 2.0)], lambda t, s: np.exp(-t ** 2 / (2 * s ** 2)) / np.sqrt(2 * PI * s ** 2)),
    # exp(-(theta - theta1)^2 / 2 sigma^2) / sqrt(2 pi sigma^2); sigma on [0.5, 2]
    "feynman_i_6_2b": _uniform([UNIT, UNIT, (0.5, 2.0)], lambda t, t1, s: np.exp(-(t - t1) ** 2 / (2 * s ** 2))
                               / np.sqrt(2 * PI * s ** 2)),
    # a / ((b - 1)^2 + (c - d)^2 + (e - f)^2); b on [-1, 0], so that the divisor is >= 1
    "feynman_i_9_18": _uniform([UNIT, (-1.0, 0.0), UNIT, UNIT, UNIT, UNIT],
                               lambda a, b, c, d, e, f: a / ((b - 1) ** 2 + (c - d) ** 2 + (e - f) ** 2)),
    "feynman_i_12_11": _uniform([UNIT] * 2, lambda a, t: 1 + a * np.sin(t)),  # 1 + a sin(theta)
    "feynman_i_13_12": _uniform([UNIT, (0.5, 2.0)], lambda a, b: a * (1 / b - 1)),  # a (1/b - 1); b on [0.5, 2]
    # (x - u t) / sqrt(1 - u^2/c^2) over x: a = u t / x, b = u / c; b on [-0.9, 0.9]
    "feynman_i_15_3x": _uniform([UNIT, (-0.9, 0.9)], lambda a, b: (1 - a) / np.sqrt(1 - b ** 2)),
    "feynman_i_16_6": _uniform([UNIT] * 2, lambda a, b: (a + b) / (1 + a * b)),  # the paper's (-1, 1)
    "feynman_i_18_4": _uniform([(0.0, 1.0), UNIT], lambda a, b: (1 + a * b) / (1 + a)),  # a on [0, 1]
    "feynman_i_26_2": _uniform([UNIT] * 2, lambda n, t: np.arcsin(n * np.sin(t))),  # arcsin(n sin(theta2))
    "feynman_i_27_6": _uniform([(0.0, 1.0)] * 2, lambda a, b: 1 / (1 + a * b)),  # a, b on [0, 1]
    "feynman_i_29_16": _uniform([UNIT] * 3, lambda a, t1, t2: np.sqrt(1 + a ** 2 - 2 * a * np.cos(t1 - t2))),
    # sin^2(n theta / 2) / sin^2(theta / 2); theta on [0.4 pi, 1.6 pi] (pykan's), away from 0
    "feynman_i_30_3": _uniform([UNIT, (0.4 * PI, 1.6 * PI)], lambda n, t: np.sin(n * t / 2) ** 2 / np.sin(t / 2) ** 2),
    "feynman_i_30_5": _uniform([UNIT, (1.0, 2.0)], lambda a, n: np.arcsin(a / n)),  # arcsin(a/n); n on [1, 2]
    # 1 + a + 2 sqrt(a) cos(delta); a on [0, 1]
    "feynman_i_37_4": _uniform([(0.0, 1.0), UNIT], lambda a, d: 1 + a + 2 * np.sqrt(a) * np.cos(d)),
    "feynman_i_40_1": _uniform([UNIT] * 2, lambda n0, a: n0 * np.exp(-a)),  # n0 e^-a
    "feynman_i_44_4": _uniform([UNIT, (0.5, 2.0)], lambda n, a: n * np.log(a)),  # n ln(a); a on [0.5, 2]
    "feynman_i_50_26": _uniform([UNIT] * 2, lambda a, al: np.cos(a) + al * np.cos(a) ** 2),
    "feynman_ii_2_42": _uniform([UNIT] * 2, lambda a, b: (a - 1) * b),
    "feynman_ii_6_15a": _uniform([UNIT] * 3, lambda a, b, c: c * np.sqrt(a ** 2 + b ** 2) / (4 * PI)),
    "feynman_ii_11_7": _uniform([UNIT] * 3, lambda n0, a, t: n0 * (1 + a * np.cos(t))),  # AI Feynman II.11.17
    # n alpha epsilon E_f / (1 - n alpha / 3) over epsilon E_f
    "feynman_ii_11_27": _uniform([UNIT] * 2, lambda n, al: n * al / (1 - n * al / 3)),
    "feynman_ii_35_18": _uniform([UNIT] * 2, lambda n0, a: n0 / (np.exp(a) + np.exp(-a))),
    "feynman_ii_36_38": _uniform([UNIT] * 3, lambda a, al, b: a + al * b),
    "feynman_ii_38_3": _uniform([UNIT, (0.5, 2.0)], lambda a, b: a / b),  # b on [0.5, 2]
    # p_d E_f t / hbar sin^2((w - w0) t / 2) / ((w - w0) t / 2)^2: a = p_d E_f t / hbar,
    # b = w t, c = w0 t; the removable singularity at b = c is its limit, a
    "feynman_iii_9_52": _uniform([UNIT] * 3, lambda a, b, c: a * _sinc_squared((b - c) / 2)),
    "feynman_iii_10_19": _uniform([UNIT] * 2, lambda a, b: np.sqrt(1 + a ** 2 + b ** 2)),
    "feynman_iii_17_37": _uniform([UNIT] * 3, lambda be, al, t: be * (1 + al * np.cos(t))),
}

FORMULAS: dict[str, Formula] = {**TOY, **FEYNMAN}
