"""Bad input, case by case: every CLI (train, size, report, data) stops with exit status
2, one line on stderr that names the key or the file at fault, no traceback, and leaves
the results store exactly as it was (every file's bytes hashed before and after).

The CLIs run in-process (their real `main`, argv as typed) so that 80 cases take seconds;
tests/test_cli.py runs the same entry points as subprocesses."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import kanfair

from conftest import call
from kanfair.cli import data as data_cli
from kanfair.cli import report as report_cli
from kanfair.cli import size as size_cli
from kanfair.cli import train as train_cli

GOOD_RECORD = {"run_id": "digits-mlp-s0-0123456789abcdef", "status": "ok", "dataset": "digits",
               "model": "mlp", "metric": "accuracy", "protocol": "val", "seed": 0, "hidden": [8],
               "model_spec": {"name": "mlp", "hidden": [8], "activation": "relu"}, "epochs": 1,
               "test_metric": 90.0, "val_metric": 88.0, "params": 610, "flops": 1200.0, "flops_convention": "kanbefair",
               "time_per_epoch_s": 0.1, "config": {"model": {"name": "mlp"}, "seed": 0}}


@pytest.fixture
def place(tmp_path: Path) -> dict[str, Path]:
    """A results store holding one good record, a data folder, and bad input files."""
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    (runs / f"{GOOD_RECORD['run_id']}.json").write_text(json.dumps(GOOD_RECORD))
    files = tmp_path / "files"
    files.mkdir()
    rows = "\n".join(f"{i},{i % 3}" for i in range(60))
    for name, content in {
        "empty.csv": b"", "header_only.csv": b"x,y\n", "binary.csv": bytes(range(256)) * 8,
        "ragged.csv": b"x,y\n1,2\n3,4,5,6\n7\n", "infinite.csv": f"x,y\n{rows}\ninf,1\n".encode(),
        "good.csv": f"x,y\n{rows}\n".encode(), "strings.csv": b"x,y\n" + b"".join(
            f"{i},{'ab'[i % 2]}\n".encode() for i in range(60)),
        "one_class.csv": b"x,y\n" + b"".join(f"{i},1\n".encode() for i in range(60)),
        "published.json": b'{"not": "a table"}', "other_columns.csv": b"a,b\n1,2\n",
        "dup_target.csv": b"a,b,y,y\n" + b"".join(f"{i},{i % 7},{i % 2},{i % 2}\n".encode() for i in range(60)),
        "missing_target.csv": f"x,y\n{rows}\n61,\n62,\n".encode(),
        "huge_feature.csv": f"x,y\n{rows}\n1e308,1\n".encode(),
        "huge_target.csv": f"x,y\n{rows}\n5,1e308\n".encode(),
        "numeric_target.csv": b"x,y\n" + b"".join(f"{i},{i * 0.37:.2f}\n".encode() for i in range(60)),
        "only_target.csv": b"y\n" + b"".join(f"{i % 2}\n".encode() for i in range(60)),
        "stray_space.csv": b"x,y \n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(60)),
        "empty_labels.csv": b"text,label\n" + b"".join(
            f"word{i} more,{'' if i % 5 == 0 else i % 2}\n".encode() for i in range(60)),
        "a_file": b"not a folder", "store_with_a_file/runs": b"runs should be a folder",
    }.items():
        (files / name).parent.mkdir(exist_ok=True)
        (files / name).write_bytes(content)
    return {"results": tmp_path / "results", "runs": runs, "files": files, "data": tmp_path / "data"}


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


CSV = "dataset=csv dataset.target=y dataset.path={files}/"
PDE = "dataset=pde_poisson2d dataset.pde.interior=50 dataset.pde.boundary=20 dataset.pde.eval_grid=5 "
TRAIN_CASES = {  # overrides: what the one line must name
    "unknown model": ("model=kann", "model"),
    "unknown dataset": ("dataset=fmnistt", "dataset"),
    "unknown trainer key": ("trainer.epoch=5", "trainer.epoch"),
    "unknown + key": ("+trainer.epoch=5", "trainer.epoch"),
    "unknown + group": ("+foo.bar=1", "foo"),
    "unparsable override": ("model.hidden=[1,2", "override"),
    "zero epochs": ("trainer.epochs=0", "trainer.epochs"),
    "negative epochs": ("trainer.epochs=-1", "trainer.epochs"),
    "negative lr": ("trainer.lr=-1", "trainer.lr"),
    "lr not a number": ("trainer.lr=abc", "trainer.lr"),
    "zero batch": ("trainer.batch_size=0", "trainer.batch_size"),
    "zero eval batch": ("trainer.eval_batch_size=0", "trainer.eval_batch_size"),
    "negative weight decay": ("trainer.weight_decay=-1", "trainer.weight_decay"),
    "unknown optimizer": ("trainer.optimizer=adamx", "trainer.optimizer"),
    "unknown protocol": ("trainer.protocol=best", "trainer.protocol"),
    "val fraction above 1": ("trainer.val_fraction=1.5", "trainer.val_fraction"),
    "val fraction 0": ("trainer.val_fraction=0", "trainer.val_fraction"),
    "val fraction too small for the classes": ("trainer.val_fraction=0.001", "trainer.val_fraction"),
    "unknown device": ("trainer.device=tpu", "trainer.device"),
    "cuda without CUDA": ("trainer.device=cuda", "trainer.device"),
    "negative threads": ("trainer.threads=-1", "trainer.threads"),
    "seed not a number": ("seed=abc", "seed"),
    "unknown budget": ("budget=paramz", "budget"),
    "budget without target": ("budget=params", "budget.target"),
    "budget 0": ("budget=params budget.target=0", "budget.target"),
    "negative budget": ("budget=params budget.target=-5", "budget.target"),
    "infinite budget": ("budget=params budget.target=inf", "budget.target"),
    "NaN budget": ("budget=params budget.target=nan", "budget.target"),
    "budget below the smallest model": ("budget=params budget.target=10", "budget.target"),
    "budget tolerance negative": ("budget=params budget.target=5000 budget.tolerance=-1", "budget.tolerance"),
    "unknown budget convention": ("budget=params budget.target=5000 budget.convention=foo", "budget.convention"),
    "unknown budget vary": ("budget=params budget.target=5000 budget.vary=depth", "budget.vary"),
    "budget.match not a model": ("budget=params budget.match=7", "budget.match"),
    "budget.match misspelt key": ("budget=params +budget.match.nam=kan", "budget.match"),
    "budget.match unknown family": ("budget=params +budget.match.name=kann", "budget.match"),
    "budget.match and target": ("budget=params budget.target=5000 +budget.match.name=mlp", "budget"),
    "hidden not integers": ("model.hidden=[a]", "model.hidden"),
    "hidden width 0": ("model.hidden=[0]", "model.hidden"),
    "hidden width negative": ("model.hidden=[-4]", "model.hidden"),
    "grid size 0": ("model=kan model.grid_size=0", "model.grid_size"),
    "grid size not a number": ("model=kan model.grid_size=abc", "model.grid_size"),
    "negative spline order": ("model=kan model.spline_order=-1", "model.spline_order"),
    "grid range reversed": ("model=kan model.grid_range=[1,-1]", "model.grid_range"),
    "grid range infinite": ("model=kan model.grid_range=[-inf,1]", "model.grid_range"),
    "grid range NaN": ("model=kan model.grid_range=[nan,1]", "model.grid_range"),
    "unknown shortcut": ("model=kan model.shortcut=tanhh", "model.shortcut"),
    "unknown activation": ("model.activation=foo", "model.activation"),
    "custom without target": ("model=custom", "model.target"),
    "custom module missing": ("model=custom model.target=no_such_module:build", "model.target"),
    "csv without path": ("dataset=csv", "dataset.path"),
    "csv missing file": (CSV + "missing.csv", "missing.csv"),
    "csv empty": (CSV + "empty.csv", "empty.csv"),
    "csv header only": (CSV + "header_only.csv", "header_only.csv"),
    "csv binary": (CSV + "binary.csv", "binary.csv"),
    "csv ragged": (CSV + "ragged.csv", "ragged.csv"),
    "csv infinite value": (CSV + "infinite.csv", "infinite.csv"),
    "csv target missing": ("dataset=csv dataset.target=z dataset.path={files}/good.csv", "dataset.target"),
    "csv string target as regression": (CSV + "strings.csv dataset.task=regression", "dataset.task"),
    "csv one class": (CSV + "one_class.csv", "dataset.target"),
    "unknown task kind": (CSV + "good.csv dataset.task=ranking", "dataset.task"),
    "unknown split": (CSV + "good.csv dataset.split=random", "dataset.split"),
    "task on a fixed data set": ("dataset.task=regression", "dataset.task"),
    "overlapping continual tasks": ("dataset.continual.tasks=[[0,1],[1,2]]", "dataset.continual.tasks"),
    "continual class not in data": ("dataset.continual.tasks=[[0,1],[42]]", "dataset.continual.tasks"),
    "empty continual task": ("dataset.continual.tasks=[[0,1],[]]", "dataset.continual.tasks"),
    "unknown download mode": ("dataset=mnist dataset.download=sometimes", "dataset.download"),
    "vision data missing offline": ("dataset=mnist dataset.download=never", "mnist"),
    "unknown source": ("dataset=imdb dataset.source=kaggle", "dataset.source"),
    "results dir is a file": ("paths.results_dir={files}/a_file", "a_file"),
    "the store's runs is a file": ("paths.results_dir={files}/store_with_a_file", "store_with_a_file/runs"),
    # issue 26: inputs that gave a silent wrong result or a message naming no key
    "duplicated target column": (CSV + "dup_target.csv", "dup_target.csv"),
    "empty target cells": (CSV + "missing_target.csv", "dataset.target"),
    "infinite lr": ("trainer.lr=inf", "trainer.lr"),
    "NaN lr": ("trainer.lr=nan", "trainer.lr"),
    "infinite weight decay": ("trainer.weight_decay=inf", "trainer.weight_decay"),
    "a feature overflowing float32": (CSV + "huge_feature.csv", "overflows float32"),
    "a regression target overflowing float32": (CSV + "huge_target.csv dataset.task=regression",
                                                "overflows float32"),
    "target on a bundled set": ("dataset.target=y", "dataset.target"),
    "path on a bundled set": ("dataset.path={files}/good.csv", "dataset.path"),
    "audio features on a table": ("dataset.features=mfcc", "dataset.features"),
    "budget target without a budget": ("budget.target=5000", "budget.target"),
    "val fraction under kanbefair": ("trainer.protocol=kanbefair trainer.val_fraction=0.2", "trainer.val_fraction"),
    "val seed under kanbefair": ("trainer.protocol=kanbefair trainer.val_seed=3", "trainer.val_seed"),
    "negative val seed": ("trainer.val_seed=-1", "trainer.val_seed"),
    "negative split seed": (CSV + "good.csv dataset.split_seed=-1", "dataset.split_seed"),
    "seed beyond 32 bits": ("seed=99999999999999999999", "seed"),
    "negative seed": ("seed=-1", "seed"),
    "numeric target read as classes": (CSV + "numeric_target.csv", "dataset.task=regression"),
    "a model without parameters": ("model=custom model.target=tests.custom_models:no_parameters",
                                   "no trainable parameters"),
    "a free-form dict set whole": ("model=custom model.target=tests.custom_models:tanh_net model.kwargs={{norm:true}}",
                                   "+model.kwargs.norm"),
    "a flop budget on a lower bound": ("model=custom model.target=tests.custom_models:elementwise_net "
                                       "budget=flops budget.target=5000", "model.elementwise_flops"),
    # issue 29: physics-informed tasks
    "batch size on a PDE task": (PDE + "model.activation=tanh trainer.batch_size=64", "trainer.batch_size"),
    "protocol on a PDE task": (PDE + "model.activation=tanh trainer.protocol=kanbefair", "trainer.protocol"),
    "train scoring on a PDE task": (PDE + "model.activation=tanh trainer.eval_train=every", "trainer.eval_train"),
    "relu MLP on a PDE task": (PDE, "model.activation"),
    "batch norm on a PDE task": (PDE + "model.activation=tanh model.batch_norm=true", "model.batch_norm"),
    "linear splines on a PDE task": (PDE + "model=kan model.spline_order=1", "model.spline_order"),
    "zero loss weight": (PDE + "model.activation=tanh dataset.pde.weights.boundary=0",
                         "dataset.pde.weights.boundary"),
    "negative loss weight": (PDE + "model.activation=tanh dataset.pde.weights.residual=-1",
                             "dataset.pde.weights.residual"),
    "a loss term without weight": (PDE + "model.activation=tanh ~dataset.pde.weights.boundary",
                                   "dataset.pde.weights"),
    "an unknown loss term": (PDE + "model.activation=tanh +dataset.pde.weights.initial=1", "dataset.pde.weights"),
    "initial points on a steady task": (PDE + "model.activation=tanh dataset.pde.initial=10", "dataset.pde.initial"),
    "one collocation point": (PDE + "model.activation=tanh dataset.pde.interior=1", "dataset.pde.interior"),
    "PDE keys on a table": ("dataset.pde.interior=100", "dataset.pde"),
    "eval_every 0": ("trainer.eval_every=0", "trainer.eval_every"),
    # issue 47: silent or unclear on the new paths
    "an evaluation grid where u is 0": ("dataset=pde_poisson2d dataset.pde.interior=50 dataset.pde.boundary=20 "
                                        "model.activation=tanh dataset.pde.eval_grid=3", "dataset.pde.eval_grid"),
    "a comma list without -m": ("seed=0,1", "add -m (--multirun)"),
    "a table of its target alone": (CSV + "only_target.csv", "no column besides its target 'y'"),
    "a header with a stray space": (CSV + "stray_space.csv", "its columns are 'x', 'y ' (did you mean 'y '?"),
    "empty text labels": ("dataset=text_csv dataset.path={files}/empty_labels.csv", "dataset.label_column"),
    "an R package not here": ("dataset=rdata dataset.package=nosuchpkg dataset.object=x dataset.target=y",
                              "prepare rdata --package nosuchpkg"),
    "weight decay under LBFGS": ("trainer.optimizer=lbfgs trainer.weight_decay=0.1", "trainer.weight_decay"),
    "unknown dtype": ("trainer.dtype=float16", "trainer.dtype"),
}


@pytest.mark.parametrize("overrides, names", TRAIN_CASES.values(), ids=TRAIN_CASES.keys())
def test_train_refuses_bad_input_in_one_line(place, overrides, names):
    before = fingerprint(place["results"] / "runs")
    words = overrides.format(files=place["files"]).split()
    results = [w for w in words if w.startswith("paths.results_dir=")] or [f"paths.results_dir={place['results']}"]
    argv = ["train.py", "dataset=digits", "model=mlp", "model.hidden=[8]", "trainer.epochs=1",
            f"paths.data_dir={place['data']}", *results, *[w for w in words if w not in results]]
    status, err = call(train_cli.main, argv)
    assert_one_line(status, err, names)
    assert fingerprint(place["results"] / "runs") == before


SIZE_CASES = {
    "negative in_dim": ("in_dim=-5 out_dim=10", "in_dim"),
    "zero in_dim": ("in_dim=0 out_dim=10", "in_dim"),
    "zero out_dim": ("in_dim=10 out_dim=0", "out_dim"),
    "in_dim not a number": ("in_dim=abc out_dim=10", "in_dim"),
    "unknown model": ("model=kann", "model"),
    "infinite target": ("budget=params budget.target=inf", "budget.target"),
    "target not a number": ("budget=params budget.target=abc", "budget.target"),
    "impossible target": ("budget=params budget.target=3", "budget.target"),
    "unknown dataset": ("dataset=fmnistt", "dataset"),
}


@pytest.mark.parametrize("overrides, names", SIZE_CASES.values(), ids=SIZE_CASES.keys())
def test_size_refuses_bad_input_in_one_line(overrides, names):
    status, err = call(size_cli.main, ["size.py", "model=kan", *overrides.split()])
    assert_one_line(status, err, names)


REPORT_CASES = {
    "runs folder missing": ("--runs {tmp}/nowhere", "nowhere"),
    "runs folder empty": ("--runs {files}/../empty_runs", "empty_runs"),
    "out is a file": ("--out {files}/a_file", "a_file"),
    "published is JSON": ("--published {files}/published.json", "published.json"),
    "published has other columns": ("--published {files}/other_columns.csv", "other_columns.csv"),
    "published missing": ("--published {files}/nope.csv", "nope.csv"),
    "unknown cost axis": ("--by money", "--by"),
    "unknown group column": ("--group colour", "colour"),
    "unknown option": ("--verdikt", "--verdikt"),
}


@pytest.mark.parametrize("arguments, names", REPORT_CASES.values(), ids=REPORT_CASES.keys())
def test_report_refuses_bad_input_in_one_line(place, tmp_path, arguments, names):
    (place["files"] / ".." / "empty_runs").mkdir(exist_ok=True)
    before = fingerprint(place["runs"])
    words = arguments.format(files=place["files"], tmp=tmp_path).split()
    defaults = ["--runs", str(place["runs"]), "--out", str(tmp_path / "report")]
    if "--runs" in words:
        defaults = defaults[2:]
    if "--out" in words:
        defaults = defaults[:-2] if defaults[0] == "--runs" else []
    status, err = call(report_cli.main, ["report.py", *defaults, *words])
    assert_one_line(status, err, names)
    assert fingerprint(place["runs"]) == before


DATA_CASES = {
    "unknown task": ("prepare nosuchset", "nosuchset"),
    "no command": ("", "command"),
    "unknown command": ("fetch mnist", "fetch"),
    "prepare without names": ("prepare", "names"),
    "titanic needs Kaggle's file": ("prepare titanic", "titanic"),
    "urbansound8k needs its archive": ("prepare urbansound8k", "urbansound8k"),
    "csv is your own file": ("prepare csv", "dataset.path"),
    "text_csv is your own file": ("prepare text_csv", "dataset.path"),
}


@pytest.mark.parametrize("arguments, names", DATA_CASES.values(), ids=DATA_CASES.keys())
def test_data_cli_refuses_bad_input_in_one_line(place, arguments, names):
    status, err = call(data_cli.main, ["data", "--data-dir", str(place["data"]), *arguments.split()])
    assert_one_line(status, err, names)
    leftovers = [p for p in place["data"].rglob("*")] if place["data"].exists() else []
    assert not leftovers, f"a failed prepare left {leftovers}"


def test_the_table_is_at_least_sixty_cases():
    assert len(TRAIN_CASES) + len(SIZE_CASES) + len(REPORT_CASES) + len(DATA_CASES) >= 60


def assert_one_line(status, err: str, names: str) -> None:
    lines = err.strip().splitlines()
    assert status == 2, f"exit {status}: {err}"
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("kanfair: error:"), err
    assert names in lines[0], f"the line does not name {names!r}: {lines[0]}"


API_CASES = {
    "run given one string": (lambda out: kanfair.run("model=kan"), "overrides"),
    "run with a misspelt key": (lambda out: kanfair.run(["model.hiden=[3]", f"paths.results_dir={out}"]),
                                "unknown config key 'model.hiden'"),
    "compare no models": (lambda out: kanfair.compare([], results_dir=str(out)), "models"),
    "compare no seeds": (lambda out: kanfair.compare(["mlp"], seeds=[], results_dir=str(out)), "seeds"),
    "compare an unknown model": (lambda out: kanfair.compare(["mlp", "kann"], "iris", results_dir=str(out)),
                                 "unknown model 'kann'"),
    "compare 0 params": (lambda out: kanfair.compare(["mlp"], "iris", params=0, results_dir=str(out)), "params"),
}


@pytest.mark.parametrize("call_api, words", API_CASES.values(), ids=API_CASES.keys())
def test_the_api_raises_kanfairs_own_error_before_training(tmp_path, call_api, words):
    """A ConfigError naming the argument or key, never a traceback from inside Hydra or a
    run, and nothing trained (an unknown model in compare is found before the others run)."""
    from kanfair.schema import ConfigError

    with pytest.raises(ConfigError) as raised:
        call_api(tmp_path)
    assert words in str(raised.value) and "+model" not in str(raised.value)
    assert not (tmp_path / "runs").exists()


def test_load_runs_refuses_a_missing_folder_and_a_file(place):
    with pytest.raises(FileNotFoundError, match="not a folder of run records"):
        kanfair.load_runs(place["results"] / "nowhere")
    with pytest.raises(FileNotFoundError, match="not a folder of run records"):
        kanfair.load_runs(next(place["runs"].glob("*.json")))
    assert len(kanfair.load_runs(place["results"])) == 1


TUNE_CASES = {
    "search range reversed": ("tune.space.trainer.lr.low=1 tune.space.trainer.lr.high=0.01", "tune.space.trainer.lr"),
    "storage URL that does not parse": ("tune.storage=nosuchdb://x", "tune.storage"),
    "negative sampler seed": ("tune.sampler_seed=-1", "tune.sampler_seed"),
    "no repeats": ("tune.repeats=0", "tune.repeats"),
    "a repeat label set by hand": ("tune.repeat=1", "tune.repeat"),
    "a PDE task (no validation split)": ("dataset=pde_poisson2d", "PDE task"),
    # issue 47
    "no choices": ("tune.space.model.activation={choices:[]}", "tune.space.model.activation"),
    "repeats beyond the bound": ("tune.repeats=100000000000000000000", "tune.repeats"),
    "trials beyond the bound": ("tune.trials=1000000", "tune.trials"),
    "seeds beyond the bound": ("tune.seeds=1000", "tune.seeds"),
}


@pytest.mark.parametrize("overrides, names", TUNE_CASES.values(), ids=TUNE_CASES.keys())
def test_tune_refuses_bad_input_in_one_line(place, overrides, names):
    from kanfair.cli import tune as tune_cli

    before = fingerprint(place["results"])
    argv = ["tune.py", "model=mlp", "dataset=iris", "budget.target=500", "tune.trials=1", "tune.seeds=1",
            "trainer.epochs=1", f"paths.results_dir={place['results']}", *overrides.split()]
    status, err = call(tune_cli.main, argv)
    assert_one_line(status, err, names)
    assert {k: v for k, v in fingerprint(place["results"]).items() if not k.startswith("jobs")} == before


def test_a_full_disk_is_named_with_the_path(place, monkeypatch):
    """A full disk surfaces in write or fsync as a bare "[Errno 28] No space left on device":
    the line names the file kanfair could not write, and no temporary file is left."""
    import os

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    before = fingerprint(place["results"] / "runs")
    status, err = call(train_cli.main, ["train.py", "dataset=iris", "model=mlp", "model.hidden=[8]",
                                        "trainer.epochs=1", f"paths.results_dir={place['results']}"])
    assert_one_line(status, err, "No space left on device: " + str(place["runs"]))
    assert fingerprint(place["results"] / "runs") == before


ADVICE = {  # a refusal, the advice its line gives, and the command that follows it
    "quote the stray space": (CSV + "stray_space.csv", "write dataset.target='y '",
                              CSV + "stray_space.csv dataset.target='y '"),
    "a grid where u is not 0": ("dataset=pde_poisson2d dataset.pde.interior=50 dataset.pde.boundary=20 "
                                "model.activation=tanh dataset.pde.eval_grid=3", "set e.g. dataset.pde.eval_grid=64",
                                "dataset=pde_poisson2d dataset.pde.interior=50 dataset.pde.boundary=20 "
                                "model.activation=tanh dataset.pde.eval_grid=64"),
    "sweep with -m": ("seed=0,1", "add -m (--multirun)", "-m seed=0,1"),
}


@pytest.mark.parametrize("bad, advice, followed", ADVICE.values(), ids=ADVICE.keys())
def test_the_advice_of_a_refusal_runs(place, bad, advice, followed):
    """Issue 47: advice is tested by following it (rdata once sent the user round a loop of
    three refusals)."""
    base = ["train.py", "dataset=digits", "model=mlp", "model.hidden=[8]", "trainer.epochs=1",
            f"paths.data_dir={place['data']}", f"paths.results_dir={place['results']}"]
    words = lambda text: text.format(files=place["files"]).replace("'y '", "'y_'").split()  # noqa: E731
    status, err = call(train_cli.main, [*base, *[w.replace("'y_'", "'y '") for w in words(bad)]])
    assert status == 2 and advice in err, err
    status, err = call(train_cli.main, [*base, *[w.replace("'y_'", "'y '") for w in words(followed)]])
    assert status == 0, err


def test_an_r_package_not_here_advises_a_prepare_that_extracts_it(place, monkeypatch):
    """`dataset=rdata` once advised `prepare rdata`, which refused and advised dataset.path,
    which rdata refuses: now the advice names the package, and `prepare` extracts it."""
    import re

    from kanfair.data import rpackages

    status, err = call(train_cli.main, ["train.py", "dataset=rdata", "dataset.package=nosuchpkg", "dataset.object=x",
                                        "dataset.target=y", f"paths.data_dir={place['data']}",
                                        f"paths.results_dir={place['results']}"])
    command = re.search(r"`python -m kanfair.cli.data (.*?)`", err).group(1).split()
    extracted = []
    monkeypatch.setattr(rpackages, "extract_debian_package",
                        lambda package, data_dir: extracted.append((package, str(data_dir))) or Path(data_dir))
    assert data_cli.main(command) == 0 and extracted == [("nosuchpkg", str(place["data"]))]


def test_tuning_the_tanh_mlp_reaches_the_pde_refusal_and_keeps_tanh(place, tmp_path):
    """`kanfair-tune model=mlp_tanh` once stopped at "unknown search 'mlp_tanh'" (and
    search=mlp tuned the activation away from tanh)."""
    from kanfair.cli import tune as tune_cli

    argv = ["tune.py", "model=mlp_tanh", "budget.target=300", "tune.trials=2", "tune.seeds=1", "trainer.epochs=1",
            f"paths.results_dir={tmp_path / 'out'}"]
    status, err = call(tune_cli.main, [*argv, "dataset=pde_poisson2d"])
    assert status == 2 and "PDE task" in err, err
    status, err = call(tune_cli.main, [*argv, "dataset=iris"])
    assert status == 0, err
    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*.json")]
    assert len(records) == 3 and {r["model_spec"]["activation"] for r in records} == {"tanh"}


def test_a_full_disk_after_the_record_is_stored_still_prints_the_summary(place, monkeypatch, capsys):
    """Issue 47: the ok record was stored, then the job folder's copy hit a full disk, and the
    run exited 2 without its summary line: the user could not tell the run had finished."""
    from kanfair import runner

    def full(record, job_dir):
        raise OSError(28, "No space left on device", str(Path(job_dir) / "result.json"))

    monkeypatch.setattr(runner, "write_job_copy", full)
    from conftest import compose_config

    cfg = compose_config("dataset=iris", "model=mlp", "model.hidden=[8]", "trainer.epochs=1",
                         f"paths.results_dir={place['results']}")
    with pytest.raises(OSError, match="No space left"):
        runner.run(cfg, job_dir=str(place["results"] / "job"))
    out = capsys.readouterr().out
    assert "kanfair: ok | mlp [8] on iris" in out
    assert len(list(place["runs"].glob("iris-mlp-*.json"))) == 1


def test_the_advice_on_empty_choices_runs(place, tmp_path):
    """`tune.space.<key>={choices: []}` advises removing the key with ~: that study runs."""
    from kanfair.cli import tune as tune_cli

    argv = ["tune.py", "model=mlp", "dataset=iris", "budget.target=300", "tune.trials=1", "tune.seeds=1",
            "trainer.epochs=1", f"paths.results_dir={tmp_path / 'out'}"]
    status, err = call(tune_cli.main, [*argv, "tune.space.model.activation={choices:[]}"])
    assert status == 2 and "remove it with ~tune.space.model.activation" in err, err
    status, err = call(tune_cli.main, [*argv, "~tune.space.model.activation"])
    assert status == 0, err
