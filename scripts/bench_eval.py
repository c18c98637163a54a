"""Time evaluation (`trainer.evaluate`, as each epoch scores a split) of the Fashion-MNIST
test split per evaluation batch size, for the KAN and the MLP of bench_epoch.py,
interleaved in one process (random order each round), and check that the metrics do not
depend on the batch size: the measurement behind `trainer.eval_batch_size`'s default.

A KAN's evaluation builds the dense basis of a whole evaluation batch (batch x 784 x
(G+K) floats: 103 MB at 4096 rows for G5 K3); smaller batches make it smaller.

    python scripts/bench_eval.py [--sizes 128,256,512,1024,4096] [--rounds 5]
"""
from __future__ import annotations

import random
import statistics
import time

import torch

from bench_epoch import MODELS, benchmark_arguments, benchmark_task
from kanfair.models import build
from kanfair.trainer import evaluate


def main() -> None:
    parser = benchmark_arguments(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256,512,1024,2048,4096")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    task = benchmark_task(args)
    torch.manual_seed(0)
    models = {name: build(spec, task.in_dim, task.out_dim) for name, spec in MODELS.items()}
    cases = [(name, size) for name in models for size in sizes]
    times: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    metrics: dict[tuple[str, int], dict[str, float]] = {}
    for _ in range(args.rounds):
        for name, size in random.sample(cases, len(cases)):
            start = time.perf_counter()
            metrics[name, size] = evaluate(models[name], task.x_test, task.y_test, task.kind, size)
            times[name, size].append(time.perf_counter() - start)
    print(f"{task.name}: evaluation of {len(task.x_test):,} test rows, torch threads "
          f"{torch.get_num_threads()}, {args.rounds} rounds (median [range])")
    for name in models:
        for size in sizes:
            seconds = times[name, size]
            same = metrics[name, size] == metrics[name, sizes[-1]]
            print(f"{name} {MODELS[name]['hidden']}, eval batch {size:5d}: {statistics.median(seconds) * 1e3:8.1f} ms "
                  f"[{min(seconds) * 1e3:.1f}, {max(seconds) * 1e3:.1f}]  metrics equal to batch "
                  f"{sizes[-1]}'s: {same}")


if __name__ == "__main__":
    main()
