"""Reports: aggregation over seeds, the best family, not-ok runs, plots, the paper's values."""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pandas as pd
import pytest

from kanfair.report import tables
from kanfair.cli import report as report_cli


def write_run(runs: Path, run_id: str, model: str, seed: int, value, status: str = "ok",
              hidden=(16,), params: int = 100, flops: float = 1000.0, dataset: str = "fmnist",
              metric: str = "accuracy", grid: int = 5, lr: float = 1e-3, protocol: str = "kanbefair",
              extra: dict | None = None, tune: dict | None = None, **fields) -> None:
    config = {"model": {"name": model, "hidden": list(hidden), "grid_range": [-2.0, 2.0]},
              "dataset": {"name": dataset}, "trainer": {"lr": lr, "epochs": 20}, "seed": seed,
              "paths": {"results_dir": "x"}, **({"tune": tune} if tune else {})}
    spec = {"name": model, "hidden": list(hidden)}
    if model == "kan":
        spec.update(grid_size=grid, spline_order=3, shortcut="silu")
    else:
        spec.update(activation="relu")
    if protocol == "val" and status == "ok":  # a val record holds the metric it was selected on
        fields.setdefault("val_metric", value)
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{run_id}.json").write_text(json.dumps({
        "run_id": run_id, "status": status, "message": "nan loss" if status != "ok" else "",
        "dataset": dataset, "model": model, "metric": metric, "protocol": protocol, "seed": seed,
        "hidden": list(hidden), "model_spec": spec, "epochs": 20, "test_metric": value,
        "params": params, "flops": flops, "flops_convention": "kanbefair", "time_per_epoch_s": 0.5,
        "config": config, "extra": extra or {}, **fields}))


@pytest.fixture
def runs(tmp_path) -> Path:
    folder = tmp_path / "runs"
    for seed, (kan, mlp) in enumerate([(80.0, 85.0), (82.0, 87.0)]):
        write_run(folder, f"k{seed}", "kan", seed, kan, params=500, flops=9000)
        write_run(folder, f"m{seed}", "mlp", seed, mlp, params=800, flops=1600)
        write_run(folder, f"kbig{seed}", "kan", seed, 60.0 + seed, hidden=(32,), params=1000)
    write_run(folder, "bad", "kan", 7, None, status="diverged")
    return folder


def test_table_has_one_row_per_family_with_mean_and_std_over_seeds(runs, tmp_path):
    written = tables.write_report(runs, tmp_path / "out")
    assert {p.name for p in written} == {"table.md", "table.csv", "pareto_params.png", "pareto_flops.png"}
    text = (tmp_path / "out" / "table.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| fmnist")]
    assert len(rows) == 2
    mlp_mean, mlp_std = statistics.mean([85.0, 87.0]), statistics.stdev([85.0, 87.0])
    assert f"**{mlp_mean:.4g} ± {mlp_std:.2g}**" in rows[0] and "| mlp |" in rows[0]
    assert "81 ± 1.4" in rows[1] and "| 16 |" in rows[1]  # kan's best configuration, not [32]
    assert "Runs not ok: 1 of 7." in text and "- bad: diverged (nan loss)" in text
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert len(table) == 3 and set(table.seeds) == {2}
    assert all((tmp_path / "out" / name).stat().st_size > 10_000
               for name in ("pareto_params.png", "pareto_flops.png"))


def test_error_metrics_pick_the_lowest(tmp_path):
    folder = tmp_path / "runs"
    write_run(folder, "a", "kan", 0, 0.01, dataset="special_jv", metric="kanbefair_rmse")
    write_run(folder, "b", "mlp", 0, 0.02, dataset="special_jv", metric="kanbefair_rmse")
    best = tables.best_per_family(tables.summarise(tables.load_records(folder)))
    assert best.set_index("model").best.to_dict() == {"kan": True, "mlp": False}


