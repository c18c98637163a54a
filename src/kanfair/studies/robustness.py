"""Does a verdict survive another CPU kernel set?

A verdict rests on test metrics whose last bits depend on the kernels ATen picks (DEFAULT,
AVX2, AVX512: transcendental functions and reductions round differently), and training
on small data amplifies them. This re-runs the runs a verdict stands on (each family's
chosen configuration and its seeds; for a tuned study its final runs, the tuner's choice
held fixed: tuning variance is what tune.repeats measures) under ATEN_CPU_CAPABILITY=<set>,
which torch reads once when it loads, hence in child processes; then it compares the two
verdicts sentence by sentence and the numbers family by family.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from kanfair.config import recorded_config
from kanfair.errors import describe
from kanfair.report.metrics import HIGHER_IS_BETTER
from kanfair.report.tables import runs_frame
from kanfair.results import read_records
from kanfair.schema import check
from kanfair.report.verdict import chosen_runs, outcome, rank_test, ranks_differ, verdict_frame

KERNEL_SETS = ("default", "avx2", "avx512")


def chosen_records(runs_dir: str | Path) -> list[dict[str, Any]]:
    """The records the verdict of `runs_dir` stands on."""
    records = read_records(runs_dir, warn=lambda message: print(message, file=sys.stderr))
    check(bool(records), "--runs", f"no run records in {runs_dir}", "point it at a study's runs folder")
    chosen = set(chosen_runs(runs_frame(records)).run_id)
    return [record for record in records if record["run_id"] in chosen]


def rerun_config(record: dict[str, Any], results_dir: str | Path) -> dict[str, Any]:
    """The record's own config, its results going to `results_dir` (paths are not hashed, so
    the rerun keeps its run id)."""
    config = json.loads(json.dumps(record["config"]))
    config["paths"]["results_dir"] = str(results_dir)
    return config


def _check_kernel_set(kernel_set: str) -> None:
    """ATen takes ATEN_CPU_CAPABILITY at its word, even for a set the CPU lacks (its kernels
    would then die on an illegal instruction): ask a child torch, free of the variable, for
    the best set this CPU has."""
    check(kernel_set in KERNEL_SETS, "--kernel-set", f"is '{kernel_set}'", f"choose one of {', '.join(KERNEL_SETS)}")
    environment = {key: value for key, value in os.environ.items() if key != "ATEN_CPU_CAPABILITY"}
    best = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                          env=environment, capture_output=True, text=True, check=True).stdout.strip()
    usable = KERNEL_SETS[:KERNEL_SETS.index(best.lower()) + 1] if best.lower() in KERNEL_SETS else ("default",)
    check(kernel_set in usable, "--kernel-set",
          f"asks for {kernel_set}, but the best this CPU has is {best}", "choose a kernel set the CPU supports "
          "(default always is)")


def rerun(records: list[dict[str, Any]], results_dir: str | Path, kernel_set: str, jobs: int = 1) -> None:
    """Each record's run again under ATEN_CPU_CAPABILITY=kernel_set, in `jobs` child
    processes, its record in results_dir/runs; runs already there are kept (resume). Each
    rerun uses the record's own number of threads, as a reduction split over another
    number of threads rounds differently too: only the kernel set changes."""
    _check_kernel_set(kernel_set)
    fallback = max(1, (os.cpu_count() or 1) // jobs)
    configs = [(rerun_config(record, results_dir), (record.get("environment") or {}).get("threads", fallback))
               for record in records]
    with tempfile.TemporaryDirectory() as scratch:
        children = []
        for job in range(jobs):
            batch = Path(scratch) / f"batch{job}.json"
            batch.write_text(json.dumps(configs[job::jobs]))
            children.append(subprocess.Popen([sys.executable, "-m", "kanfair.studies.robustness", str(batch)],
                                             env={**os.environ, "ATEN_CPU_CAPABILITY": kernel_set}))
        failed = [child.wait() for child in children]
    check(not any(failed), "--runs", "a rerun failed (the line above says why)",
          "fix what it names, then run the command again: finished reruns are kept")


def _rerun_batch(path: str) -> None:
    """A child's work: its configs, one after another, under the kernel set it was started with."""
    from kanfair.runner import run_or_stored

    for config, threads in json.loads(Path(path).read_text()):
        run_or_stored(recorded_config(config), None, threads)


def verdict_sentences(frame: pd.DataFrame) -> dict[str, str]:
    """The claims a verdict makes, keyed by what they are about: each data set's outcome, each
    family's standing against the best, and the order of ranks across data sets."""
    said: dict[str, str] = {}
    for budget, at_budget in frame.groupby("budget", sort=False):
        means, higher = {}, {}
        for dataset, table in at_budget.groupby("dataset", sort=False):
            table = table.reset_index(drop=True)
            said[f"{budget}, {dataset}"] = outcome(table)
            for row in table.itertuples():
                said[f"{budget}, {dataset}, {row.model}"] = row.verdict
            means[dataset] = table.set_index("model")["mean"]
            higher[dataset] = HIGHER_IS_BETTER.get(table.metric[0], True)
        tested = rank_test(pd.DataFrame(means).T, higher)
        if not isinstance(tested, str):
            _, ranks, friedman = tested
            said[f"{budget}, across data sets"] = f"ranks {' > '.join(ranks.index)}; {ranks_differ(friedman)}"
    return said


