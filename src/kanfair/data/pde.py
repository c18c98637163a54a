"""Physics-informed tasks: a PDE with an exact solution, its collocation points and its loss.

A task is a `Problem` (box domain, differential operator, source term, exact solution and
the terms of its loss) and, once loaded, a `Physics`: the seeded collocation points of
every term, their targets and weights. The trainer's loop calls `Physics.loss` where a
supervised task calls its criterion, and `Physics.score` where it evaluates a split; the
exact solution is used only for the reported errors, never for training or selection.

Operators read u's derivatives from a `Derivatives`: by forward mode (the model's
`forward_jet`, kanfair.models.jet: closed-form derivatives carried through the layers,
differentiated once by the loss's backward) where the model offers it, else by autograd
(`create_graph=True`, so the loss's backward is a derivative of a second derivative): every
family is twice differentiable in its inputs (tests/test_families.py). The four problems and their sources are in
shared/reference/pde.md; each source term is tested against the operator of its exact
solution (tests/test_pde.py). Errors follow PINNacle: relative L2 (L2RE) on a uniform
evaluation grid, with the mean squared error (MSE) and the squared H1 error (MSE plus the
mean squared error of the gradient, time included where there is time) beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from kanfair.config import DatasetConfig
from kanfair.data import splitting
from kanfair.data.task import Task
from kanfair.models import jet
from kanfair.schema import check

Field = Callable[[torch.Tensor], torch.Tensor]  # points (n, d) -> values (n, 1)
PI = math.pi
TERMS = ("residual", "boundary", "initial", "initial_velocity")


def gradient(u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """du/dx, (n, d), kept in the graph (a loss may differentiate it again)."""
    return torch.autograd.grad(u.sum(), x, create_graph=True)[0]


def derivative_path(model: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """How a Derivatives of this model is taken: "forward" where it offers forward_jet,
    else "autograd"."""
    return "forward" if hasattr(model, "forward_jet") else "autograd"


class Derivatives:
    """u on the points x, (n, 1), and its first and second derivatives along each input,
    each (n, 1) and differentiable in the parameters: from the model's forward_jet where
    it has one (`path` "forward"), else by autograd (`path` "autograd"; also for any
    function of x, e.g. an exact solution)."""

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 path: Optional[str] = None) -> None:
        """`path` "autograd" takes autograd's even where forward mode is offered (to compare)."""
        self.dim, self.path = x.shape[1], path or derivative_path(model)
        if self.path == "forward":
            self.jet = model.forward_jet(jet.seed(x))
            self.value = self.jet[0]
        else:
            self.x = x.detach().requires_grad_(True)
            self.value, self.slope = model(self.x), None

    def first(self, i: int) -> torch.Tensor:
        if self.path == "forward":
            return self.jet[1 + i]
        if self.slope is None:
            self.slope = gradient(self.value, self.x)
        return self.slope[:, i:i + 1]

    def second(self, i: int) -> torch.Tensor:
        if self.path == "forward":
            return self.jet[1 + self.dim + i]
        return gradient(self.first(i), self.x)[:, i:i + 1]


Operator = Callable[[Derivatives], torch.Tensor]  # u's derivatives -> L[u] on its points


def laplacian(u: Derivatives) -> torch.Tensor:
    return sum(u.second(i) for i in range(u.dim))


@dataclass(frozen=True)
class Problem:
    """A PDE L[u] = source on the box [low, high]^d with exact solution `exact`; when
    `time_dim` is set that input is time and its lower face carries the initial terms."""

    name: str
    low: tuple[float, ...]
    high: tuple[float, ...]
    operator: Operator
    source: Field
    exact: Field
    terms: tuple[str, ...]
    time_dim: Optional[int] = None

    @property
    def dim(self) -> int:
        return len(self.low)


def _poisson_kan_paper_source(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, :1], x[:, 1:]
    return (-PI ** 2 * (1 + 4 * b ** 2) * torch.sin(PI * a) * torch.sin(PI * b ** 2)
            + 2 * PI * torch.sin(PI * a) * torch.cos(PI * b ** 2))


HELMHOLTZ_K = 1.0

