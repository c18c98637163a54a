"""One line for any failure while composing, validating or running a config: what is wrong
and how to fix it. The command-line faces print it (cli/errors.py); the Python API raises
it as a ConfigError.
"""
from __future__ import annotations

import dataclasses
import difflib
import re

from hydra.errors import InstantiationException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from kanfair.schema import ConfigError


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# sbatch's refusals of a launcher setting, and the setting to change
SBATCH_REFUSALS = {
    "Invalid generic resource (gres) specification":
        "the partition has no GPUs: drop hydra.launcher.gpus_per_node, or pick a GPU partition with "
        "hydra.launcher.partition=<name> (sinfo -o '%P %G' lists each partition's GPUs)",
    "Requested node configuration is not available":
        "no node has the CPUs or memory asked for: lower hydra.launcher.cpus_per_task (trainer.threads) or "
        "hydra.launcher.mem_gb (sinfo -o '%P %c %m' lists each partition's CPUs and MB)",
    "Invalid partition name specified":
        "set hydra.launcher.partition to one of the partitions sinfo -s lists",
}


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
        if isinstance(parent, DictConfig) and not dataclasses.is_dataclass(OmegaConf.get_type(parent)):
            return (f"'{cause.full_key}' is a new key of {prefix or 'the config'}, which takes any keys: "
                    f"add it with +{cause.full_key}=<value>")
        hint = _did_you_mean(leaf, keys)
        if hint and prefix:
            hint = hint.replace(" '", f" '{prefix}.", 1)
        return (f"unknown config key '{cause.full_key}'{hint}; "
                f"see the valid keys with: python train.py --cfg job")
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return f"invalid value for '{cause.full_key}': {_first_line(cause.msg or str(cause))}"
    if str(error).startswith("Ambiguous value for argument"):  # Hydra's, its advice on later lines
        return (f"{_first_line(str(error))}: a comma list is a sweep: add -m (--multirun) "
                "to sweep over it; or write a list as key=[a,b], or a string as key='a,b'")
    if isinstance(error, OverrideParseException):
        return f"cannot parse the command-line override: {_first_line(str(error))}"
    if isinstance(error, ConfigError):
        return str(error)
    if type(error).__name__ == "UncompletedJobError":  # submitit's: a job ended without a result
        job = re.search(r"Job (\S+) .*\(state: ([^)]*)\)", str(error), re.S)
        where = f"job {job[1]} ended {job[2]}" if job else _first_line(str(error))
        return (f"a cluster job of the sweep ended without its result ({where}; its log is in "
                "hydra.launcher.submitit_folder): the records already written are kept; run the same command "
                "again to run only the missing runs")
    for words, advice in SBATCH_REFUSALS.items():
        if words in str(error):
            return f"SLURM refused the jobs ({words}): {advice}"
    if isinstance(error, OSError) and error.filename:  # "[Errno 28] No space left" says not where
        return f"{error.strerror or _first_line(str(error))}: {error.filename}"
    return _first_line(str(error)) or type(error).__name__
