"""Offline tasks: sizes, splits, and every symbolic formula against an independent computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from kanfair.config import DatasetConfig
from kanfair.data import load_task, task_names


def task(name: str):
    return load_task(DatasetConfig(name=name))


@pytest.mark.parametrize("name, n_train, n_test, in_dim, classes", [
    ("digits", 1437, 360, 64, 10), ("breast_cancer", 455, 114, 30, 2),
    ("wine", 142, 36, 13, 3), ("iris", 120, 30, 4, 3)])
def test_bundled_sets_split_80_20_stratified_and_standardised(name, n_train, n_test, in_dim, classes):
    t = task(name)
    assert (len(t.x_train), len(t.x_test), t.in_dim, t.out_dim) == (n_train, n_test, in_dim, classes)
    assert t.kind == "classification" and t.y_train.dtype == torch.int64
    train_share = torch.bincount(t.y_train) / len(t.y_train)
    test_share = torch.bincount(t.y_test, minlength=classes) / len(t.y_test)
    assert (train_share - test_share).abs().max() < 0.05
    used = t.x_train.std(0) > 0
    assert t.x_train[:, used].mean(0).abs().max() < 1e-5
    assert torch.allclose(t.x_train[:, used].std(0, unbiased=False), torch.ones(int(used.sum())), atol=1e-4)
    assert torch.equal(task(name).x_test, t.x_test)  # fixed split


SYMBOLIC = [n for n in task_names() if n.startswith("special_")]


def test_all_thirteen_symbolic_tasks_exist():
    assert len(SYMBOLIC) == 13


@pytest.mark.parametrize("name", SYMBOLIC)
def test_symbolic_tasks_have_the_paper_sizes_and_ranges(name):
    t = task(name)
    assert len(t.x_train) == len(t.x_test) == 1000 and t.out_dim == 1 and t.kind == "regression"
    assert torch.isfinite(t.y_train).all() and torch.isfinite(t.y_test).all()
    if "_1d_" in name:
        assert t.in_dim == 1 and t.x_train.min() >= -4 and t.x_train.max() < 4
    else:
        assert t.in_dim == 2 and t.x_train.min() >= 0 and t.x_train.max() < 1
    assert not torch.equal(t.x_train, t.x_test)
    assert torch.equal(task(name).y_test, t.y_test)


def _check(name, reference, rtol=1e-5, count=25):
    t = task(name)
    x = t.x_train[:count].double().numpy()
    expected = np.array([reference(*row) for row in x])
    np.testing.assert_allclose(t.y_train[:count, 0].double().numpy(), expected, rtol=rtol, atol=1e-6)


def test_sph_harm_tasks_match_the_closed_forms():
    # Y_1^0 and Y_2^0 depend only on the polar angle, the paper's second input
    _check("special_sphharm01", lambda a, b: math.sqrt(3 / (4 * math.pi)) * math.cos(b))
    _check("special_sphharm02", lambda a, b: math.sqrt(5 / (16 * math.pi)) * (3 * math.cos(b) ** 2 - 1))


def test_elliptic_tasks_match_quadrature():
    _check("special_ellipkinc", lambda phi, m: integrate.quad(
        lambda t: (1 - m * math.sin(t) ** 2) ** -0.5, 0, phi)[0])
    _check("special_ellipeinc", lambda phi, m: integrate.quad(
        lambda t: (1 - m * math.sin(t) ** 2) ** 0.5, 0, phi)[0])


def test_legendre_task_matches_the_hypergeometric_series():
    _check("special_lpmv0", lambda v, x: special.hyp2f1(-v, v + 1, 1, (1 - x) / 2))


def test_bessel_tasks_are_the_derivatives():
    step = 1e-5
    for name, fn in (("special_jv", special.jv), ("special_iv", special.iv)):
        _check(name, lambda v, z: (fn(v, z + step) - fn(v, z - step)) / (2 * step), rtol=1e-4)


def test_bessel_y_and_k_tasks_are_the_derivatives_by_an_independent_implementation():
    """mpmath's Bessel functions, differentiated by mpmath (not scipy's yvp/kvp)."""
    mpmath = pytest.importorskip("mpmath")
    for name, fn in (("special_yv", mpmath.bessely), ("special_kv", mpmath.besselk)):
        _check(name, lambda v, z: float(mpmath.diff(lambda t: fn(v, t), z)), rtol=1e-6)


def test_legendre_order_one_and_two_match_an_independent_implementation():
    """mpmath's associated Legendre function of the first kind (type 2, -1 < x < 1), with
    the Condon-Shortley phase that scipy's lpmv also carries."""
    mpmath = pytest.importorskip("mpmath")
    for order, name in ((1, "special_lpmv1"), (2, "special_lpmv2")):
        _check(name, lambda v, x: float(mpmath.legenp(v, order, x, type=2)), rtol=1e-6)


def test_one_dimensional_tasks():
    _check("special_1d_gelu", lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))))
    _check("special_1d_poisson", lambda x: 2 ** (x + 4) / math.gamma(x + 5))


def test_unknown_dataset_suggests_the_close_name():
    with pytest.raises(ValueError, match="did you mean digits"):
        task("digts")