PROBLEMS = {problem.name: problem for problem in (
    # the KAN paper, section 3.4
    Problem("pde_poisson2d", (-1.0, -1.0), (1.0, 1.0), laplacian, _poisson_kan_paper_source,
            lambda x: torch.sin(PI * x[:, :1]) * torch.sin(PI * x[:, 1:] ** 2), ("residual", "boundary")),
    # pykan's tutorial Example 7
    Problem("pde_poisson2d_sin", (-1.0, -1.0), (1.0, 1.0), laplacian,
            lambda x: -2 * PI ** 2 * torch.sin(PI * x[:, :1]) * torch.sin(PI * x[:, 1:]),
            lambda x: torch.sin(PI * x[:, :1]) * torch.sin(PI * x[:, 1:]), ("residual", "boundary")),
    # Shukla et al.'s Helmholtz (a1 = 1, a2 = 4, k = 1)
    Problem("pde_helmholtz2d", (-1.0, -1.0), (1.0, 1.0),
            lambda u: laplacian(u) + HELMHOLTZ_K ** 2 * u.value,
            lambda x: (HELMHOLTZ_K ** 2 - 17 * PI ** 2) * torch.sin(PI * x[:, :1]) * torch.sin(4 * PI * x[:, 1:]),
            lambda x: torch.sin(PI * x[:, :1]) * torch.sin(4 * PI * x[:, 1:]), ("residual", "boundary")),
    # arXiv 2602.15068's wave equation u_tt = u_xx; inputs (x, t)
    Problem("pde_wave1d", (0.0, 0.0), (1.0, 1.0),
            lambda u: u.second(1) - u.second(0),
            lambda x: torch.zeros_like(x[:, :1]),
            lambda x: torch.cos(PI * x[:, 1:]) * torch.sin(PI * x[:, :1]),
            ("residual", "boundary", "initial", "initial_velocity"), time_dim=1),
)}


def exact_gradient(problem: Problem, x: torch.Tensor) -> torch.Tensor:
    """The exact solution's gradient at x, by autograd (H1 errors, initial velocities)."""
    x = x.detach().requires_grad_(True)
    return gradient(problem.exact(x), x).detach()


def interior_points(problem: Problem, n: int, rng: np.random.Generator) -> np.ndarray:
    low, high = np.array(problem.low), np.array(problem.high)
    return low + (high - low) * rng.random((n, problem.dim))


def face_points(problem: Problem, n: int, rng: np.random.Generator, faces: list[tuple[int, float]]
                ) -> np.ndarray:
    """n points uniform on the given faces (dim, value), shared as evenly as n allows."""
    chunks = []
    for index, (dim, value) in enumerate(faces):
        share = n // len(faces) + (index < n % len(faces))
        points = interior_points(problem, share, rng)
        points[:, dim] = value
        chunks.append(points)
    return np.concatenate(chunks)


def grid_points(problem: Problem, per_dim: int) -> np.ndarray:
    """The uniform evaluation grid, `per_dim` points along each axis, faces included."""
    axes = [np.linspace(lo, hi, per_dim) for lo, hi in zip(problem.low, problem.high)]
    return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


