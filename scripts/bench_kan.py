"""Time one KAN layer's forward+backward against a Cox-de Boor recursion baseline, the
B-spline MLP's activation (--family bspline_mlp) against the recursion likewise, or
(--family) one layer of another KAN family against its upstream algorithm in plain PyTorch.

All variants run interleaved in one process (several rounds, random order each round)
and the medians are compared, so machine noise hits every variant alike. Prints ms,
the ratio to the baseline (time / baseline time), for the KAN layer the multiple of the
dense-matmul floor (time / floor time), and the bytes autograd saves for backward.
Examples: python scripts/bench_kan.py --in 784 --out 128 --batch 512 -G 5 -K 3
          python scripts/bench_kan.py --device cuda --batch 4096 --no-compile
          python scripts/bench_kan.py --family cheby_kan
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from typing import Callable
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.models.engine import gpu_kernels, native
from kanfair.models.engine.bspline import bspline_basis
from kanfair.models.bspline_mlp import BSplineActivation
from kanfair.models.cheby_kan import ChebyKANLayer
from kanfair.models.fourier_kan import FourierKANLayer
from kanfair.models.kan import KANLinear
from kanfair.models.rational_kan import GroupRational
from kanfair.models.rbf_kan import RBFKANLayer

FAMILY_KNOBS = {"fourier_kan": 5, "rbf_kan": 8, "cheby_kan": 4, "rational_kan": 8}  # defaults


FLOOR = "dense-matmul floor (basis given)"


def recursion_basis(x: torch.Tensor, grid: torch.Tensor, spline_order: int) -> torch.Tensor:
    """efficient-kan's Cox-de Boor recursion over k = 1..K on a (B, in, G+2K) tensor, grid
    (in, G+2K+1); autograd differentiates it."""
    x = x.unsqueeze(-1)
    bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)
    for k in range(1, spline_order + 1):
        bases = ((x - grid[:, :-(k + 1)]) / (grid[:, k:-1] - grid[:, :-(k + 1)]) * bases[:, :, :-1]
                 + (grid[:, k + 1:] - x) / (grid[:, k + 1:] - grid[:, 1:-k]) * bases[:, :, 1:])
    return bases


def recursion_grid(channels: int, grid_size: int, spline_order: int) -> torch.Tensor:
    h = 2.0 / grid_size
    return (torch.arange(-spline_order, grid_size + spline_order + 1) * h - 1.0).expand(
        channels, -1).contiguous()


class RecursionKANLinear(nn.Module):
    """The baseline: efficient-kan's algorithm. Cox-de Boor recursion over k = 1..K on a
    (B, in, G+2K) tensor, then one matmul; autograd differentiates the recursion."""

    def __init__(self, in_features: int, out_features: int, grid_size: int, spline_order: int):
        super().__init__()
        self.register_buffer("grid", recursion_grid(in_features, grid_size, spline_order))
        self.spline_order = spline_order
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(
            torch.randn(out_features, in_features, grid_size + spline_order) * 0.01)
        self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = (self.spline_weight * self.spline_scaler.unsqueeze(-1)).flatten(1)
        basis = recursion_basis(x, self.grid, self.spline_order)
        return F.linear(F.silu(x), self.base_weight) + F.linear(basis.flatten(1), weight)


class RecursionActivation(nn.Module):
    """The B-spline MLP's activation by the recursion: one spline per channel,
    y_c = sum_j coef[c, j]·B_j(x_c), the basis built by `recursion_basis`."""

    def __init__(self, channels: int, grid_size: int, spline_order: int):
        super().__init__()
        self.register_buffer("grid", recursion_grid(channels, grid_size, spline_order))
        self.spline_order = spline_order
        self.coef = nn.Parameter(torch.randn(channels, grid_size + spline_order) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (recursion_basis(x, self.grid, self.spline_order) * self.coef).sum(-1)


class DenseFloor(nn.Module):
    """What is left when the basis costs nothing: the same two matmuls on a constant basis,
    laid out (B, G+K, n) as the spline weight is in memory, so that neither needs a copy."""

    def __init__(self, layer: KANLinear, x: torch.Tensor):
        super().__init__()
        self.layer = layer
        basis = bspline_basis(x.detach(), layer.grid_size, layer.spline_order, knots=layer.knots)
        self.register_buffer("basis", basis.transpose(1, 2).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.layer.spline_weight().transpose(1, 2).flatten(1)
        return F.linear(F.silu(x), self.layer.base_scale, self.layer.bias) + F.linear(self.basis, weight)


class WithoutKernels(nn.Module):
    """kanfair's layer on PyTorch ops alone: the C++ CPU kernels and the Triton GPU kernels
    switched off (as where they cannot be built or Triton is missing)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with native.disabled(), mock.patch.object(gpu_kernels, "_enabled", False):
            return self.layer(x)


