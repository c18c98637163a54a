"""Turn any failure into one line that says what is wrong and how to fix it (the line is
kanfair.errors.describe's), and exit 2.

The Hydra apps run with HYDRA_FULL_ERROR forced on so that exceptions reach us intact;
`HYDRA_FULL_ERROR=1` set by the user still gives the full traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Iterator, NoReturn

from kanfair.errors import describe

USER_WANTS_TRACEBACK = os.environ.get("HYDRA_FULL_ERROR") == "1"


def fail(error: BaseException) -> NoReturn:
    print(f"kanfair: error: {describe(error)}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Report exceptions in the block as one line and exit 2 (unless HYDRA_FULL_ERROR=1)."""
    try:
        yield
    except KeyboardInterrupt:
        print("kanfair: interrupted; the records already written are kept, and the same command "
              "resumes", file=sys.stderr)
        raise SystemExit(130)
    except BrokenPipeError:  # `--help | head`: the reader has gone; nothing to say to it
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0)
    except Exception as error:
        if USER_WANTS_TRACEBACK:
            raise
        fail(error)


MULTIRUN_FLAGS = ("-m", "--multirun")


def hydra_main_with_one_line_errors(app) -> None:
    """Run a @hydra.main app so that composition errors are reported by `describe`. A -m
    typed among the overrides moves before them: Hydra's argparse takes the overrides as one
    positional run and otherwise prints its 8-line usage for the ones after the flag."""
    os.environ["HYDRA_FULL_ERROR"] = "1"
    flags = [word for word in sys.argv[1:] if word in MULTIRUN_FLAGS]
    sys.argv = [sys.argv[0], *flags, *[word for word in sys.argv[1:] if word not in MULTIRUN_FLAGS]]
    with one_line_errors():
        app()


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 2, like the Hydra apps' errors
    (argparse's own prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        print(f"kanfair: error: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)
