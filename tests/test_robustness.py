"""kanfair-robust: a verdict's runs re-run under another CPU kernel set, and its claims
compared one by one (the committed fixture is a small tuned study: 3 families, 2 tasks,
2 repeats x 3 seeds, made with AVX2 kernels)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from kanfair.report.tables import runs_frame
from kanfair.studies.robustness import compare, verdict_sentences
from kanfair.report.verdict import verdict_frame
from test_verdict import STEADY, SHIFTING, write_repeated

FIXTURE = REPO / "tests" / "fixtures" / "tuned_study" / "runs"


def test_the_fixture_study_rerun_under_the_default_kernels_lists_its_claims(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "robust.py"), "--runs", str(FIXTURE),
                           "--out", str(tmp_path), "--kernel-set", "default", "--jobs", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    reruns = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert sorted(r["run_id"] for r in reruns) == sorted(p.stem for p in FIXTURE.glob("*.json"))  # the same runs
    assert {r["environment"]["cpu_kernel_set"] for r in reruns} == {"DEFAULT"}
    threads = {p.stem: json.loads(p.read_text())["environment"]["threads"] for p in FIXTURE.glob("*.json")}
    assert all(r["environment"]["threads"] == threads[r["run_id"]] for r in reruns)  # only the kernel set changes
    claims = pd.read_csv(tmp_path / "robustness.csv")
    assert len(claims) == 9  # 2 outcomes, 6 families' standings, 1 order of ranks
    text = (tmp_path / "robustness.md").read_text()
    assert f"Claims of the verdict that survive: {claims.survives.sum()} of 9." in text
    changed = text.split("## Claims that changed")[1].split("##")[0]
    survived = text.split("## Claims that survived")[1].split("##")[0]
    for row in claims.itertuples():
        assert f"- {row.claim}: " in (survived if row.survives else changed)
    assert "| 500 params | wine | cheby_kan |" in text and "ATEN_CPU_CAPABILITY=default (DEFAULT)" in text


def test_a_claim_that_a_rerun_overturns_is_listed_as_changed(tmp_path):
    write_repeated(tmp_path / "before", "steady", STEADY)
    write_repeated(tmp_path / "before", "shifting", SHIFTING)
    overturned = {"mlp": STEADY["kan"], "kan": STEADY["mlp"]}  # on rerun kan is the one that wins
    write_repeated(tmp_path / "after", "steady", overturned)
    write_repeated(tmp_path / "after", "shifting", SHIFTING)
    frame = lambda folder: runs_frame([json.loads(p.read_text()) for p in folder.glob("*.json")])  # noqa: E731
    sentences, families, runs = compare(frame(tmp_path / "before"), frame(tmp_path / "after"))
    changed = sentences[~sentences.survives].set_index("claim")
    assert list(changed.index) == ["none, steady", "none, steady, mlp", "none, steady, kan"]
    assert changed.loc["none, steady", "before"] == "mlp best; kan significantly worse"
    assert changed.loc["none, steady", "after"] == "kan best; mlp significantly worse"
    assert sentences.survives.sum() == 3  # shifting's outcome and both standings
    steady_kan = families[(families.dataset == "steady") & (families.model == "kan")].iloc[0]
    assert steady_kan.change == pytest.approx(np.mean(STEADY["mlp"]) / np.mean(STEADY["kan"]) - 1)
    assert (runs.test_metric_before != runs.test_metric_after).sum() == 30
    identical = families.set_index(["dataset", "model"]).identical
    assert identical.to_dict() == {("shifting", "mlp"): 15, ("shifting", "kan"): 15,
                                   ("steady", "mlp"): 0, ("steady", "kan"): 0} and set(families.runs) == {15}


def test_the_claims_are_the_verdicts_words():
    frame = verdict_frame(runs_frame([json.loads(p.read_text()) for p in FIXTURE.glob("*.json")]))
    said = verdict_sentences(frame)
    assert said["500 params, across data sets"].endswith("no significant difference in ranks")
    # the fixture study has 2 tuning repeats: fewer than 3 units, so nothing is tested
    assert said["500 params, wine"].endswith(" not tested (fewer than 3 repeats)")
    assert {said[f"500 params, wine, {m}"] for m in ("mlp", "kan", "cheby_kan")} == {"best", "not tested"}


@pytest.mark.parametrize("arguments, named", [
    (["--runs", "{empty}"], "--runs: no run records in"),
    (["--runs", str(FIXTURE), "--jobs", "0"], "--jobs must be >= 1 (got 0)"),
    (["--runs", str(FIXTURE), "--kernel-set", "sse"], "argument --kernel-set: invalid choice: 'sse'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, arguments, named):
    from kanfair.cli.robust import main

    (tmp_path / "empty").mkdir()
    argv = [a.format(empty=tmp_path / "empty") for a in arguments] + ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.splitlines() == [err] and named in err, err
    assert not (tmp_path / "out").exists()


def test_a_kernel_set_this_cpu_lacks_is_refused_before_any_rerun(tmp_path, capsys):
    """ATen would take the variable at its word and run kernels the CPU cannot execute."""
    import os

    from kanfair.cli.robust import main

    best = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                          env={k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"},
                          capture_output=True, text=True, check=True).stdout.strip()
    if best == "AVX512":
        pytest.skip("this CPU runs every kernel set")
    with pytest.raises(SystemExit):
        main(["--runs", str(FIXTURE), "--out", str(tmp_path / "out"), "--kernel-set", "avx512"])
    err = capsys.readouterr().err.strip()
    assert err == (f"kanfair: error: --kernel-set: asks for avx512, but the best this CPU has is "
                   f"{best}; choose a kernel set the CPU supports "
                   "(default always is)")
    assert not (tmp_path / "out").exists()


def test_an_out_folder_that_holds_the_compared_runs_is_refused(tmp_path, capsys):
    """`--runs X/runs --out X` once re-ran nothing (every run found done) and reported 4 of
    4 identical, 3 of 3 claims surviving: the records compared with themselves."""
    import shutil

    from kanfair.cli.robust import main

    study = tmp_path / "study"
    shutil.copytree(FIXTURE, study / "runs")
    with pytest.raises(SystemExit) as stop:
        main(["--runs", str(study / "runs"), "--out", str(study), "--kernel-set", "default"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.splitlines() == [err] and "compare against" in err, err
    assert not (study / "robustness.md").exists() and sorted(p.name for p in study.iterdir()) == ["runs"]
