"""Time one KAN layer's forward+backward against a Cox-de Boor recursion baseline.

All variants run interleaved in one process (several rounds, random order each round)
and the medians are compared, so machine noise hits every variant alike. Prints ms,
the ratio to the baseline (time / baseline time) and the bytes autograd saves for
backward. Example: python scripts/bench_kan.py --in 784 --out 128 --batch 512 -G 5 -K 3
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from kanfair.models import native
from kanfair.models.bspline import bspline_basis
from kanfair.models.kan import KANLinear


class RecursionKANLinear(nn.Module):
    """The baseline: efficient-kan's algorithm. Cox-de Boor recursion over k = 1..K on a
    (B, in, G+2K) tensor, then one matmul; autograd differentiates the recursion."""

    def __init__(self, in_features: int, out_features: int, grid_size: int, spline_order: int):
        super().__init__()
        h = 2.0 / grid_size
        grid = torch.arange(-spline_order, grid_size + spline_order + 1) * h - 1.0
        self.register_buffer("grid", grid.expand(in_features, -1).contiguous())
        self.spline_order = spline_order
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(
            torch.randn(out_features, in_features, grid_size + spline_order) * 0.01)
        self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5))

    def b_splines(self, x: torch.Tensor) -> torch.Tensor:
        grid, x = self.grid, x.unsqueeze(-1)
        bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)
        for k in range(1, self.spline_order + 1):
            bases = ((x - grid[:, :-(k + 1)]) / (grid[:, k:-1] - grid[:, :-(k + 1)]) * bases[:, :, :-1]
                     + (grid[:, k + 1:] - x) / (grid[:, k + 1:] - grid[:, 1:-k]) * bases[:, :, 1:])
        return bases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = (self.spline_weight * self.spline_scaler.unsqueeze(-1)).flatten(1)
        return F.linear(F.silu(x), self.base_weight) + F.linear(self.b_splines(x).flatten(1), weight)


class DenseFloor(nn.Module):
    """What is left when the basis costs nothing: the same two matmuls on a constant basis."""

    def __init__(self, layer: KANLinear, x: torch.Tensor):
        super().__init__()
        self.layer = layer
        self.register_buffer("basis", bspline_basis(x.detach(), layer.grid_size, layer.spline_order,
                                                    knots=layer.knots).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.layer.spline_weight().flatten(1)
        return F.linear(F.silu(x), self.layer.base_scale, self.layer.bias) + F.linear(self.basis, weight)


class WithoutKernels(nn.Module):
    """kanfair's layer on PyTorch ops alone: the C++ CPU kernels switched off (as where they
    cannot be built, and on GPUs)."""

    def __init__(self, layer: KANLinear):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with native.disabled():
            return self.layer(x)


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    x = (torch.rand(args.batch, args.d_in, device=device) * 2 - 1).requires_grad_()
    ours = KANLinear(args.d_in, args.d_out, args.grid_size, args.spline_order).to(device)
    variants: dict[str, nn.Module] = {
        "recursion baseline (efficient-kan algorithm)": RecursionKANLinear(
            args.d_in, args.d_out, args.grid_size, args.spline_order).to(device),
        "kanfair KANLinear": ours,
        "kanfair KANLinear, PyTorch ops only": WithoutKernels(ours),
        "dense-matmul floor (basis given)": DenseFloor(ours, x),
        "nn.Linear + GELU (MLP layer)": nn.Sequential(nn.Linear(args.d_in, args.d_out),
                                                      nn.GELU()).to(device),
    }
    if not args.no_compile:
        variants["kanfair KANLinear + torch.compile"] = torch.compile(
            KANLinear(args.d_in, args.d_out, args.grid_size, args.spline_order).to(device))

    steps = {name: step_fn(module, x) for name, module in variants.items()}
    for step in steps.values():  # warm-up (and compilation)
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for _ in range(args.rounds):
        random.shuffle(names)
        for name in names:
            sync()
            start = time.perf_counter()
            steps[name]()
            sync()
            times[name].append((time.perf_counter() - start) * 1e3)

    baseline = statistics.median(times[next(iter(variants))])
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{torch.get_num_threads()} threads")
    print(f"KAN layer {args.d_in}->{args.d_out}, batch {args.batch}, G={args.grid_size}, "
          f"K={args.spline_order}, float32, forward+backward, {where}, "
          f"{args.rounds} interleaved rounds (medians)")
    print(f"{'variant':46s} {'ms':>9s} {'ratio':>7s} {'speed-up':>9s} {'saved for backward':>19s}")
    for name, module in variants.items():
        ms = statistics.median(times[name])
        memory = ("n/a (compiled)" if "compile" in name
                  else f"{saved_bytes(module, x) / 2**20:.1f} MiB")
        print(f"{name:46s} {ms:9.2f} {ms / baseline:7.3f} {baseline / ms:8.2f}x {memory:>19s}")


if __name__ == "__main__":
    main()
