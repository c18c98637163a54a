"""Time one training epoch end to end, through kanfair's own trainer, for the KAN and the
MLP of the paper's Fashion-MNIST comparison: KAN [784, 16, 10] G5 K3 against MLP
[784, 128, 10] (about the same parameter count), interleaved in one process (random
order each round, so machine noise hits both alike), and print the KAN/MLP ratio.

Data: the real Fashion-MNIST when it is on disk (data_dir or the Debian package), else
random data of its shape (60,000 x 784, 10 classes). One epoch is `fit` with epochs=1,
protocol kanbefair and the default eval_train=last: the training pass, then the test
split and the train split scored once; the three times are printed apart.

    python scripts/bench_epoch.py [--rounds 5] [--threads 0]
"""
from __future__ import annotations

import argparse
import random
import statistics

import torch

from kanfair.config import DatasetConfig, TrainerConfig
from kanfair.data import Task, load_task
from kanfair.data.sources import DataUnavailable
from kanfair.models import build, count_params
from kanfair.trainer import fit

MODELS = {
    "kan": {"name": "kan", "hidden": [16], "grid_size": 5, "spline_order": 3},
    "mlp": {"name": "mlp", "hidden": [128], "activation": "relu"},
}


def fmnist_or_its_shape(data_dir: str) -> Task:
    try:
        return load_task(DatasetConfig(name="fmnist", download="never"), data_dir)
    except DataUnavailable:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(70_000, 784, generator=generator)
        y = torch.randint(0, 10, (70_000,), generator=generator)
        return Task("fmnist-shaped", "classification", x[:60_000], y[:60_000], x[60_000:], y[60_000:],
                    out_dim=10)


def benchmark_arguments(description: str) -> argparse.ArgumentParser:
    """--rounds, --threads and --data-dir, shared with bench_eval.py."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--data-dir", default="data")
    return parser


def benchmark_task(args: argparse.Namespace) -> Task:
    """Set the thread count, then load the data."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return fmnist_or_its_shape(args.data_dir)


def main() -> None:
    args = benchmark_arguments(__doc__.splitlines()[0]).parse_args()
    task = benchmark_task(args)
    config = TrainerConfig(epochs=1, protocol="kanbefair", batch_size=128, device="cpu")
    times: dict[str, dict[str, list[float]]] = {name: {"train": [], "eval": []} for name in MODELS}
    print(f"{task.name}: {len(task.x_train)} train x {task.in_dim}, torch threads {torch.get_num_threads()}, "
          f"{args.rounds} rounds")
    for round_ in range(args.rounds):
        for name in random.sample(list(MODELS), len(MODELS)):
            torch.manual_seed(round_)
            model = build(MODELS[name], task.in_dim, task.out_dim)
            result = fit(model, task, config, seed=round_)
            times[name]["train"].append(result.train_time_s)
            times[name]["eval"].append(result.eval_time_s)
    for name, spec in MODELS.items():
        train, evaluation = times[name]["train"], times[name]["eval"]
        params = count_params(build(spec, task.in_dim, task.out_dim))
        print(f"{name} {spec['hidden']} ({params:,} params): training pass {statistics.median(train):.2f} s "
              f"[{min(train):.2f}, {max(train):.2f}], evaluation {statistics.median(evaluation):.2f} s "
              f"[{min(evaluation):.2f}, {max(evaluation):.2f}] (median [range])")
    ratios = [k / m for k, m in zip(times["kan"]["train"], times["mlp"]["train"])]
    totals = [(kt + ke) / (mt + me) for kt, ke, mt, me in zip(times["kan"]["train"], times["kan"]["eval"],
                                                               times["mlp"]["train"], times["mlp"]["eval"])]
    print(f"KAN / MLP, training pass: median {statistics.median(ratios):.2f}x "
          f"[{min(ratios):.2f}, {max(ratios):.2f}] over {args.rounds} rounds")
    print(f"KAN / MLP, epoch with evaluation: median {statistics.median(totals):.2f}x "
          f"[{min(totals):.2f}, {max(totals):.2f}]")


if __name__ == "__main__":
    main()
