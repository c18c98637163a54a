"""Grid extension (the KAN paper's coarse-to-fine training): each family's refinement
against an independent computation, the trainer's stages and their record, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from conftest import compose_config
from kanfair import runner
from kanfair.config import ConfigError, validate
from kanfair.cost import count
from kanfair.models import FAMILIES, build, count_params, model_spec
from kanfair.models.refit import refine_stack


def _inputs(rows: int = 400, dims: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(rows, dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def _model(spec: dict, in_dim: int = 2, out_dim: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(spec, in_dim, out_dim).double()


def _perturb(model: torch.nn.Module, scale: float = 1.0) -> None:
    """Coefficients away from the near-zero init, so that the functions refitted have shape."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "coef" in name or "spline_weight" in name:
                parameter.add_(torch.randn_like(parameter) * scale)


def _layer_inputs_inside(model: torch.nn.Module, x: torch.Tensor, low: float, high: float) -> bool:
    """Whether every spline layer's inputs lie in its grid range (where a nested refinement
    is exact: outside it a coarse spline runs on exterior knots a finer grid lacks)."""
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, args: seen.append(args[0])) for m in model.modules()
             if hasattr(m, "knots")]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return bool(seen) and all(bool((s >= low).all() and (s <= high).all()) for s in seen)


@pytest.mark.parametrize("name, hidden", [("kan", [3]), ("bspline_mlp", [4])])
def test_a_nested_spline_refinement_keeps_the_outputs_on_the_training_inputs(name, hidden):
    spec = model_spec({"name": name, "hidden": hidden, "grid_size": 5, "grid_range": [-3, 3]})
    model = _model(spec)
    _perturb(model)
    x = _inputs()
    assert _layer_inputs_inside(model, x, -3, 3)  # the test's premise
    before = model(x).detach()
    change = FAMILIES[name].refine(model, 10, x)
    after = model(x).detach()
    measured = float((after - before).norm() / before.norm())
    assert measured <= 1e-5 and change == pytest.approx(measured, abs=1e-12)
    assert all(m.grid_size == 10 for m in model.modules() if hasattr(m, "knots"))
    assert count_params(model) == count(model_spec({**spec, "grid_size": 10}), 2, 1, "ops").params


def test_a_non_nested_kan_refinement_is_the_least_squares_fit_and_reports_its_change():
    spec = model_spec({"name": "kan", "hidden": [], "grid_size": 5})
    model = _model(spec, in_dim=2, out_dim=2)
    _perturb(model)
    layer = model.layers[0]
    x = _inputs(300)
    before = model(x).detach()
    order, coef, scale = 3, layer.coef.detach().numpy().copy(), layer.spline_scale.detach().numpy()

    # independently: scipy's B-splines on the extended grids, numpy's least squares per input
    def knots(grid: int) -> np.ndarray:
        return -1 + (np.arange(grid + 2 * order + 1) - order) * 2 / grid

    old_spline, new_spline = np.zeros_like(before.numpy()), np.zeros_like(before.numpy())
    for i in range(2):
        points = x[:, i].numpy()
        coarse = BSpline.design_matrix(points, knots(5), order).toarray()
        fine = BSpline.design_matrix(points, knots(7), order).toarray()
        targets = coarse @ coef[:, i, :].T  # (P, out): each edge's spline before its scale
        old_spline += targets * scale[:, i]
        new_spline += (fine @ np.linalg.lstsq(fine, targets, rcond=None)[0]) * scale[:, i]
    change = FAMILIES["kan"].refine(model, 7, x)
    after = model(x).detach().numpy()
    expected = before.numpy() - old_spline + new_spline  # the shortcut and bias stay
    assert np.allclose(after, expected, atol=1e-10)
    measured = np.linalg.norm(after - before.numpy()) / np.linalg.norm(before.numpy())
    assert change == pytest.approx(measured, rel=1e-9) and change > 1e-4  # not exact: 7 does not contain 5's knots


@pytest.mark.parametrize("name, knob, start, end", [("fourier_kan", "frequencies", 3, 8),
                                                     ("cheby_kan", "degree", 3, 6)])
def test_fourier_and_chebyshev_extensions_are_exact(name, knob, start, end):
    spec = model_spec({"name": name, "hidden": [4], knob: start})
    model = _model(spec)
    x = _inputs()
    before = model(x).detach()
    change = FAMILIES[name].refine(model, end, x)
    assert torch.equal(model(x).detach(), before) or torch.allclose(model(x), before, rtol=0, atol=1e-14)
    assert change <= 1e-14
    assert count_params(model) == count(model_spec({**spec, knob: end}), 2, 1, "ops").params


