"""Class-incremental learning: task views, the accuracy matrix and its summaries."""
from __future__ import annotations

import pytest
import torch

from conftest import compose_config
from kanfair import runner
from kanfair.config import TrainerConfig
from kanfair.data import Task, continual
from kanfair.models import build
from kanfair.trainer import fit_continual

TASKS = [[0, 1], [2, 3], [4, 5]]


def blobs(classes: int = 7, per_class: int = 40, seed: int = 0) -> Task:
    """Well separated Gaussian blobs, one per class."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 5, generator=gen) * 4
    y = torch.arange(classes).repeat_interleave(per_class)
    x = centres[y] + 0.3 * torch.randn(len(y), 5, generator=gen)
    return Task("blobs", "classification", x, y, x.clone(), y.clone(), out_dim=classes)


def test_task_view_keeps_only_the_named_classes_and_sizes_the_shared_head():
    view = continual.for_tasks(blobs(), TASKS)
    assert view.out_dim == 6 and set(view.y_train.tolist()) == set(range(6))
    assert len(view.x_train) == 6 * 40
    with pytest.raises(ValueError, match="outside 0..6"):
        continual.for_tasks(blobs(), [[0, 9]])


def test_accuracy_matrix_and_its_summaries():
    task = continual.for_tasks(blobs(), TASKS)
    torch.manual_seed(0)
    model = build({"name": "mlp", "hidden": [16]}, task.in_dim, task.out_dim)
    result = fit_continual(model, task, TrainerConfig(epochs=15, lr=1e-2, batch_size=32), 0, TASKS)
    block = result.extra["continual"]
    matrix = block["accuracy_matrix"]
    assert [len(row) for row in matrix] == [3, 3, 3]
    assert matrix[0][1:] == [None, None] and matrix[1][2] is None
    assert all(matrix[t][t] > 90 for t in range(3))  # each task is learnt when trained
    final = matrix[2]
    assert block["average_accuracy"] == pytest.approx(sum(final) / 3)
    expected_transfer = ((final[0] - matrix[0][0]) + (final[1] - matrix[1][1])) / 2
    assert block["backward_transfer"] == pytest.approx(expected_transfer)
    assert block["backward_transfer"] < -50  # a plain MLP forgets the old classes
    assert result.selected["test_accuracy"] == block["average_accuracy"]
    assert result.n_train == 240 and result.n_test == 240
    assert result.status == "ok" and result.message == "" and result.best_epoch is None
    assert result.metric == "accuracy" and result.n_val == 0 and block["tasks"] == TASKS
    assert [(row["task"], row["epoch"]) for row in result.history] == [
        (t, e) for t in range(3) for e in range(1, 16)]
    ends = [row for row in result.history if "test_accuracy" in row]  # each task's last epoch
    assert [(row["task"], row["epoch"]) for row in ends] == [(0, 15), (1, 15), (2, 15)]
    assert [row["test_accuracy"] for row in ends] == pytest.approx(
        [sum(matrix[t][:t + 1]) / (t + 1) for t in range(3)])
    assert all(0 <= row["running_train_accuracy"] <= 100 for row in result.history)


def test_continual_run_writes_the_matrix_into_the_record(tmp_results):
    cfg = compose_config("model=mlp", "dataset=digits", "dataset.continual.tasks=[[0,1,2],[3,4,5],[6,7,8]]",
                         "trainer.epochs=2", f"paths.results_dir={tmp_results}")
    record = runner.run(cfg)
    block = record.extra["continual"]
    assert record.protocol == "continual" and len(block["accuracy_matrix"]) == 3
    assert record.test_metric == block["average_accuracy"]
    assert record.model_spec["hidden"] == [64]
