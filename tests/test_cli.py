"""The CLI end to end: one record per run, reproducible, and one-line errors."""
from __future__ import annotations

import pytest

from conftest import REPO, only_record, run_train


def test_mlp_on_digits_writes_one_record_and_is_bit_reproducible(tmp_path):
    args = ["model=mlp", "model.hidden=[64]", "dataset=digits", "trainer.epochs=20", "seed=1"]
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        done = run_train(*args, f"paths.results_dir={out}")
        assert done.returncode == 0, done.stderr
    record = only_record(first)
    assert record["status"] == "ok"
    assert record["params"] == 64 * 64 + 64 + 64 * 10 + 10 == 4810
    assert record["test_metric"] > 90
    assert record["metric"] == "accuracy" and record["protocol"] == "val"
    assert (first / "jobs").exists() and list((first / "jobs").rglob("result.json"))
    again = only_record(second)
    assert again["test_metric"] == record["test_metric"]
    assert again["history"] == record["history"]
    assert again["config_hash"] == record["config_hash"]  # paths are not part of the hash


@pytest.mark.parametrize("override, named", [
    ("model=mpl", "unknown model 'mpl'"),
    ("trainer.lr=-1", "trainer.lr"),
    ("model.hiden=[3]", "model.hiden"),
    ("dataset=mnst", "unknown dataset 'mnst'"),
    ("trainer.epochs=abc", "trainer.epochs"),
    ("trainer.val_fraction=1.5", "trainer.val_fraction"),
])
def test_bad_input_exits_nonzero_with_one_line(tmp_path, override, named):
    done = run_train(override, f"paths.results_dir={tmp_path}")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kanfair: error:") and named in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_the_record_says_where_it_ran(tmp_path):
    import os
    import platform

    import torch

    done = run_train("model=kan", "dataset=digits", "trainer.epochs=1", "trainer.device=cpu",
                     "trainer.threads=1", f"paths.results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    where = only_record(tmp_path)["environment"]
    assert where["device"].startswith("cpu: ") and where["threads"] == 1
    assert where["cpu_kernels"] is True  # kanfair's C++ kernels ran this KAN
    assert where["torch"] == torch.__version__ and where["cpu_count"] == os.cpu_count()
    assert where["host"] == platform.node() and where["python"] == platform.python_version()
    assert where["cpu_kernel_set"] == torch.backends.cpu.get_cpu_capability()  # AVX2 here, DEFAULT under
    assert f"BLAS_INFO={where['blas']}," in torch.__config__.show()           # ATEN_CPU_CAPABILITY=default


@pytest.mark.parametrize("override, content, named", [
    ("dataset.target=y", "x,y\n{rows}\n1e308,1\n", "overflows float32"),
    ("dataset.target=y dataset.task=regression", "x,y\n{rows}\n5,1e308\n", "overflows float32"),
    ("model=custom model.target=tests.custom_models:elementwise_net budget=flops budget.target=5000 "
     "dataset.target=y", "x,y\n{rows}\n", "model.elementwise_flops"),
])
def test_a_data_or_cost_fault_is_one_line_with_no_library_warning_before_it(tmp_path, override, content, named):
    """The cases whose libraries warn on the way (numpy's overflow in the scaler, torch.jit's
    deprecation in fvcore's trace): as a user runs them, one line and nothing else."""
    table = tmp_path / "table.csv"
    table.write_text(content.format(rows="\n".join(f"{i},{i % 3}" for i in range(60))))
    done = run_train("dataset=csv", f"dataset.path={table}", *override.split(), f"paths.results_dir={tmp_path}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and named in lines[0], done.stderr


def test_help_piped_to_a_reader_that_stops_early_exits_quietly():
    """`python train.py --help | head -1`: the reader closes the pipe; no 'Broken pipe' error."""
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} {REPO / 'train.py'} --help | head -c 20 > /dev/null; "
                          "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0 and "Broken pipe" not in done.stderr and "error" not in done.stderr, done.stderr


def test_a_refused_run_does_not_say_where_its_record_goes(tmp_path):
    done = run_train("model=kan", "dataset=digits", "budget=params", "budget.target=2000",
                     f"paths.results_dir={tmp_path}")
    assert done.returncode == 2 and "no kan width is within 2%" in done.stderr
    assert "its record goes to" not in done.stdout and not (tmp_path / "runs").exists()
