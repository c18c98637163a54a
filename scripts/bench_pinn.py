"""Time one physics-informed training step of every family against the MLP, at matched
trainable parameters, with the Laplacian by autograd and by forward mode.

One step is what a PINN for a 2-D Poisson problem does per iteration: u on the collocation
points, its Laplacian, the squared residual's mean, and backward to the parameters. Two
paths to the Laplacian (kanfair.data.pde.Derivatives): autograd (first derivatives with
create_graph, then each second derivative, kept differentiable) and, for the models that
offer it, forward mode (closed-form derivatives carried through the layers,
kanfair.models.jet). The KAN paper reports its KANs training about 10x slower than MLPs;
this prints each family's median time by each path, and as a multiple of the matched tanh
MLP's (the PINN default) by its fastest path, all variants interleaved in one process
(random order each round) so that machine noise hits them alike.
Examples: python scripts/bench_pinn.py
          python scripts/bench_pinn.py --params 300 --points 4096 --threads 2
"""
from __future__ import annotations

import argparse
import math
import random
from typing import Callable

import torch
from torch import nn

from bench_kan import interleaved_medians  # scripts/bench_kan.py, beside this one
from kanfair.budget import match
from kanfair.data.pde import Derivatives, derivative_path, laplacian  # as the PDE tasks take them
from kanfair.models import FAMILIES, build, count_params

BASELINE = "mlp"
SETTINGS = {"mlp": {"activation": "tanh"}}  # the PINN default activation


def matched_models(params: float, layers: int, dim: int) -> dict[str, tuple[list[int], nn.Module]]:
    """Every family (but custom) with `layers` hidden layers, its width matched to `params`
    trainable parameters (the matcher, kanfair's ops convention), the MLP first: its hidden
    widths and the model."""
    names = [BASELINE, *sorted(set(FAMILIES) - {BASELINE, "custom"})]
    models = {}
    for name in names:
        spec = {"name": name, "hidden": [8] * layers, **SETTINGS.get(name, {})}
        sized = match(spec, dim, 1, "params", params, "ops", 0.1, "width").model
        models[name] = (list(sized["hidden"]), build(sized, dim, 1))
    return models


def poisson_step(model: nn.Module, x: torch.Tensor, source: torch.Tensor,
                 path: str) -> Callable[[], torch.Tensor]:
    """One optimisation step's work (no update): the mean squared residual of
    Laplacian(u) = source, its derivatives by `path`, backward to the parameters; the step
    returns the loss."""
    def step() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss = ((laplacian(Derivatives(model, x, path))[:, 0] - source) ** 2).mean()
        loss.backward()
        return loss.detach()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=2000, help="trainable parameters per model")
    parser.add_argument("--layers", type=int, default=2, help="hidden layers")
    parser.add_argument("--points", type=int, default=1024, help="collocation points")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    x = torch.rand(args.points, 2) * 2 - 1
    source = -2 * math.pi**2 * torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])
    models = matched_models(args.params, args.layers, 2)
    steps = {(name, path): poisson_step(model, x, source, path) for name, (_, model) in models.items()
             for path in ("autograd", "forward") if path == "autograd" or derivative_path(model) == "forward"}
    for step in steps.values():  # warm-up (the engine's kernels load on first use)
        for _ in range(3):
            step()
    medians = interleaved_medians(steps, args.rounds)
    fastest = {name: min(ms for (family, _), ms in medians.items() if family == name) for name in models}
    print(f"One PINN step (2-D Poisson: u, its Laplacian, the residual's backward), {args.points} points, "
          f"float32, CPU, {torch.get_num_threads()} threads, {args.rounds} interleaved rounds (medians); "
          f"'x {BASELINE}': each family's fastest path over the tanh MLP's fastest")
    print(f"{'family':18s} {'hidden':>12s} {'params':>7s} {'autograd ms':>12s} {'forward ms':>11s} "
          f"{'x ' + BASELINE:>7s}")
    for name, (hidden, model) in models.items():
        forward = medians.get((name, "forward"))
        print(f"{name:18s} {str(hidden):>12s} {count_params(model):7,d} {medians[(name, 'autograd')]:12.2f} "
              f"{'n/a' if forward is None else f'{forward:.2f}':>11s} {fastest[name] / fastest[BASELINE]:7.2f}")


if __name__ == "__main__":
    main()
