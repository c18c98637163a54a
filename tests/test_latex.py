"""Paper-ready LaTeX: `kanfair-report --latex` writes booktabs tables whose marks are the
verdict's (the best in bold, a dagger on a family significantly worse, none on a tie),
whose names are escaped, whose caption names the budget and FLOP convention, and which
compile where pdflatex is installed; the committed tuned study's tables do too."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import kanfair
from kanfair.cli import report as report_cli
from test_report import write_run

REPO = Path(__file__).resolve().parents[1]
BEST, WORSE, TIED = [90.1, 91.0, 92.2, 89.4, 90.6], [70.3, 71.1, 69.0, 72.4, 70.2], [90.4, 89.9, 91.5, 90.2, 90.9]


def _with_budget(runs: Path) -> None:
    for path in runs.glob("*.json"):
        record = json.loads(path.read_text())
        record["budget"] = {"kind": "params", "target": 2000}
        path.write_text(json.dumps(record))


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("latex")
    runs = folder / "runs"
    for model, sample in {"mlp": BEST, "kan": WORSE, "cheby_kan": TIED}.items():
        for seed, value in enumerate(sample):
            write_run(runs, f"{model}-{seed}", model, seed, value, dataset="breast_cancer")
    _with_budget(runs)
    assert report_cli.main(["--runs", str(runs), "--out", str(folder / "out"), "--latex"]) == 0
    return (folder / "out" / "tables.tex").read_text(), runs


def _rows(tex: str, table: int) -> list[str]:
    body = tex.split(r"\begin{tabular}")[table + 1].split(r"\bottomrule")[0]
    return [row for row in body.split(r"\midrule")[1].strip().split("\\\\") if row.strip()]


def _balanced(tex: str) -> bool:
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack and tex.count("{") == tex.count("}")


def test_the_best_is_bold_a_significantly_worse_family_has_a_dagger_and_a_tie_has_none(tables):
    tex, _ = tables
    comparison, verdict = _rows(tex, 0), _rows(tex, 1)
    bold = [row for row in comparison if r"\textbf" in row]
    assert len(bold) == 1 and "& mlp &" in bold[0]
    by_model = {model: next(row for row in verdict if f"& {model} &" in row) for model in ("mlp", "kan", r"cheby\_kan")}
    assert r"\textbf{90.66 $\pm$ 1}" in by_model["mlp"]
    assert r"$^\dagger$" in by_model["kan"] and r"\textbf" not in by_model["kan"]
    assert r"$^\dagger$" not in by_model[r"cheby\_kan"] and r"\textbf" not in by_model[r"cheby\_kan"]


def test_names_are_escaped_and_the_caption_names_the_budget_and_convention(tables):
    tex, _ = tables
    assert "cheby_kan" not in tex and r"breast\_cancer" in tex
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    caption = tex.split(r"\caption{")[1].split("\n")[0]
    assert "At 2,000 params." in caption and "kanbefair convention" in caption
    assert "Test accuracy (\\%)" in caption
    assert _balanced(tex)


def test_the_api_gives_the_same_tables(tables):
    tex, runs = tables
    assert kanfair.latex_tables(runs.parent) == tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on this machine")
def test_the_tables_compile(tables, tmp_path):
    _compile(tables[0], tmp_path)


def _compile(tex: str, folder: Path) -> None:
    (folder / "tables.tex").write_text(tex)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (folder / "tables.pdf").stat().st_size > 1000


def test_the_balance_check_catches_an_unclosed_environment():
    assert not _balanced(r"\begin{table}\begin{tabular}{l}x\end{table}")
    assert not _balanced(r"\begin{table}{\textbf{x}\end{table}")


COMMITTED = REPO / "results" / "tuned_2k"


def test_the_committed_tuned_studys_tables_are_its_verdict(tmp_path):
    """results/tuned_2k/tables.tex, as `kanfair-report --latex` wrote it: the verdict table
    is verdict.csv rendered (a row per family and task, the marks as the verdict says), the
    comparison has a row per family and task of table.md, and it all compiles."""
    import pandas as pd

    from kanfair.report.latex import verdict_table

    tex = (COMMITTED / "tables.tex").read_text()
    verdict = pd.read_csv(COMMITTED / "verdict.csv")
    assert verdict_table(verdict) in tex and _balanced(tex)
    rows = _rows(tex, 1)
    table_rows = [line for line in (COMMITTED / "table.md").read_text().splitlines()
                  if line.startswith("| ") and not line.startswith("| dataset |")]
    assert len(rows) == len(verdict) and len(_rows(tex, 0)) == len(table_rows)
    assert sum(r"$^\dagger$" in row for row in rows) == (verdict.verdict == "significantly worse").sum() > 0
    assert sum(r"\textbf" in row for row in rows) == (verdict.verdict == "best").sum() == verdict.dataset.nunique()
    if shutil.which("pdflatex"):
        _compile(tex, tmp_path)


def test_two_seeds_get_no_dagger_and_no_interval(tmp_path):
    """Two seeds a side, 20 points apart: Welch's p is tiny, yet the LaTeX verdict marks no
    family (not tested) and shows no interval; its caption says why."""
    runs = tmp_path / "runs"
    for model, sample in {"mlp": [90.0, 91.0], "kan": [70.0, 71.5]}.items():
        for seed, value in enumerate(sample):
            write_run(runs, f"{model}-{seed}", model, seed, value, dataset="breast_cancer")
    _with_budget(runs)
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--latex"]) == 0
    tex = (tmp_path / "out" / "tables.tex").read_text()
    kan = next(row for row in _rows(tex, 1) if "& kan &" in row)
    assert not any(r"$^\dagger$" in row for row in _rows(tex, 1)) and "& n/a &" in kan
    assert "not tested, fewer than 3 per side" in tex
