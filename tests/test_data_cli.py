"""python -m kanfair.cli.data list|prepare."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kanfair.cli import data as data_cli
from kanfair.data import tabular, task_domains


def test_list_shows_every_task_with_its_domain_and_availability(tmp_path, capsys):
    assert data_cli.main(["--data-dir", str(tmp_path), "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == set(task_domains())
    assert "symbolic" in lines["special_ellipkinc"] and "embedded" in lines["special_ellipkinc"]
    assert "vision" in lines["mnist"] and "missing" in lines["mnist"]
    assert "tabular" in lines["spam"] and "missing" in lines["spam"]


def test_prepare_stores_a_task_then_list_says_it_is_there(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    frames = (pd.DataFrame({"x": rng.normal(size=20)}), pd.DataFrame({"y": rng.integers(0, 2, 20)}))
    monkeypatch.setattr(tabular, "fetch_uci", lambda uci_id: frames)
    assert data_cli.main(["--data-dir", str(tmp_path), "prepare", "rice", "digits"]) == 0
    out = capsys.readouterr().out
    assert "rice: ready" in out and "digits: embedded" in out
    data_cli.main(["--data-dir", str(tmp_path), "list"])
    assert "on disk" in next(l for l in capsys.readouterr().out.splitlines() if l.startswith("rice "))


def test_prepare_reports_each_failure_in_one_line_and_exits_2(tmp_path, capsys, monkeypatch):
    """Exit 2 as train.py for the same mistakes; a failed download leaves no folder that
    `list` would take for the data set."""
    def offline(uci_id):
        raise ConnectionError("no route")
    monkeypatch.setattr(tabular, "fetch_uci", offline)
    assert data_cli.main(["--data-dir", str(tmp_path), "prepare", "nope", "bank"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "unknown task 'nope'" in errors[0] and "prepare bank" in errors[1]
    assert not (tmp_path / "bank").exists()
    data_cli.main(["--data-dir", str(tmp_path), "list"])
    assert "missing" in next(l for l in capsys.readouterr().out.splitlines() if l.startswith("bank "))