def test_plots_put_errors_on_a_log_axis_and_accuracies_on_a_linear_one(runs, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    scales: dict[str, str] = {}  # dataset -> y scale of its plots
    close = plt.close

    def record_then_close(figure) -> None:
        axes = figure.axes[0]
        scales[axes.get_title().split(",")[0]] = axes.get_yscale()
        close(figure)

    monkeypatch.setattr(plt, "close", record_then_close)
    write_run(runs, "e1", "kan", 0, 1e-4, dataset="special_jv", metric="kanbefair_rmse")
    write_run(runs, "e2", "mlp", 0, 1e-2, dataset="special_jv", metric="kanbefair_rmse")
    tables.write_report(runs, tmp_path / "out")
    assert scales == {"special_jv": "log", "fmnist": "linear"}


def test_several_datasets_get_a_folder_of_plots_each(runs, tmp_path):
    write_run(runs, "other", "mlp", 0, 50.0, dataset="mnist")
    tables.write_report(runs, tmp_path / "out")
    assert (tmp_path / "out" / "mnist" / "pareto_flops.png").exists()
    assert (tmp_path / "out" / "fmnist" / "pareto_params.png").exists()


def test_published_values_sit_beside_the_same_configuration(runs, tmp_path):
    paper = tmp_path / "published.csv"
    paper.write_text(
        "timestamp,dataset,model,hidden,batch_norm,activation,batch_size,epochs,lr,seed,grid_size,"
        "spline_order,shortcut,grid_range,train_metric,test_metric,num_parameters,flops,total_time_s,"
        "time_per_epoch_s\n"
        "t,FMNIST,KAN,16,False,gelu,128,20,0.001,1314,5,3,silu,-2.0_2.0,0,84.0,0,0,0,0\n"
        "t,FMNIST,KAN,16,False,gelu,128,20,0.001,521,5,3,silu,-2.0_2.0,0,86.0,0,0,0,0\n"
        "t,FMNIST,KAN,16,False,gelu,128,20,0.001,1314,5,3,zero,-2.0_2.0,0,10.0,0,0,0,0\n"
        "t,FMNIST,MLP,16,False,relu,128,20,0.001,1314,,,,,0,99.0,0,0,0,0\n")
    summary = tables.attach_published(tables.summarise(tables.load_records(runs)), paper)
    by_config = summary.set_index(["model", "hidden"]).paper.to_dict()
    assert by_config[("kan", "16")] == 85.0  # mean of the two seeds; the zero-shortcut row differs
    assert pd.isna(by_config[("kan", "32")]) and by_config[("mlp", "16")] == 99.0
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "o"), "--published", str(paper)]) == 0
    text = (tmp_path / "o" / "table.md").read_text()
    assert "| paper |" in text
    # kan [16]: 81 vs 85 -> -4, ratio 81/85; mlp [16]: 86 vs 99 -> -13, ratio 86/99
    assert "| fmnist | kan | 1 | -4 | [-4, -4] | 0.953 | 81 | 85 |" in text
    assert "| fmnist | mlp | 1 | -13 | [-13, -13] | 0.869 | 86 | 99 |" in text


def test_group_splits_families_and_bad_input_is_one_line(runs, tmp_path, capsys):
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "g"), "--group", "hidden"]) == 0
    assert "kan:32" in (tmp_path / "g" / "table.md").read_text()
    with pytest.raises(SystemExit) as stop:  # the other bad arguments: tests/test_bad_input.py
        report_cli.main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().startswith("kanfair: error: no run records")


