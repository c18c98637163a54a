"""The engine's C++ CPU kernels (csrc/bspline_cpu.cpp), built on first use.

On CPU the fused spline ops (bspline.spline_linear, bspline.spline_activation) spend most
of their non-matmul time building the dense basis; the kernels write it in one pass (see
the source's header). They are compiled with the machine's C++ compiler through
torch.utils.cpp_extension the first time a process needs them (15-50 s, once per machine
and environment: the build is cached in a folder of its own per CPU, torch build and
Python environment under $TORCH_EXTENSIONS_DIR or ~/.cache/torch_extensions, so that two
checkouts with their own venvs do not rebuild each other's; a build says so in one line
when it starts and one when it is done) and registered as the torch ops `kanfair::spline_basis` and `kanfair::spline_basis_backward_`,
with fake kernels so that torch.compile can trace them.

Where they cannot be built (no compiler), or with KANFAIR_NATIVE=0 in the environment, the
engine runs on PyTorch ops alone: the same numbers, slower on CPU. GPUs always take the
PyTorch ops path.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator

import torch

MAX_ORDER = 7  # the orders the kernels are compiled for (kMaxOrder in the source)
SOURCE = Path(__file__).with_name("csrc") / "bspline_cpu.cpp"
_DTYPES = (torch.float32, torch.float64)

_loaded: bool | None = None  # None: not tried yet in this process
_enabled = os.environ.get("KANFAIR_NATIVE", "1") != "0"


def _build_tag() -> str:
    """Short digest of the CPU's feature flags, torch's version and the Python environment:
    the build uses -march=native and torch's C++ ABI, so a cache shared between machines or
    kept across torch upgrades must not hand a process a build made for another; and its
    build file names the environment's include paths, so two venvs sharing one folder
    would rebuild on every switch."""
    flags = platform.processor()
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        flags = next((line for line in lines if line.startswith("flags")), flags)
    return hashlib.sha1(f"{flags} torch {torch.__version__} {sys.prefix}".encode()).hexdigest()[:8]


def build_directory(name: str) -> Path:
    """Where the build of `name` lives: one folder per build tag."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions"
    return Path(root) / name


def _needs_build(folder: Path, name: str) -> bool:
    """No library yet, or one older than the source: this load compiles."""
    library = folder / f"{name}.so"
    return not library.exists() or library.stat().st_mtime < SOURCE.stat().st_mtime


def load() -> bool:
    """Build (first time on this machine) and load the kernels; False, with one warning
    that says why and what to do, where that fails."""
    global _loaded
    if _loaded is not None:
        return _loaded
    cpp_extension = _import_cpp_extension()
    name = f"kanfair_bspline_cpu_{_build_tag()}"
    folder = build_directory(name)
    building = _needs_build(folder, name)
    start = time.monotonic()
    try:
        if building:
            print(f"kanfair: building the C++ B-spline kernels in {folder} (once per machine and "
                  "environment; 15-50 s)...", file=sys.stderr, flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        cpp_extension.load(name=name, sources=[str(SOURCE)], build_directory=str(folder),
                           extra_cflags=["-O3", "-march=native", "-mprefer-vector-width=512",
                                         "-fopenmp"],
                           extra_ldflags=["-fopenmp"], is_python_module=False)
        if building:
            print(f"kanfair: kernels built in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    except Exception as error:  # no compiler, no ninja, a failed build: run without them
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(f"kanfair: could not build the C++ B-spline kernels ({reason}); running "
                      "on PyTorch ops (same results, slower on CPU). Install g++ and ninja to "
                      "build them, or set KANFAIR_NATIVE=0 to silence this.", RuntimeWarning)
        _loaded = False
        return False
    _register_fakes()
    _loaded = True
    return True


def _import_cpp_extension():
    """torch.utils.cpp_extension, without the notice its import logs on CPU-only machines
    with a CUDA build of torch ('No CUDA runtime is found'): it concerns CUDA extensions,
    and every KAN run would print it."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        log.setLevel(level)
    return cpp_extension


def _register_fakes() -> None:
    """Output shapes for torch.compile's tracing."""
    @torch.library.register_fake("kanfair::spline_basis")
    def _basis(x, knots, grid_size, spline_order):
        return x.new_empty(x.shape[0], grid_size + spline_order, x.shape[1])

    @torch.library.register_fake("kanfair::spline_basis_backward_")
    def _backward(grad_basis, x, knots, grid_size, spline_order):
        return torch.empty_like(x)


def usable(x: torch.Tensor, spline_order: int) -> bool:
    """Whether the kernels serve this input: CPU, float32/64, order <= MAX_ORDER, enabled,
    and built (building them now if this is the first call, outside torch.compile)."""
    if not (_enabled and x.device.type == "cpu" and x.dtype in _DTYPES
            and spline_order <= MAX_ORDER):
        return False
    if _loaded is None and not torch.compiler.is_compiling():
        load()
    return bool(_loaded)


def prepare(spline_order: int) -> None:
    """Load the kernels now, where a spline layer is built: inside torch.compile's trace
    they cannot be loaded, and a graph traced without them runs without them."""
    usable(torch.empty(0), spline_order)


def active() -> bool:
    """Whether the kernels are loaded and enabled in this process: a run's record says so,
    since they change a CPU run's timings (not its numbers)."""
    return _enabled and bool(_loaded)


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run on PyTorch ops alone inside the block (benchmarks and tests compare the two)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def basis(x: torch.Tensor, knots: torch.Tensor, grid_size: int, spline_order: int) -> torch.Tensor:
    """The dense basis of x (B, n) as (B, G+K, n)."""
    return torch.ops.kanfair.spline_basis(x.contiguous(), knots.contiguous(), grid_size, spline_order)


def grad_input_(grad_basis: torch.Tensor, x: torch.Tensor, knots: torch.Tensor,
                grid_size: int, spline_order: int) -> torch.Tensor:
    """d loss/dx from d loss/d basis (B, G+K, n), which is overwritten with the basis."""
    return torch.ops.kanfair.spline_basis_backward_(grad_basis, x.contiguous(),
                                                    knots.contiguous(), grid_size, spline_order)
