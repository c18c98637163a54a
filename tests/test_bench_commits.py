"""scripts/bench_commits.sh: every run imports its own commit's code from that commit's
clone, the commits alternate run by run, and a bad call or a failed run says so and
exits non-zero."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "scripts" / "bench_commits.sh"


def bench_commits(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(tmp_path)})


def head(*options: str) -> str:
    return subprocess.run(["git", "rev-parse", *options, "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_runs_alternate_and_import_their_own_commits_code(tmp_path):
    """Two names of the same commit: two clones, run 1 of each (in either order) before
    run 2 of either."""
    short, full = head("--short"), head()
    out = tmp_path / "out"
    result = bench_commits(tmp_path, str(out), "2", short, full, "--",
                           "-c", "import kanfair; print(kanfair.__file__)")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for k, round_lines in ((1, lines[:2]), (2, lines[2:])):
        assert sorted(round_lines) == sorted(f"run {k} of 2: {commit}" for commit in (short, full))
    for commit in (short, full):
        for k in (1, 2):
            imported = (out / f"{commit}_run{k}.txt").read_text().strip()
            assert imported == str(tmp_path / f"kanfair_bench_{commit}" / "src" / "kanfair" / "__init__.py")


def test_a_call_without_the_script_says_so_in_one_line_and_exits_2(tmp_path):
    out, commit = str(tmp_path / "out"), head("--short")
    usage = ("usage: bash scripts/bench_commits.sh OUT_DIR RUNS COMMIT [COMMIT ...] -- "
             "SCRIPT [ARGS ...]")
    for args, message in [([], usage), ([out, "1", commit, "--"], usage),
                          ([out, "1", commit, commit, "scripts/bench_kan.py"],
                           "bench_commits.sh: give the script to run after --")]:
        result = bench_commits(tmp_path, *args)
        assert (result.returncode, result.stderr) == (2, message + "\n")
    assert not (tmp_path / "out").exists()


def test_a_failed_run_stops_and_names_its_output(tmp_path):
    commit = head("--short")
    result = bench_commits(tmp_path, str(tmp_path / "out"), "2", commit, "--", "-c", "raise SystemExit(3)")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (f"bench_commits.sh: the run at {commit} failed; its output "
                                              f"is in {tmp_path / 'out' / f'{commit}_run1.txt'}")
    assert not (tmp_path / "out" / f"{commit}_run2.txt").exists()