def test_an_rbf_refinement_is_the_least_squares_fit_of_each_edge():
    spec = model_spec({"name": "rbf_kan", "hidden": [], "grid_size": 5})
    model = _model(spec, in_dim=3, out_dim=2)
    _perturb(model)
    layer = model[0]
    x = _inputs(300, 3)
    before = model(x).detach().numpy()
    z = layer.norm(x).detach().numpy()
    weight = layer.spline_weight.detach().numpy().reshape(2, 3, 5)

    def gaussians(values: np.ndarray, count_: int) -> np.ndarray:
        centres = np.linspace(-2, 2, count_)
        return np.exp(-(((values[:, None] - centres) * (count_ - 1) / 4) ** 2))

    old = sum(gaussians(z[:, i], 5) @ weight[:, i, :].T for i in range(3))
    new = sum(gaussians(z[:, i], 9) @ np.linalg.lstsq(gaussians(z[:, i], 9), gaussians(z[:, i], 5) @ weight[:, i, :].T,
                                                      rcond=None)[0] for i in range(3))
    change = FAMILIES["rbf_kan"].refine(model, 9, x)
    after = model(x).detach().numpy()
    assert np.allclose(after, before - old + new, atol=1e-8)
    assert change == pytest.approx(np.linalg.norm(after - before) / np.linalg.norm(before), rel=1e-6)


def test_refinement_leaves_the_train_mode_as_it_found_it():
    model = _model(model_spec({"name": "kan", "hidden": [3]}))
    model.train()
    refine_stack(model.layers, 7, _inputs())
    assert all(layer.training for layer in model.layers)


def _scheduled(tmp_results, *overrides: str):
    cfg = compose_config("dataset=kan_toy_xy", "trainer.optimizer=lbfgs", "trainer.lr=1",
                         "trainer.batch_size=5000", "trainer.grid_schedule=[3,5,10]", "trainer.steps_per_grid=3",
                         f"paths.results_dir={tmp_results}", *overrides)
    return runner.run(cfg)


@pytest.mark.parametrize("name, hidden", [("kan", "[2]"), ("bspline_mlp", "[4]")])
def test_a_scheduled_run_records_one_block_per_stage(tmp_results, monkeypatch, name, hidden):
    made = []
    original = runner.fit.__globals__["make_optimizer"]
    monkeypatch.setitem(runner.fit.__globals__, "make_optimizer",
                        lambda cfg, params: made.append(1) or original(cfg, params))
    record = _scheduled(tmp_results, f"model={name}", f"model.hidden={hidden}")
    assert record.status == "ok" and len(made) == 3  # the optimizer starts afresh at each stage
    extension = record.extra["grid_extension"]
    assert extension["knob"] == "grid_size" and extension["schedule"] == [3, 5, 10]
    stages = extension["stages"]
    assert [s["grid_size"] for s in stages] == [3, 5, 10]
    spec = model_spec({"name": name, "hidden": [2] if name == "kan" else [4]})
    assert [s["params"] for s in stages] == [count(model_spec({**spec, "grid_size": g}), 2, 1, "ops").params
                                             for g in (3, 5, 10)]
    assert [(s["first_epoch"], s["last_epoch"]) for s in stages] == [(1, 3), (4, 6), (7, 9)]
    assert record.epochs == 9 and [row["stage"] for row in record.history] == [0] * 3 + [1] * 3 + [2] * 3
    assert stages[0]["refit_change"] == 0 and all(s["val_metric"] is not None for s in stages)
    assert all(s["train_metric"] is not None for s in stages)  # scored once at each stage's end
    chosen = stages[extension["selected_stage"]]
    assert record.params == chosen["params"] and record.model_spec["grid_size"] == chosen["grid_size"]
    assert record.val_metric == min(s["val_metric"] for s in stages)
    assert record.extra["lbfgs"]["max_iter"] == 20


def test_the_schedule_composes_with_the_grid_update_and_adam(tmp_results):
    record = _scheduled(tmp_results, "model=kan", "model.hidden=[2]", "model.grid_update_every=2",
                        "trainer.optimizer=adam", "trainer.lr=1e-2", "trainer.batch_size=128")
    assert record.status == "ok" and "lbfgs" not in record.extra
    assert [s["grid_size"] for s in record.extra["grid_extension"]["stages"]] == [3, 5, 10]


@pytest.mark.parametrize("overrides, key", [
    (["trainer.grid_schedule=[5,5,10]"], "trainer.grid_schedule"),
    (["trainer.grid_schedule=[10,5]"], "trainer.grid_schedule"),
    (["trainer.grid_schedule=[0,5]"], "trainer.grid_schedule"),
    (["trainer.grid_schedule=[3,5]", "trainer.steps_per_grid=0"], "trainer.steps_per_grid"),
    (["trainer.steps_per_grid=5"], "trainer.steps_per_grid"),
])
def test_a_bad_schedule_names_its_key(overrides, key):
    with pytest.raises(ConfigError) as caught:
        validate(compose_config(*overrides))
    assert caught.value.key == key


