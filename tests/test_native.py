"""The C++ CPU kernels against the recursion and against the PyTorch-ops engine."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.utils import cpp_extension

from kanfair.models.engine import bspline, native
from kanfair.models.engine.bspline import make_knots, spline_linear
from kanfair.models.bspline_mlp import BSplineActivation
from kanfair.models.kan import KANLinear
from test_bspline import (assert_same_outputs, cox_de_boor, fused_ops_case, fused_ops_outputs,
                          worst_basis_error)


def test_the_kernels_build_and_load_here():
    """CI machines have g++: a silent fallback would leave the README's CPU timings untrue."""
    assert native.load()
    assert native.usable(torch.zeros(1, 1), 3)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_kernel_basis_equals_cox_de_boor_inside_on_knots_and_outside(dtype, tol):
    """One input per batch row: (m, 1) -> (m, G+K, 1)."""
    assert worst_basis_error(lambda x, knots, grid_size, order: native.basis(
        x.reshape(-1, 1), knots, grid_size, order)[..., 0], dtype) <= tol


@pytest.mark.parametrize("order", range(native.MAX_ORDER + 1))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_input", [False, True])
def test_kernels_give_the_pytorch_engines_values_and_gradients(order, dtype, per_input):
    """Both ops that use the kernels, with more inputs than one chunk of the kernels (256),
    inputs on knots, NaN and infinities."""
    case = fused_ops_case(order, dtype, per_input, n=300, batch=11)
    assert native.usable(case[0], order)
    ours = fused_ops_outputs(case, order)
    with native.disabled():
        assert not native.usable(case[0], order)
        reference = fused_ops_outputs(case, order)
    assert_same_outputs(ours, reference, dtype)


def test_input_gradient_kernel_overwrites_its_input_with_the_basis():
    x = torch.rand(5, 9, dtype=torch.float64) * 2 - 1
    knots = make_knots(4, 3, (-1.0, 1.0), torch.float64)
    grad_basis = torch.randn(5, 7, 9, dtype=torch.float64)
    native.grad_input_(grad_basis, x, knots, 4, 3)
    assert torch.equal(grad_basis, native.basis(x, knots, 4, 3))


def test_orders_the_kernels_lack_take_the_pytorch_path():
    order = native.MAX_ORDER + 1
    x = torch.rand(3, 4, dtype=torch.float64) * 2 - 1
    assert not native.usable(x, order)
    weight = torch.randn(2, 4, 5 + order, dtype=torch.float64)
    knots = make_knots(5, order, (-1.0, 1.0), torch.float64)
    expected = torch.einsum("bij,oij->bo", cox_de_boor(x, knots, order), weight)
    assert torch.allclose(spline_linear(x, weight, knots, 5, order), expected, atol=1e-12)


