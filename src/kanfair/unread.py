"""The one rule for config keys a run does not read (issue 47).

A key that a run does not read either is refused before anything trains, naming it (the
data sources' user keys in `kanfair.data`, a PDE task's trainer keys in `trainer`, the
checks in `config`), or, where the key is documented as overridden, is listed here: it is
hashed as its schema default, so setting it makes no second run id for the same
history, and the run says once that it was not read. Two kinds are overridden:

- the reference line (model=hgb) stands beside every family of a sweep, which sets the
  networks' trainer and budget keys for all of them; it reads none of those below;
- trainer.grid_schedule sets the family's resolution knob stage by stage, so the knob's
  own value (model.grid_size for a KAN) is never trained.

A plain function of the resolved config (a dict), because `results.config_hash` applies it
to the dicts records hold.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from kanfair.config import BudgetConfig, TrainerConfig
from kanfair.models import FAMILIES, REFERENCES

# the trainer and budget keys that fit a network and size it; a reference line fits once,
# on the split `trainer.protocol`, `val_fraction` and `val_seed` make, on `threads` threads
NETWORK_ONLY = {
    "trainer": ("optimizer", "lr", "weight_decay", "batch_size", "epochs", "eval_every", "dtype", "compile",
                "grid_update_every", "grid_update_until", "lamb", "lamb_l1", "lamb_entropy", "prune_threshold",
                "prune_inputs"),
    "budget": ("vary", "tolerance"),
}
SCHEMAS = {"trainer": TrainerConfig, "budget": BudgetConfig}


def _default(schema: type, key: str) -> Any:
    field = next(f for f in dataclasses.fields(schema) if f.name == key)
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def unread_keys(config: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """The dotted keys this resolved config sets that its run does not read, each with the
    value it is hashed as (its default) and why it is not read."""
    model = config.get("model") or {}
    name = model.get("name")
    found: dict[str, tuple[Any, str]] = {}
    if name in REFERENCES:
        for group, keys in NETWORK_ONLY.items():
            for key in keys:
                if key in (config.get(group) or {}):
                    found[f"{group}.{key}"] = (_default(SCHEMAS[group], key),
                                               f"model={name} is fitted once, not trained by the network trainer")
    owner = FAMILIES.get(name)
    if (config.get("trainer") or {}).get("grid_schedule") and owner and owner.knob and owner.knob in model:
        found[f"model.{owner.knob}"] = (_default(owner.schema, owner.knob),
                                        "trainer.grid_schedule sets it stage by stage")
    return found


def _at(config: dict[str, Any], dotted: str) -> Any:
    group, key = dotted.split(".", 1)
    return config[group][key]


def said_once(config: dict[str, Any]) -> str:
    """The line a run prints when it ignores keys that were set away from their default, or ''."""
    unread = unread_keys(config)
    keys = [dotted for dotted, (default, _) in unread.items() if _at(config, dotted) != default]
    if not keys:
        return ""
    why = "; ".join(sorted({unread[key][1] for key in keys}))
    verb = "it does" if len(keys) == 1 else "they do"
    return f"kanfair: this run does not read {', '.join(keys)} ({why}): {verb} not change its run id"
