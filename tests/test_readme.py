"""The README is a user's guide that stays true: at most about 400 lines, every link
resolves, every command it shows composes and validates as its app would run it, every
flag it passes to a script exists, and every error line it quotes is what kanfair prints."""
from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from conftest import call
from kanfair.cli import report as report_cli
from kanfair.cli import train as train_cli
from kanfair.cli.plan import sweep_configs
from kanfair.config import validate

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
APPS = {"python train.py": "train", "kanfair-train": "train", "kanfair-tune": "tune",
        "python scripts/tune.py": "tune", "python scripts/size.py": "size", "kanfair-size": "size",
        "python scripts/plan.py": "train", "kanfair-plan": "train"}


QUOTED_ERRORS = re.findall(r"^\$ (python train\.py [^\n]*)\n(kanfair: error: [^\n]*)$", README, flags=re.M)


def commands(text: str = README) -> list[str]:
    """Every command line in the README's code blocks (continuation lines joined, `$ `
    prompts and trailing comments dropped)."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ "))
            if line.startswith(("python ", "kanfair-")):
                found.append(" ".join(line.split()))
    return found


def _app(command: str) -> tuple[str, list[str]]:
    for prefix, app in APPS.items():
        if command.startswith(prefix + " "):
            return app, shlex.split(command[len(prefix):])
    return "", []


def test_the_readme_is_a_short_guide():
    assert len(README.splitlines()) <= 400


def test_every_link_resolves():
    headings = {}
    for link in re.findall(r"\]\(([^)\s]+)\)", README):
        if link.startswith("http"):
            continue
        path, _, anchor = link.partition("#")
        target = REPO / path if path else REPO / "README.md"
        assert target.exists(), link
        if anchor:
            text = target.read_text()
            slugs = headings.setdefault(target, {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
                                                 for h in re.findall(r"^#+ (.*)$", text, flags=re.M)})
            assert anchor in slugs, link


@pytest.mark.parametrize("command", [c for c in commands() if _app(c)[0] and "=" in c
                                     and c not in dict(QUOTED_ERRORS)])
def test_every_command_composes_and_validates(command):
    """Each job of each command, composed as its app composes it (the sweep expanded as
    `-m` would); train jobs also pass kanfair's own validation."""
    app, words = _app(command)
    overrides = [w for w, before in zip(words, ["", *words]) if not w.startswith("-")
                 and not (before.startswith("--") and "=" not in w)]  # flags and their values (--workers 64)
    _, jobs = sweep_configs(overrides, config_name=app)
    assert jobs
    if app == "train":
        for _, cfg in jobs[:50]:
            validate(cfg)


def test_every_flag_given_to_the_report_script_exists():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        report_cli.main(["--help"])
    help_text = out.getvalue()
    flags = {flag for c in commands() if "scripts/report.py" in c for flag in re.findall(r"--[a-z-]+", c)}
    assert flags and {flag for flag in flags if flag not in help_text} == set()


def test_every_error_line_it_quotes_is_what_kanfair_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(QUOTED_ERRORS) >= 3
    for command, line in QUOTED_ERRORS:
        status, err = call(train_cli.main, ["train.py", *shlex.split(command)[2:]])
        assert status == 2 and line in err.splitlines(), (command, err)


def test_the_command_collector_sees_continuations_prompts_and_comments():
    text = "```\n$ python train.py a=1 \\\n    b=2   # c\nkanfair-tune x=1\nnot a command\n```\n"
    assert commands(text) == ["python train.py a=1 b=2", "kanfair-tune x=1"]


def headings_by_lines(text: str) -> list[str]:
    """Headings outside fences, reading a line that starts with ``` as opening or closing
    one: what the author meant."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6} (.+)$", line)):
            found.append(match.group(1).strip())
    return found


def rendered_headings(text: str) -> list[str]:
    """Headings as a CommonMark parser (markdown-it-py) renders them."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    return [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]


def test_the_readme_renders_as_commonmark_with_every_fence_closed():
    """A fence closed with text after it (``` [link]) is no closing fence in CommonMark: the
    rest of the page renders as code. Every heading the author wrote must render as one."""
    assert rendered_headings(README) == headings_by_lines(README) and len(headings_by_lines(README)) > 10


def test_the_fence_check_catches_an_open_fence():
    broken = "# a\n\n```\nx\n``` [link](y)\n\n## b\n\ntext\n"
    assert headings_by_lines(broken) == ["a", "b"] and rendered_headings(broken) == ["a"]


def short(command: str) -> bool:
    """A README command a test can run as written in seconds: one train.py run (no sweep, no
    experiment, at most 50 epochs, no file of the user's), a sizing, a report."""
    if command.startswith("python scripts/size.py") or command.startswith("python scripts/report.py"):
        return True
    if not command.startswith("python train.py") or " -m " in f" {command} " or "experiment=" in command:
        return False
    epochs = re.search(r"trainer\.epochs=(\d+)", command)
    return (not epochs or int(epochs.group(1)) <= 50) and not re.search(r"dataset\.path=|model\.target=", command) \
        and "grid_schedule" not in command and command not in dict(QUOTED_ERRORS)


def test_every_short_readme_command_runs_as_written_on_a_fresh_folder(tmp_path):
    """In the README's order, from an empty folder (the interpreter and the scripts' folder
    aside: `python` is this one, `train.py` and `scripts/` are the checkout's): each exits 0.
    A report whose --runs folder no earlier command fills would be a wrong line in the README."""
    import subprocess
    import sys

    ran = []
    for command in [c for c in commands() if short(c)]:
        words = shlex.split(command)[1:]
        words[0] = str(REPO / words[0])
        if "--runs" in words and not (tmp_path / words[words.index("--runs") + 1]).is_dir():
            continue  # the report of a sweep too long for a test
        done = subprocess.run([sys.executable, *words], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        ran.append(command)
    assert sum(c.startswith("python train.py") for c in ran) >= 3 and any("report.py" in c for c in ran)
    assert any("size.py" in c for c in ran)