class UpstreamFourier(nn.Module):
    """FourierKAN's einsum form (GistNoesis): cos(k·x) and sin(k·x) stacked on a leading
    axis, contracted with coefficients (2, out, in, g)."""

    def __init__(self, d_in: int, d_out: int, g: int):
        super().__init__()
        self.coef = nn.Parameter(torch.randn(2, d_out, d_in, g) / math.sqrt(d_in * g))
        self.bias = nn.Parameter(torch.zeros(d_out))
        self.register_buffer("k", torch.arange(1, g + 1, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x.unsqueeze(-1) * self.k
        waves = torch.stack([torch.cos(angles), torch.sin(angles)])  # (2, B, in, g)
        return torch.einsum("dbik,doik->bo", waves, self.coef) + self.bias


class UpstreamRBF(nn.Module):
    """FastKAN: LayerNorm, exp(-((x - grid)/h)^2) on (B, in, G), einsum with (out, in, G),
    plus the SiLU base linear."""

    def __init__(self, d_in: int, d_out: int, grid_size: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.register_buffer("grid", torch.linspace(-2, 2, grid_size))
        self.h = 4 / (grid_size - 1)
        self.spline_weight = nn.Parameter(torch.randn(d_out, d_in, grid_size) * 0.1)
        self.base = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-((self.norm(x)[..., None] - self.grid) / self.h) ** 2)
        return self.base(F.silu(x)) + torch.einsum("bin,oin->bo", basis, self.spline_weight)


class UpstreamCheby(nn.Module):
    """ChebyKAN: tanh, then T_k = cos(k·acos t) on (B, in, d+1), einsum with (in, out, d+1)."""

    def __init__(self, d_in: int, d_out: int, degree: int):
        super().__init__()
        self.coef = nn.Parameter(torch.randn(d_in, d_out, degree + 1) / (d_in * (degree + 1)))
        self.register_buffer("k", torch.arange(0, degree + 1, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(x).unsqueeze(-1).expand(-1, -1, self.k.numel())
        return torch.einsum("bid,iod->bo", torch.cos(torch.acos(t) * self.k), self.coef)


class UpstreamRational(nn.Module):
    """GR-KAN as KAT's PyTorch reference computes it: the powers x^0..x^5 and |x|^1..|x|^4
    built up and summed with each channel's group coefficients, then the Linear."""

    def __init__(self, d_in: int, d_out: int, groups: int):
        super().__init__()
        self.numerator = nn.Parameter(torch.randn(1, 6) * 0.1)
        self.denominator = nn.Parameter(torch.randn(groups, 4) * 0.1)
        self.groups = groups
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_group = x.shape[1] // self.groups
        a = self.numerator.expand(x.shape[1], -1)
        b = self.denominator.repeat_interleave(per_group, 0).abs()
        powers, size = [torch.ones_like(x)], x.abs()
        for _ in range(5):
            powers.append(powers[-1] * x)
        p = sum(a[:, k] * powers[k] for k in range(6))
        q = 1 + sum(b[:, n - 1] * size ** n for n in range(1, 5))
        return self.linear(p / q)


def family_variants(family: str, d_in: int, d_out: int) -> dict[str, nn.Module]:
    """A family's upstream algorithm (first: the baseline), kanfair's layer, an MLP layer."""
    knob = FAMILY_KNOBS[family]
    upstream, ours = {
        "fourier_kan": (UpstreamFourier, lambda: FourierKANLayer(d_in, d_out, knob)),
        "rbf_kan": (UpstreamRBF, lambda: RBFKANLayer(d_in, d_out, knob)),
        "cheby_kan": (UpstreamCheby, lambda: ChebyKANLayer(d_in, d_out, knob)),
        "rational_kan": (UpstreamRational,
                         lambda: nn.Sequential(GroupRational(d_in, knob), nn.Linear(d_in, d_out))),
    }[family]
    return {f"{family} upstream algorithm, plain PyTorch": upstream(d_in, d_out, knob),
            f"kanfair {family} layer": ours(),
            "nn.Linear + GELU (MLP layer)": nn.Sequential(nn.Linear(d_in, d_out), nn.GELU())}


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd keeps between forward and backward."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)
    out.sum().backward()
    return sum(seen.values())


def step_fn(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    grad = torch.randn(x.shape[0], module(x).shape[1], device=x.device)

    def step() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(grad)
    return step


def kan_variants(args: argparse.Namespace, x: torch.Tensor) -> dict[str, nn.Module]:
    """The recursion baseline (first), kanfair's layer with and without its kernels, the
    dense-matmul floor, an MLP layer and, unless --no-compile, the compiled layer."""
    device = x.device
    ours = KANLinear(args.d_in, args.d_out, args.grid_size, args.spline_order).to(device)
    variants: dict[str, nn.Module] = {
        "recursion baseline (efficient-kan algorithm)": RecursionKANLinear(
            args.d_in, args.d_out, args.grid_size, args.spline_order).to(device),
        "kanfair KANLinear": ours,
        "kanfair KANLinear, PyTorch ops only": WithoutKernels(ours),
        FLOOR: DenseFloor(ours, x),
        "nn.Linear + GELU (MLP layer)": nn.Sequential(nn.Linear(args.d_in, args.d_out),
                                                      nn.GELU()).to(device),
    }
    if not args.no_compile:
        variants["kanfair KANLinear + torch.compile"] = torch.compile(
            KANLinear(args.d_in, args.d_out, args.grid_size, args.spline_order).to(device))
    return variants


def activation_variants(args: argparse.Namespace, device: torch.device) -> dict[str, nn.Module]:
    """The B-spline MLP's activation on --in channels: the recursion (first), kanfair's with
    and without its kernels, and GELU."""
    ours = BSplineActivation(args.d_in, args.grid_size, args.spline_order).to(device)
    return {"recursion baseline (basis, then sum)": RecursionActivation(
                args.d_in, args.grid_size, args.spline_order).to(device),
            "kanfair BSplineActivation": ours,
            "kanfair BSplineActivation, PyTorch ops only": WithoutKernels(ours),
            "GELU (MLP activation)": nn.GELU()}


def interleaved_medians(steps: dict[str, Callable[[], object]], rounds: int,
                        sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median ms of each step over `rounds` rounds, the steps in a new random order each
    round (so that machine noise hits them alike); `sync` waits for a GPU's queue."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            sync()
            start = time.perf_counter()
            steps[name]()
            sync()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="d_in", type=int, default=784)
    parser.add_argument("--out", dest="d_out", type=int, default=128)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("-G", "--grid-size", type=int, default=5)
    parser.add_argument("-K", "--spline-order", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (timed with synchronisation)")
    parser.add_argument("--family", default="kan", choices=["kan", "bspline_mlp", *FAMILY_KNOBS],
                        help="the layer to time; bspline_mlp: the activation on --in channels; "
                             "others: against their upstream algorithm, at the default knob "
                             "(-G, -K apply to kan and bspline_mlp, --no-compile to kan)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    x = (torch.rand(args.batch, args.d_in, device=device) * 2 - 1).requires_grad_()
    if args.family == "kan":
        variants, title = kan_variants(args, x), f"KAN layer, G={args.grid_size}, K={args.spline_order}"
    elif args.family == "bspline_mlp":
        variants = activation_variants(args, device)
        title = f"B-spline activation, G={args.grid_size}, K={args.spline_order}"
    else:
        variants = {name: module.to(device) for name, module in
                    family_variants(args.family, args.d_in, args.d_out).items()}
        title = f"{args.family} layer, knob {FAMILY_KNOBS[args.family]}"

    steps = {name: step_fn(module, x) for name, module in variants.items()}
    for step in steps.values():  # warm-up (and compilation)
        for _ in range(3):
            step()
    medians = interleaved_medians(steps, args.rounds, sync)

    baseline = medians[next(iter(variants))]
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{torch.get_num_threads()} threads")
    print(f"{title}, {args.d_in}->{args.d_out}, batch {args.batch}, float32, forward+backward, "
          f"{where}, {args.rounds} interleaved rounds (medians)")
    floor = medians.get(FLOOR)
    print(f"{'variant':46s} {'ms':>9s} {'ratio':>7s} {'speed-up':>9s} {'x floor':>8s} "
          f"{'saved for backward':>19s}")
    for name, module in variants.items():
        ms = medians[name]
        memory = ("n/a (compiled)" if "compile" in name
                  else f"{saved_bytes(module, x) / 2**20:.1f} MiB")
        multiple = f"{ms / floor:8.2f}" if floor else f"{'':8s}"
        print(f"{name:46s} {ms:9.2f} {ms / baseline:7.3f} {baseline / ms:8.2f}x {multiple} {memory:>19s}")


if __name__ == "__main__":
    main()
