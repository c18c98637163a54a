"""Plant each bug that once went uncaught (issue #20: selection and storage) in a copy of
the source, run the tests that guard against it, and check that they fail.

    python scripts/check_planted_bugs.py        # one line per bug; exit 1 if one is missed

Each bug is a textual edit of one line; an edit whose line is no longer in the source
stops the script (exit 2) rather than passing silently. mutmut (`make mutation`) does the
same at scale; these are the bugs a reviewer planted by hand, kept as a named check.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PlantedBug:
    what: str
    file: str
    line: str
    planted: str
    tests: tuple[str, ...]


BUGS = (
    PlantedBug("protocol=val selects the epoch on test instead of validation", "trainer.py",
               'else f"val_{metric}" if cfg.protocol == "val" else f"test_{metric}")',
               'else f"test_{metric}")', ("tests/test_selection.py",)),
    PlantedBug("protocol=kanbefair reports the last epoch instead of the best", "trainer.py",
               'best = _select(history[selectable_from:], select_on, higher_is_better)',
               'best = len(history) - 1 - selectable_from if history else None', ("tests/test_selection.py",)),
    PlantedBug("regression selects the highest RMSE epoch", "trainer.py",
               'higher_is_better = task.kind == "classification"', "higher_is_better = True",
               ("tests/test_selection.py",)),
    PlantedBug("the validation split is not stratified", "trainer.py",
               "stratify=stratify, random_state=val_seed)", "stratify=None, random_state=val_seed)",
               ("tests/test_selection.py",)),
    PlantedBug("resume skips a diverged or failed record as if it were done", "results.py",
               'return json.loads(record_path(results_dir, run_id).read_text())["status"] == "ok"',
               "return True", ("tests/test_selection.py",)),
    PlantedBug("records are written in place instead of temp file + rename", "results.py",
               'fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")',
               "fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), str(path)",
               ("tests/test_selection.py",)),
)


def run_tests(tests: tuple[str, ...], workdir: Path, bug: PlantedBug | None) -> int:
    """pytest's exit status on `tests` against a copy of src/ (with `bug` planted), which
    PYTHONPATH puts ahead of the installed kanfair."""
    source = workdir / "src"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(REPO / "src", source, symlinks=True)
    if bug is not None:
        path = source / "kanfair" / bug.file
        text = path.read_text()
        if text.count(bug.line) != 1:
            sys.exit(f"check_planted_bugs: the line for '{bug.what}' is not (once) in "
                     f"src/kanfair/{bug.file}; update BUGS to the current source")
        path.write_text(text.replace(bug.line, bug.planted))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])}
    where = subprocess.run([sys.executable, "-c", "import kanfair; print(kanfair.__file__)"],
                           env=env, capture_output=True, text=True).stdout
    if not where.startswith(str(source)):
        sys.exit(f"check_planted_bugs: the tests would import {where.strip()}, not the copy")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "-m", "not slow", *tests], cwd=REPO, env=env, capture_output=True).returncode


def main() -> int:
    tests = tuple(sorted({test for bug in BUGS for test in bug.tests}))
    missed = 0
    with tempfile.TemporaryDirectory() as workdir:
        if run_tests(tests, Path(workdir), None) != 0:
            sys.exit("check_planted_bugs: the tests fail without any bug planted; fix that first")
        for bug in BUGS:
            ok = run_tests(bug.tests, Path(workdir), bug) == 1  # failed (2 would be an error)
            missed += not ok
            print(f"{'caught' if ok else 'MISSED'}: {bug.what} ({', '.join(bug.tests)})", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
