"""Is pykan's poor fit of exp(sin(pi x) + y^2) at [2,1,1] its own, or kanfair's loop's?

pykan's own `fit` (its LBFGS, its grid update at every 5th of the first 50 steps), 20
steps, float64, on 800 points of U[-1, 1]^2: MultKAN at seeds 1..4, then the model that
model=pykan built for seed 0, fitted by pykan's `fit` instead of kanfair's loop. Prints the
train RMSE each reaches.
  python results/kan_paper_full/pykan_init_check.py
"""
import math
import warnings

import torch
from kan import MultKAN

from kanfair.models.pykan_kan import PykanKAN

warnings.filterwarnings("ignore")
torch.manual_seed(0)
x = torch.rand(800, 2, dtype=torch.float64) * 2 - 1
y = torch.exp(torch.sin(math.pi * x[:, :1]) + x[:, 1:] ** 2)
data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}


def fitted_rmse(model: torch.nn.Module) -> float:
    return float(model.fit(data, opt="LBFGS", steps=20, update_grid=True, log=100)["train_loss"][-1])


torch.set_default_dtype(torch.float64)
for seed in (1, 2, 3, 4):
    print(f"pykan MultKAN([2,1,1], seed={seed}), pykan's fit: train RMSE {fitted_rmse(MultKAN(width=[2, 1, 1], grid=5, k=3, seed=seed, auto_save=False)):.3g}")
torch.set_default_dtype(torch.float32)
torch.manual_seed(0)
ours = PykanKAN([2, 1, 1], 5, 3, [-1, 1], "silu", 0.02).to(torch.float64)
print(f"model=pykan's MultKAN for seed 0, pykan's fit: train RMSE {fitted_rmse(ours.kan):.3g}")