@pytest.mark.parametrize("content, why", [
    ("{truncated", "not a readable record (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("", "not a readable record (Expecting value: line 1 column 1 (char 0))"),
    ("[]", "not a JSON object"), ("null", "not a JSON object"),
    ('{"run_id": "x", "status": "ok"}', "no dataset, model, metric, protocol, seed, hidden, epochs, test_metric, params"),
])
def test_one_bad_record_file_is_named_and_skipped_not_fatal(runs, tmp_path, capsys, content, why):
    (runs / "bad.json").write_text(content)
    assert report_cli.main(["--runs", str(runs), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"kanfair: skipped {runs / 'bad.json'}: {why}"]
    assert "| fmnist | mlp |" in (tmp_path / "out" / "table.md").read_text()


def test_continual_report_gives_each_configuration_and_family_its_forgetting(tmp_path):
    """Two seeds of two KAN configurations and three of one MLP; the seed means, the family
    medians and the rank test are worked out by hand: the KAN's four runs all forget more than the
    MLP's three (the third at -60, so the MLP's mean and median differ), so U = 0 and the exact two-sided p is 2 / C(7, 3) = 2/35."""
    folder = tmp_path / "runs"
    transfers = {("kan", (4,)): [(-90.0, 30.0), (-80.0, 32.0)], ("kan", (16,)): [(-70.0, 40.0), (-62.0, 44.0)],
                 ("mlp", (32,)): [(-10.0, 50.0), (-20.0, 54.0)]}
    for (model, hidden), seeds in transfers.items():
        for seed, (transfer, accuracy) in enumerate(seeds):
            write_run(folder, f"{model}{hidden[0]}-{seed}", model, seed, accuracy, hidden=hidden,
                      protocol="continual", extra={"continual": {"backward_transfer": transfer}},
                      params=100 * hidden[0])
    write_run(folder, "mlp-extra", "mlp", 5, 55.0, hidden=(32,), protocol="continual",
              extra={"continual": {"backward_transfer": -60.0}}, params=3200)
    write_run(folder, "diverged", "mlp", 6, None, hidden=(32,), protocol="continual", status="diverged",
              extra={"continual": {"backward_transfer": None}}, params=3200)  # not counted
    write_run(folder, "not-continual", "mlp", 0, 99.0, hidden=(32,), params=3200)  # not in continual.md
    written = tables.write_report(folder, tmp_path / "out")
    assert tmp_path / "out" / "continual.md" in written
    text = (tmp_path / "out" / "continual.md").read_text()
    assert "| fmnist | kan | 4 | G5 K3 | 400 | 2 | 31.00 | -85.00 |" in text
    assert "| fmnist | kan | 16 | G5 K3 | 1,600 | 2 | 42.00 | -66.00 |" in text
    assert "| fmnist | mlp | 32 | relu | 3,200 | 3 | 53.00 | -30.00 |" in text  # a mean, not a median
    assert "| fmnist | kan | 2 | 36.50 [31.00, 42.00] | -75.50 [-85.00, -66.00] |" in text
    assert f"kan median -75.00 (4 runs) vs mlp median -20.00 (3 runs), p = {2 / 35:.2g}" in text


def test_the_same_config_on_other_data_is_another_configuration():
    """A user's file that changed is a new configuration in the tables, as it is a new run."""
    config = {"model": {"name": "mlp"}, "seed": 0}
    same = tables.configuration_key({**config, "seed": 1})
    assert tables.configuration_key(config) == same  # seeds aggregate
    assert tables.configuration_key(config, {"name": "digits", "version": 1}) == same
    assert tables.configuration_key(config, {"file": "t.csv", "sha256": "ab"}) != same
    assert (tables.configuration_key(config, {"file": "t.csv", "sha256": "ab"})
            != tables.configuration_key(config, {"file": "t.csv", "sha256": "cd"}))


def test_a_family_tuned_in_several_repeats_is_one_row_over_all_of_them(tmp_path):
    """Picking the repeat whose finals have the best test mean would select on the test set:
    the row is the tuning process, every repeat's finals pooled, its configurations listed."""
    runs = tmp_path / "runs"
    for repeat, (width, values) in enumerate([(16, (80.0, 82.0)), (32, (90.0, 92.0))]):
        for seed, value in enumerate(values):
            write_run(runs, f"k{repeat}{seed}", "kan", seed, value, hidden=(width,), protocol="val",
                      tune={"phase": "final", "repeat": repeat, "study": f"s{repeat}"})
    for seed, value in enumerate((87.0, 88.0)):
        write_run(runs, f"m{seed}", "mlp", seed, value, protocol="val", tune={"phase": "final", "study": "m"})
    text = (tables.write_report(runs, tmp_path / "out")[0]).read_text()
    kan = next(line for line in text.splitlines() if "| kan |" in line)
    assert f"accuracy {statistics.mean([80, 82, 90, 92]):.4g} ± {statistics.stdev([80, 82, 90, 92]):.2g} | 4 | 16 / 32 |" in kan
    assert "accuracy **87.5 ± 0.71** | 2 |" in text  # the MLP beats the pooled KAN (86), not its best repeat (91)


def test_physics_runs_get_errors_divergence_counts_and_curves_per_budget(tmp_path):
    """Two KAN seeds (L2RE 0.01, 0.03), a diverged third (its errors from before it
    diverged: not counted) and a failed fourth, three MLP seeds (0.02, 0.02, 0.05), one MLP at
    another budget: the means, stds and counts are worked out by hand, best L2RE first."""
    folder = tmp_path / "runs"

    def physics_run(run_id, model, seed, l2re, status="ok", budget=300, hidden=(10,)):
        errors = {} if l2re is None else {"l2re": l2re, "mse": l2re / 1000, "h1_sq": l2re / 10}
        history = [{"epoch": e, "test_l2re": l2re or 1.0, "train_time_s": e / 2} for e in (50, 100)]
        write_run(folder, run_id, model, seed, l2re, status=status, dataset="pde_poisson2d", metric="l2re",
                  protocol="physics", hidden=hidden, params=311, budget={"target": budget, "kind": "params"},
                  test_metrics=errors, best_epoch=None if l2re is None else 90 + 10 * seed,
                  epochs_run=100 if status == "ok" else 10, train_time_s=50.0 if status == "ok" else 5.0,
                  history=history)

    physics_run("k0", "kan", 0, 0.01)
    physics_run("k1", "kan", 1, 0.03)
    physics_run("k2", "kan", 2, 0.9, status="diverged")
    physics_run("k3", "kan", 3, None, status="failed")
    for seed, value in enumerate((0.02, 0.02, 0.05)):
        physics_run(f"m{seed}", "mlp", seed, value, hidden=(75,))
    physics_run("big", "mlp", 0, 0.004, budget=2000, hidden=(40, 40))
    written = tables.write_report(folder, tmp_path / "out")
    text = (tmp_path / "out" / "pde.md").read_text()
    assert "| kan | 10 | 311 | 0.02 ± 0.014 | 2e-05 | 0.002 | 1 of 4, 1 failed | 95 | 0.5 |" in text
    assert "| mlp | 75 | 311 | 0.03 ± 0.017 | 3e-05 | 0.003 | 0 of 3 | 100 | 0.5 |" in text
    assert text.index("| kan |") < text.index("| mlp | 75")  # the lower error first
    assert "## pde_poisson2d, at 2,000 params" in text and "| mlp | 40_40 | 311 | 0.004 ± n/a |" in text
    for budget in ("300", "2000"):
        assert tmp_path / "out" / f"curves_pde_poisson2d_{budget}_params.png" in written
        assert (tmp_path / "out" / f"curves_pde_poisson2d_{budget}_params.png").stat().st_size > 0


TWO_BUDGETS = {  # (model, budget target or None, params, three seeds' accuracies)
    ("mlp", 2000, 2035): (90.0, 90.5, 91.0), ("kan", 2000, 2011): (80.0, 81.0, 80.5),
    ("mlp", 10000, 9990): (93.0, 93.4, 93.2), ("bspline_mlp", 10000, 9970): (95.0, 95.2, 94.9),
    ("kan", None, 5000): (85.0, 86.0, 85.5)}


@pytest.fixture
def two_budgets(tmp_path) -> Path:
    folder = tmp_path / "runs"
    for (model, target, params), values in TWO_BUDGETS.items():
        for seed, value in enumerate(values):
            write_run(folder, f"{model}-{target}-{seed}", model, seed, value, dataset="digits", params=params,
                      hidden=(params // 100,), protocol="val", val_metric=value,
                      budget={"target": target, "kind": "params"} if target else None)
    return folder


def test_two_budgets_and_an_unmatched_run_are_never_pooled(two_budgets, tmp_path, monkeypatch):
    """Pooled, the MLP at 2,035 params would stand beside the B-spline MLP at 9,970 and
    one of them be called best; each table, verdict, caption and plot keeps them apart."""
    plotted: dict[str, set] = {}
    for name in ("seeds_plot", "pareto_plot"):
        draw = getattr(tables, name)

        def recording(data, dataset, key, path, *rest, draw=draw):
            cut = data[data.dataset == dataset]
            plotted[path.name] = set(cut.budget) if "seeds" not in path.name else set(cut[cut.budget == key].budget)
            draw(data, dataset, key, path, *rest)
        monkeypatch.setattr(tables, name, recording)
    written = tables.write_report(two_budgets, tmp_path / "out", verdict=True, latex=True)
    text = (tmp_path / "out" / "table.md").read_text()
    sections = {title: text.split(f"## {title}")[1].split("## ")[0] for title in
                ("At 2,000 params", "At 10,000 params", "No matched budget (each run its own size)")}
    assert "| mlp |" in sections["At 2,000 params"] and "bspline_mlp" not in sections["At 2,000 params"]
    assert "**90.5 ± 0.5**" in sections["At 2,000 params"]  # the MLP is best at 2,000 ...
    assert "**95.03 ± 0.15**" in sections["At 10,000 params"] and "**93" not in sections["At 10,000 params"]
    assert "**85.5 ± 0.5**" in sections["No matched budget (each run its own size)"]
    assert sum(section.count("**") for section in sections.values()) == 6  # one bold row per section
    tex = (tmp_path / "out" / "tables.tex").read_text()
    captions = re.findall(r"\\caption\{(.*)", tex)
    assert len(captions) == 6  # a comparison and a verdict per budget
    assert all(sum(b in c for b in ("At 2,000 params", "At 10,000 params", "No matched budget")) == 1
               for c in captions[::2])
    verdict = (tmp_path / "out" / "verdict.md").read_text()
    at_2k = verdict.split("## At 2,000 params")[1].split("\n## ")[0]
    assert "bspline_mlp" not in at_2k and "- digits: mlp best; kan significantly worse." in at_2k
    assert "## At 10,000 params" in verdict and "## No matched budget" in verdict
    names = {p.name for p in written if p.suffix == ".png"}
    assert {"seeds_2000_params.png", "seeds_10000_params.png", "pareto_params.png",
            "pareto_params_matched.png"} <= names
    assert plotted["seeds_2000_params.png"] == {"2,000 params"}
    assert plotted["pareto_params.png"] == {"none"}
    assert plotted["pareto_params_matched.png"] == {"2,000 params", "10,000 params"}


def test_an_ok_record_without_a_finite_metric_is_named_not_dropped(tmp_path):
    """An ok record whose test_metric is NaN (null) beside a good one once gave '1 seed' and
    'Runs not ok: 0 of 2' without a word; table.md names it."""
    folder = tmp_path / "runs"
    write_run(folder, "good", "mlp", 0, 90.0)
    write_run(folder, "hollow", "mlp", 1, None)
    text = tables.write_report(folder, tmp_path / "out")[0].read_text()
    assert "Files in the runs folder not used, left out of every number: 1." in text
    assert "- hollow.json: an ok record without a finite test_metric" in text and "| 1 |" in text


def test_axes_read_as_plain_numbers():
    """A Pareto plot at one budget once read '1.985×10³1.9875×10³…'; an error-vs-time axis
    '3×10¹': narrow ranges are linear or carry plain labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kanfair.report.axes import readable_scale

    figure, axes = plt.subplots()
    readable_scale(axes, "x", pd.Series([1985.0, 2011.0]))
    assert axes.get_xscale() == "linear" and axes.xaxis.get_major_formatter()(2000.0, 0) == "2,000"
    readable_scale(axes, "y", pd.Series([25.0, 100.0]), log=True)
    assert axes.get_yscale() == "log" and axes.yaxis.get_minor_formatter()(30.0, 0) == "30"
    readable_scale(axes, "y", pd.Series([1e-4, 1e-1]))
    assert axes.get_yscale() == "log" and axes.yaxis.get_minor_formatter()(3e-3, 0) == ""
    plt.close(figure)


def test_a_family_tuned_at_two_budgets_keeps_each_budgets_repeats(tmp_path):
    """The MLP tuned (3 repeats, final runs) at 2,000 and at 10,000 params, plus one untuned
    run without a budget: each budget's row pools only its own repeats, and the untuned run
    is not hidden by the tuned study."""
    folder = tmp_path / "runs"
    for target, base in ((2000, 90.0), (10000, 95.0)):
        for repeat in range(3):
            for seed in range(2):
                write_run(folder, f"m{target}-r{repeat}-s{seed}", "mlp", seed, base + repeat + seed / 10,
                          dataset="digits", params=target, hidden=(target // 100 + repeat,), protocol="val",
                          budget={"target": target, "kind": "params"},
                          tune={"phase": "final", "repeat": repeat, "study": f"s{target}-{repeat}"})
    write_run(folder, "untuned", "mlp", 0, 50.0, dataset="digits", params=500, protocol="val", val_metric=50.0)
    text = tables.write_report(folder, tmp_path / "out")[0].read_text()
    at = {title: text.split(f"## {title}")[1].split("## ")[0] for title in
          ("At 2,000 params", "At 10,000 params", "No matched budget (each run its own size)")}
    assert "**91.05 ± 0.9**" in at["At 2,000 params"] and "| 6 |" in at["At 2,000 params"]
    assert "**96.05 ± 0.9**" in at["At 10,000 params"] and "| 6 |" in at["At 10,000 params"]
    assert "**50 ± n/a**" in at["No matched budget (each run its own size)"]
