"""Class-incremental learning views of a classification task."""
from __future__ import annotations

import dataclasses

import torch

from kanfair.data.task import Task


def for_tasks(task: Task, tasks: list[list[int]]) -> Task:
    """The task restricted to the classes of `tasks`, with one shared head sized to the
    largest of them (the paper: classes 0-8 of MNIST in three tasks, a 9-way head)."""
    if task.kind != "classification":
        raise ValueError(f"dataset.continual needs a classification task; {task.name} is {task.kind}")
    classes = sorted({c for group in tasks for c in group})
    if classes[0] < 0 or classes[-1] >= task.out_dim:
        raise ValueError(f"dataset.continual.tasks names classes outside 0..{task.out_dim - 1} "
                         f"of {task.name}")
    wanted = torch.tensor(classes)
    keep_train, keep_test = torch.isin(task.y_train, wanted), torch.isin(task.y_test, wanted)
    return dataclasses.replace(task, x_train=task.x_train[keep_train], y_train=task.y_train[keep_train],
                               x_test=task.x_test[keep_test], y_test=task.y_test[keep_test],
                               out_dim=classes[-1] + 1)
