"""Shared helpers: compose configs in-process, and run the real CLI in a subprocess."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():  # before Triton loads: its kernels then run on CPU tensors
    os.environ.setdefault("TRITON_INTERPRET", "1")

from hydra import compose, initialize_config_dir  # noqa: E402

from kanfair.config import CONFIG_DIR  # noqa: E402
from kanfair.config import register_configs  # noqa: E402
from kanfair.models.engine import native  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def compose_config(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def run_train(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "train.py"), *overrides],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def records(results: Path) -> dict[str, dict]:
    """The records a sweep wrote to <results>/runs, by run id."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))}


def call(main, argv: list[str]) -> tuple[int, str]:
    """Run a CLI's main in-process as the shell would: argv, then the exit status and what
    it printed on stderr (argparse CLIs take argv, the Hydra apps read sys.argv)."""
    from kanfair.cli import data as data_cli, report as report_cli

    err = io.StringIO()
    old_argv, old_environ = sys.argv, dict(os.environ)  # the Hydra apps set HYDRA_FULL_ERROR
    sys.argv = argv
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(argv[1:]) if main in (report_cli.main, data_cli.main) else main()
            except SystemExit as stop:
                status = stop.code
    finally:
        sys.argv = old_argv
        os.environ.clear()
        os.environ.update(old_environ)
    return status or 0, err.getvalue()


def only_record(results_dir: Path) -> dict:
    files = sorted((results_dir / "runs").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


@pytest.fixture
def tmp_results(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture(params=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def device(request) -> torch.device:
    """The engine's tests run on every device present: CUDA where there is one."""
    return torch.device(request.param)


@pytest.fixture(params=["native", "torch"])
def engine(request):
    """The fused spline term on both CPU paths: the C++ kernels, and PyTorch ops alone."""
    with contextlib.nullcontext() if request.param == "native" else native.disabled():
        yield request.param
