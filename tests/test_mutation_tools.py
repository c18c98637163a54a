"""The tools behind `make mutation`: the verdict on mutmut's results, and the planted bugs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import mutation_report  # noqa: E402

RESULTS = """\
    kanfair.trainer.x_fit__mutmut_1: killed
    kanfair.trainer.x_fit__mutmut_2: survived
    kanfair.trainer.x__select__mutmut_3: survived
    kanfair.results.x_finished_ok__mutmut_4: timeout
    kanfair.results.x_write_record__mutmut_5: survived
    kanfair.report.tables.x_markdown_table__mutmut_6: survived
    kanfair.cost.x_count__mutmut_7: survived
"""


def test_only_survivors_in_selection_and_storage_need_an_explanation(tmp_path, capsys):
    results = tmp_path / "results.txt"
    results.write_text(RESULTS)
    notes = tmp_path / "MUTANTS.md"
    notes.write_text("- `kanfair.trainer.x_fit__mutmut_2`: equivalent: a log line\n"
                     "- `kanfair.trainer.x__select__mutmut_3`: equivalent: ties\n")
    assert mutation_report.main(results, notes) == 1  # write_record's survivor is not explained
    out = capsys.readouterr().out
    assert "7 mutants: 5 survived, 1 killed, 1 timeout" in out
    assert "3 survive in the selection and storage functions; 2 explained" in out
    assert "kanfair.results.x_write_record__mutmut_5: UNEXPLAINED" in out
    assert "markdown_table" not in out and "x_count" not in out  # outside selection and storage
    notes.write_text(notes.read_text() + "- `kanfair.results.x_write_record__mutmut_5`: a message\n")
    assert mutation_report.main(results, notes) == 0
    results.write_text("")
    assert mutation_report.main(results, notes) == 1  # no results at all is not a pass


@pytest.mark.slow
def test_every_planted_selection_and_storage_bug_is_caught():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "check_planted_bugs.py")],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 6, done.stdout + done.stderr
    assert all(line.startswith("caught: ") for line in lines)