@pytest.mark.parametrize("overrides, key, says", [
    (["model=mlp"], "trainer.grid_schedule", "no resolution knob"),
    (["model=rational_kan"], "trainer.grid_schedule", "no resolution knob"),
    (["model=rbf_kan", "trainer.grid_schedule=[1,5]"], "trainer.grid_schedule", ">= 2"),
    (["model=kan", "budget=params", "budget.target=1000", "budget.vary=grid"], "budget.vary", "stage by stage"),
    (["model=kan", "dataset=iris", "dataset.continual.tasks=[[0],[1],[2]]"], "trainer.grid_schedule", "continual"),
])
def test_a_schedule_the_model_cannot_follow_names_its_key(tmp_results, overrides, key, says):
    with pytest.raises(ConfigError) as caught:
        _scheduled(tmp_results, *overrides)
    assert caught.value.key == key and says in str(caught.value)
    assert not (tmp_results / "runs").exists() or not list((tmp_results / "runs").glob("*.json"))


@pytest.mark.parametrize("every, until, expected", [(5, 15, [1, 6, 11]), (5, None, [1, 6, 11, 16]), (0, None, [])])
def test_the_grid_moves_on_pykans_schedule_within_each_stage(every, until, expected):
    from kanfair.config import TrainerConfig
    from kanfair.trainer import updates_grid

    cfg = TrainerConfig(grid_update_every=every, grid_update_until=until)
    assert [epoch for epoch in range(1, 21) if updates_grid(cfg, epoch)] == expected


def test_a_scheduled_kan_moves_its_grids_at_each_stage_start(tmp_results, monkeypatch):
    from kanfair.models.kan import KAN

    moved = []
    original = KAN.update_grid
    monkeypatch.setattr(KAN, "update_grid", lambda self, x: moved.append(len(x)) or original(self, x))
    record = _scheduled(tmp_results, "model=kan", "model.hidden=[2]", "trainer.grid_update_every=2",
                        "trainer.grid_update_until=2")
    assert record.status == "ok" and len(moved) == 3 and set(moved) == {record.n_train}  # once per stage


@pytest.mark.parametrize("overrides, key", [
    (["trainer.grid_update_until=5"], "trainer.grid_update_until"),
    (["trainer.grid_update_every=-1"], "trainer.grid_update_every"),
])
def test_bad_grid_update_settings_name_their_key(overrides, key):
    with pytest.raises(ConfigError) as caught:
        validate(compose_config(*overrides))
    assert caught.value.key == key


def test_a_grid_update_on_a_model_without_a_grid_names_its_key(tmp_results):
    with pytest.raises(ConfigError) as caught:
        _scheduled(tmp_results, "model=fourier_kan", "trainer.grid_update_every=5")
    assert caught.value.key == "trainer.grid_update_every"


def test_pykans_lbfgs_is_the_papers_optimizer_and_the_record_says_so(tmp_results):
    from kan.LBFGS import LBFGS

    from kanfair.config import TrainerConfig
    from kanfair.trainer import make_optimizer

    optimizer = make_optimizer(TrainerConfig(optimizer="pykan_lbfgs", lr=1.0), [torch.zeros(3, requires_grad=True)])
    assert isinstance(optimizer, LBFGS) and optimizer.defaults["tolerance_ys"] == 1e-32
    assert optimizer.defaults["tolerance_change"] == 1e-32 and optimizer.defaults["max_iter"] == 20
    record = _scheduled(tmp_results, "model=kan", "model.hidden=[2]", "trainer.optimizer=pykan_lbfgs")
    assert record.status == "ok" and record.extra["lbfgs"]["implementation"] == "kan.LBFGS (pykan)"
    torch_record = _scheduled(tmp_results, "model=kan", "model.hidden=[2]")
    assert torch_record.extra["lbfgs"]["tolerance_ys"] == 1e-10  # torch's hard-coded curvature threshold


def test_pykans_lbfgs_keeps_learning_where_torchs_forgets_small_curvature():
    """On a least-squares problem whose loss is tiny (targets of size 1e-6), torch's LBFGS
    drops every curvature pair (y·s <= 1e-10) and crawls; pykan's keeps them and converges:
    the reason the KAN paper's runs use its own copy."""
    from kanfair.config import TrainerConfig
    from kanfair.trainer import make_optimizer

    generator = torch.Generator().manual_seed(0)
    design = torch.randn(200, 20, generator=generator, dtype=torch.float64)
    targets = design @ torch.randn(20, generator=generator, dtype=torch.float64) * 1e-6
    losses = {}
    for name in ("lbfgs", "pykan_lbfgs"):
        weights = torch.zeros(20, dtype=torch.float64, requires_grad=True)
        optimizer = make_optimizer(TrainerConfig(optimizer=name, lr=1.0), [weights])

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = ((design @ weights - targets) ** 2).mean()
            loss.backward()
            return loss
        for _ in range(5):
            optimizer.step(closure)
        losses[name] = float(closure()) / float((targets ** 2).mean())
    assert losses["pykan_lbfgs"] < 1e-12 < 1e-3 < losses["lbfgs"]
