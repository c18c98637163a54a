"""Turn any failure into one line that says what is wrong and how to fix it.

The Hydra apps run with HYDRA_FULL_ERROR forced on so that exceptions reach us intact;
`HYDRA_FULL_ERROR=1` set by the user still gives the full traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
from typing import Iterator, NoReturn

from hydra.errors import InstantiationException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from kanfair.config import ConfigError

USER_WANTS_TRACEBACK = os.environ.get("HYDRA_FULL_ERROR") == "1"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(error: BaseException) -> str:
    """One line for an exception raised while composing, validating or running a config."""
    if isinstance(error, InstantiationException) and error.__cause__ is not None:
        return describe(error.__cause__)  # a plugin's own message, not Hydra's wrapper
    if isinstance(error, MissingConfigException) and error.missing_cfg_file and error.options:
        group, _, value = error.missing_cfg_file.rpartition("/")
        return (f"unknown {group} '{value}'{_did_you_mean(value, error.options)}; "
                f"choose one of: {', '.join(error.options)}")
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        parent = cause.parent_node
        keys = list(parent.keys()) if isinstance(parent, DictConfig) else []
        prefix, _, leaf = cause.full_key.rpartition(".")
        hint = _did_you_mean(leaf, keys)
        if hint and prefix:
            hint = hint.replace(" '", f" '{prefix}.", 1)
        return (f"unknown config key '{cause.full_key}'{hint}; "
                f"see the valid keys with: python train.py --cfg job")
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return f"invalid value for '{cause.full_key}': {_first_line(cause.msg or str(cause))}"
    if isinstance(error, OverrideParseException):
        return f"cannot parse the command-line override: {_first_line(str(error))}"
    if isinstance(error, ConfigError):
        return str(error)
    return _first_line(str(error)) or type(error).__name__


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
    except Exception as error:
        if USER_WANTS_TRACEBACK:
            raise
        fail(error)


def hydra_main_with_one_line_errors(app) -> None:
    """Run a @hydra.main app so that composition errors are reported by `describe`."""
    os.environ["HYDRA_FULL_ERROR"] = "1"
    with one_line_errors():
        app()


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 2, like the Hydra apps' errors
    (argparse's own prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        print(f"kanfair: error: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)