def _change(before: float, after: float) -> float:
    return 0.0 if before == after else (after - before) / abs(before) if before else math.inf


def compare(original: pd.DataFrame, rerun_runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(sentences: claim, before, after, survives), (families: mean before and after, the
    relative change, how many of its runs kept their metric), (runs: each run's test metric
    before and after) for two run frames of the same runs."""
    verdict_before, verdict_after = verdict_frame(original), verdict_frame(rerun_runs)
    before, after = verdict_sentences(verdict_before), verdict_sentences(verdict_after)
    sentences = pd.DataFrame([{"claim": key, "before": said, "after": after.get(key, "(not made)"),
                               "survives": after.get(key) == said} for key, said in before.items()])
    keys = ["budget", "dataset", "model"]
    families = verdict_before[keys + ["mean"]].merge(verdict_after[keys + ["mean"]], on=keys,
                                                     suffixes=("_before", "_after"))
    families["change"] = [_change(b, a) for b, a in zip(families.mean_before, families.mean_after)]
    runs = original[["run_id", *keys, "test_metric"]].merge(
        rerun_runs[["run_id", "test_metric"]], on="run_id", suffixes=("_before", "_after"))
    same = (runs.test_metric_before == runs.test_metric_after).groupby([runs[k] for k in keys])
    families = families.merge(same.agg(identical="sum", runs="count").reset_index(), on=keys)
    return sentences, families, runs


def _largest(families: pd.DataFrame) -> str:
    row = families.loc[families.change.abs().idxmax()]
    return f"{row.change:+.2%} ({row.model} on {row.dataset}, {row.budget})"


def _kernel_sets(frame_records: list[dict[str, Any]]) -> str:
    sets = sorted({(record.get("environment") or {}).get("cpu_kernel_set", "not recorded") for record in frame_records})
    return ", ".join(sets)


def write_robustness(runs_dir: str | Path, out_dir: str | Path, kernel_set: str, jobs: int = 1) -> Path:
    """Re-run the verdict's runs of `runs_dir` under `kernel_set` into out_dir/runs, and
    write out_dir/robustness.md (and robustness.csv: every claim, before and after)."""
    out = Path(out_dir)
    check((out / "runs").resolve() != Path(runs_dir).resolve(), "--out",
          f"{out} holds the runs it would compare against ({runs_dir}): every rerun would be found done and "
          "compared with itself", f"give another folder, e.g. --out {out / 'robustness'}")
    records = chosen_records(runs_dir)
    rerun(records, out, kernel_set, jobs)
    reruns = [r for r in read_records(out / "runs", warn=lambda m: print(m, file=sys.stderr))
              if r["run_id"] in {record["run_id"] for record in records}]
    original, again = runs_frame(records), runs_frame(reruns)
    sentences, families, runs = compare(original, again)
    same = int((runs.test_metric_before == runs.test_metric_after).sum())
    held = int(sentences.survives.sum())
    lines = ["# Robustness to the CPU kernel set", "",
             f"The {len(records)} runs the verdict of `{runs_dir}` stands on (kernel sets: "
             f"{_kernel_sets(records)}), re-run under ATEN_CPU_CAPABILITY={kernel_set} "
             f"({_kernel_sets(reruns)}).", "",
             f"- Runs with the same test metric to the last digit: {same} of {len(runs)}.",
             f"- Claims of the verdict that survive: {held} of {len(sentences)}.",
             f"- The largest move of a family's mean: {_largest(families)}.", "",
             "## Claims that changed", ""]
    changed = sentences[~sentences.survives]
    lines += ([f"- {row.claim}: \"{row.before}\" became \"{row.after}\"" for row in changed.itertuples()]
              or ["None."])
    lines += ["", "## Claims that survived", "", *[f"- {row.claim}: {row.before}" for row in
                                                    sentences[sentences.survives].itertuples()], "",
              "## How far the numbers moved (mean test metric of each family's chosen runs)", "",
              "| budget | data set | model | before | after | relative change | runs identical |",
              "|---|---|---|---|---|---|---|",
              *[f"| {r.budget} | {r.dataset} | {r.model} | {r.mean_before:.6g} | {r.mean_after:.6g} | "
                f"{r.change:+.2%} | {r.identical} of {r.runs} |" for r in families.itertuples()], ""]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "robustness.md"
    path.write_text("\n".join(lines))
    sentences.to_csv(out / "robustness.csv", index=False)
    return path


if __name__ == "__main__":  # a child of rerun()
    try:
        _rerun_batch(sys.argv[1])
    except Exception as error:
        print(f"kanfair: error: {describe(error)}", file=sys.stderr)
        sys.exit(2)