def test_a_failed_build_warns_and_falls_back_to_pytorch_ops(monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("Error building extension: c++: not found")

    monkeypatch.setattr(native, "_loaded", None)
    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    x = torch.rand(3, 4, dtype=torch.float64) * 2 - 1
    with pytest.warns(RuntimeWarning, match="could not build the C\\+\\+ B-spline kernels "
                                            "\\(Error building extension: c\\+\\+: not found\\)"):
        assert not native.usable(x, 3)
    assert not native.usable(x, 3)  # tried once per process
    weight = torch.randn(2, 4, 8, dtype=torch.float64)
    knots = make_knots(5, 3, (-1.0, 1.0), torch.float64)
    expected = torch.einsum("bij,oij->bo", cox_de_boor(x, knots, 3), weight)
    assert torch.allclose(spline_linear(x, weight, knots, 5, 3), expected, atol=1e-12)


def test_disabled_holds_only_inside_its_block():
    x = torch.zeros(1, 1)
    with native.disabled():
        assert not native.usable(x, 3) and not native.active()
    assert native.usable(x, 3) and native.active()


def test_building_a_kan_prints_nothing():
    """Loading the kernels imports torch.utils.cpp_extension, which on a CPU-only machine
    logs a notice about CUDA; every KAN run would print it."""
    code = "from kanfair.models.kan import KANLinear; KANLinear(3, 2)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


@pytest.mark.parametrize("make_layer", [lambda: KANLinear(2, 2), lambda: BSplineActivation(2)],
                         ids=["kan_layer", "bspline_activation"])
def test_building_a_spline_layer_loads_the_kernels(make_layer, monkeypatch):
    """Loaded when the layer is built, a torch.compile of it uses them from its first trace
    (inside a trace they cannot be loaded)."""
    monkeypatch.setattr(native, "_loaded", None)
    make_layer()
    assert native._loaded is True


@pytest.mark.parametrize("limit, kept", [(2**30, True), (0, False)])
def test_a_first_layer_keeps_a_small_basis_for_the_weight_gradient(monkeypatch, limit, kept):
    """An input that needs no gradient (a first layer): the basis from forward serves the
    weight gradient when it is at most KEEP_BASIS_MAX_BYTES, else backward rebuilds it; the
    weight gradient is the PyTorch engine's either way."""
    monkeypatch.setattr(bspline, "KEEP_BASIS_MAX_BYTES", limit)
    x = torch.rand(6, 40, dtype=torch.float64) * 2.4 - 1.2  # no gradient: a first layer
    knots = make_knots(5, 3, (-1.0, 1.0), torch.float64)
    weight = torch.randn(3, 40, 8, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(6, 3, dtype=torch.float64)
    saved: list[torch.Size] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        out = spline_linear(x, weight, knots, 5, 3)
    out.backward(grad_out)
    assert (torch.Size([6, 8, 40]) in saved) == kept
    with native.disabled():
        reference = torch.autograd.grad(spline_linear(x, weight, knots, 5, 3), weight, grad_out)[0]
    assert torch.allclose(weight.grad, reference, atol=1e-12)


def test_the_spline_weight_and_its_gradient_keep_the_kernels_layout():
    """KANLinear's spline weight (out, in, G+K) is laid out in memory as (out, G+K, in), the
    kernels' basis layout: it enters their matrix products as a view, its gradient comes
    back in that same layout, and the parameters' gradients in theirs (contiguous), so
    that nothing is copied to transpose it."""
    layer = KANLinear(30, 7)
    weight = layer.spline_weight()
    assert weight.transpose(1, 2).is_contiguous() and layer.coef.is_contiguous()
    seen: list[tuple[int, ...]] = []  # the gradients as the Functions return them
    weight.register_hook(lambda grad: seen.append(grad.stride()))
    layer.coef.register_hook(lambda grad: seen.append(grad.stride()))
    x = torch.rand(16, 30) * 2 - 1
    spline_linear(x, weight, layer.knots, layer.grid_size, layer.spline_order).sum().backward()
    assert seen == [weight.stride(), layer.coef.stride()]


def test_a_build_says_so_and_each_venv_builds_in_its_own_folder(tmp_path, monkeypatch, capsys):
    """Two checkouts with their own venvs once rebuilt each other's kernels on every switch
    (one shared folder, whose build file names the venv); and a 15-50 s build was silent."""
    tag = native._build_tag()
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "another-venv"))
    assert native._build_tag() != tag
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    built = []

    def fake_load(name, sources, build_directory, **_):
        built.append(build_directory)
        (tmp_path / "ext" / name / f"{name}.so").write_bytes(b"")

    monkeypatch.setattr(native, "_loaded", None)
    monkeypatch.setattr(native, "_register_fakes", lambda: None)
    monkeypatch.setattr(native, "_import_cpp_extension", lambda: type("C", (), {"load": staticmethod(fake_load)}))
    assert native.load()
    err = capsys.readouterr().err
    assert "building the C++ B-spline kernels" in err and "kernels built in" in err
    assert built == [str(tmp_path / "ext" / f"kanfair_bspline_cpu_{native._build_tag()}")]
    monkeypatch.setattr(native, "_loaded", None)
    assert native.load() and capsys.readouterr().err == ""  # built: loaded without a word
