"""scripts/bench_pinn.py times the right work: its step's residual is zero for the exact
solution of its Poisson problem and not for another function, and the models it compares
are matched in trainable parameters."""
from __future__ import annotations

import importlib.util
import math
import sys

import pytest
import torch
from torch import nn

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))  # as when it runs: it imports bench_kan beside it
spec = importlib.util.spec_from_file_location("bench_pinn", REPO / "scripts" / "bench_pinn.py")
bench_pinn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_pinn)


class Solution(nn.Module):
    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.amplitude = nn.Parameter(torch.ones((), dtype=torch.float64))
        self.frequency = frequency

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.amplitude * torch.sin(self.frequency * x[:, 0]) * torch.sin(self.frequency * x[:, 1]))[:, None]


def test_the_step_is_the_poisson_residual_and_reaches_the_parameters():
    x = torch.rand(64, 2, dtype=torch.float64) * 2 - 1
    source = -2 * math.pi**2 * torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])
    exact, other = Solution(math.pi), Solution(2.0)
    assert bench_pinn.poisson_step(exact, x, source, "autograd")().item() == pytest.approx(0, abs=1e-20)
    assert bench_pinn.poisson_step(other, x, source, "autograd")().item() > 1
    assert other.amplitude.grad is not None and other.amplitude.grad.abs() > 0


def test_both_paths_time_the_same_loss():
    """The forward-mode step of a KAN computes the autograd step's loss (the paths differ in
    cost only)."""
    from kanfair.models import build
    x = torch.rand(64, 2, dtype=torch.float64) * 2 - 1
    source = torch.zeros(64, dtype=torch.float64)
    torch.manual_seed(0)
    model = build({"name": "kan", "hidden": [4, 4], "grid_size": 5}, 2, 1).double()
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.normal_()
    by_autograd = bench_pinn.poisson_step(model, x, source, "autograd")().item()
    assert bench_pinn.poisson_step(model, x, source, "forward")().item() == pytest.approx(by_autograd, rel=1e-10)


def test_every_family_is_matched_to_the_budget_with_the_tanh_mlp_first():
    models = bench_pinn.matched_models(2000, 2, 2)
    assert next(iter(models)) == "mlp" and any(isinstance(m, nn.Tanh) for m in models["mlp"][1].modules())
    from kanfair.models import FAMILIES, count_params
    assert set(models) == set(FAMILIES) - {"custom"}
    for name, (hidden, model) in models.items():
        assert len(hidden) == 2 and abs(count_params(model) - 2000) <= 200, name