@dataclass
class Physics:
    """A loaded PDE task: the points and targets of every loss term but the residual (whose
    points are the task's x_train, its source values y_train), the weights of all terms,
    and the exact gradient on the evaluation grid (the task's x_test)."""

    problem: Problem
    points: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    weights: dict[str, float]
    grad_test: torch.Tensor

    def to(self, device: torch.device, dtype: torch.dtype) -> "Physics":
        move = lambda tensors: {k: v.to(device, dtype) for k, v in tensors.items()}  # noqa: E731
        return replace(self, points=move(self.points), targets=move(self.targets),
                       grad_test=self.grad_test.to(device, dtype))

    def loss(self, model: nn.Module, x: torch.Tensor, source: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """The weighted physics loss (weight x mean square of each term), and u on x."""
        u = Derivatives(model, x)
        total = self.weights["residual"] * (self.problem.operator(u) - source).pow(2).mean()
        for term, points in self.points.items():
            if term == "initial_velocity":
                value = Derivatives(model, points).first(self.problem.time_dim)
            else:
                value = model(points)
            total = total + self.weights[term] * (value - self.targets[term]).pow(2).mean()
        return total, u.value.detach()

    def score(self, model: nn.Module, x_train: torch.Tensor, source: torch.Tensor,
              x_test: torch.Tensor, u_test: torch.Tensor, batch_size: int) -> dict[str, float]:
        """physics_loss on the collocation points; test_l2re, test_mse, test_h1_sq on the grid."""
        model.eval()
        with torch.enable_grad():
            physics = float(self.loss(model, x_train, source)[0].detach())
            squared = grad_squared = 0.0
            for x, u, du in zip(x_test.split(batch_size), u_test.split(batch_size),
                                self.grad_test.split(batch_size)):
                x = x.detach().requires_grad_(True)
                predicted = model(x)
                slope, = torch.autograd.grad(predicted.sum(), x)  # first order only: no graph kept
                squared += float((predicted.detach() - u).pow(2).sum())
                grad_squared += float((slope - du).pow(2).sum())
        n = len(x_test)
        mse = squared / n
        return {"physics_loss": physics, "test_l2re": math.sqrt(squared / float(u_test.pow(2).sum())),
                "test_mse": mse, "test_h1_sq": mse + grad_squared / n}


@dataclass(frozen=True)
class Collocation:
    """How many points each term gets, the evaluation grid and the sampling seed."""

    interior: int
    boundary: int
    initial: int
    eval_grid: int
    seed: int


NEGLIGIBLE = 1e-6  # an evaluation grid whose RMS of u is below this share of u's scale measures nothing


def load_physics(problem: Problem, counts: Collocation, weights: dict[str, float]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Physics]:
    """Sample the collocation points (float64, then float32 as every task), and return
    (x_train, source, x_test, u_test, physics)."""
    check(set(weights) == set(problem.terms), "dataset.pde.weights",
          f"{problem.name}'s loss has the terms {', '.join(problem.terms)} (got {', '.join(weights) or 'none'})",
          "give one weight > 0 for each of them")
    rng = np.random.default_rng(counts.seed)
    spatial = [d for d in range(problem.dim) if d != problem.time_dim]
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    interior = as_t(interior_points(problem, counts.interior, rng))
    points: dict[str, torch.Tensor] = {"boundary": as_t(face_points(
        problem, counts.boundary, rng, [(d, bound) for d in spatial
                                        for bound in (problem.low[d], problem.high[d])]))}
    targets = {"boundary": problem.exact(points["boundary"])}
    if problem.time_dim is not None:
        start = as_t(face_points(problem, counts.initial, rng, [(problem.time_dim, problem.low[problem.time_dim])]))
        points["initial"] = start
        targets["initial"] = problem.exact(start)
        if "initial_velocity" in problem.terms:
            points["initial_velocity"] = start
            targets["initial_velocity"] = exact_gradient(problem, start)[:, problem.time_dim:problem.time_dim + 1]
    grid = as_t(grid_points(problem, counts.eval_grid))
    exact, slope = problem.exact(grid), exact_gradient(problem, grid)
    scale = float(problem.exact(interior).abs().max())  # the test L2RE divides by the grid's norm of u
    check(float(exact.pow(2).mean().sqrt()) > NEGLIGIBLE * scale, "dataset.pde.eval_grid",
          f"the exact solution is (numerically) 0 at every point of a {counts.eval_grid}-point grid, so the "
          "relative L2 error would divide by zero",
          "set e.g. dataset.pde.eval_grid=64 (the task's YAML has its default)")
    f32 = lambda t: t.detach().to(torch.float32)  # noqa: E731
    physics = Physics(problem, {k: f32(v) for k, v in points.items()}, {k: f32(v) for k, v in targets.items()},
                      dict(weights), f32(slope))
    return f32(interior), f32(problem.source(interior)), f32(grid), f32(exact), physics


def load(cfg: DatasetConfig, data_dir: str) -> Task:
    """The task `cfg.name` with the points and weights of `cfg.pde` (its YAML sets them)."""
    splitting.check_split(cfg, ())
    problem = PROBLEMS[cfg.name]
    needed = ["interior", "boundary", "eval_grid"] + (["initial"] if problem.time_dim is not None else [])
    for key in needed:
        check(getattr(cfg.pde, key) is not None, f"dataset.pde.{key}", f"is not set for {cfg.name}",
              f"set it (configs/dataset/{cfg.name}.yaml has the task's default)")
    if problem.time_dim is None:
        check(cfg.pde.initial is None, "dataset.pde.initial", f"{cfg.name} has no time (it would change nothing)",
              "leave dataset.pde.initial unset")
    counts = Collocation(cfg.pde.interior, cfg.pde.boundary, cfg.pde.initial or 0, cfg.pde.eval_grid, cfg.pde.seed)
    x_train, source, x_test, u_test, physics = load_physics(problem, counts, dict(cfg.pde.weights))
    return Task(cfg.name, "pde", x_train, source, x_test, u_test, out_dim=1, physics=physics)
