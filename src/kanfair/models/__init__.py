"""The model registry: every family by name (`FAMILIES`), its validated spec
(`model_spec`) and its module (`build`); and the reference lines that are not neural
families (`REFERENCES`: gradient boosting), which a run fits instead of training."""
from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from kanfair.models import (boosting, bspline_mlp, cheby_kan, custom, fourier_kan, kan, mlp, pykan_kan, rational_kan,
                            rbf_kan)
from kanfair.models.family import Family
from kanfair.schema import check

FAMILIES: dict[str, Family] = {family.name: family for family in (
    kan.FAMILY, mlp.FAMILY, bspline_mlp.FAMILY, bspline_mlp.FIRST_FAMILY, fourier_kan.FAMILY,
    rbf_kan.FAMILY, cheby_kan.FAMILY, rational_kan.FAMILY, pykan_kan.FAMILY, custom.FAMILY,
)}

# model= values that are not neural families: their config schema by name
REFERENCES: dict[str, type] = {boosting.NAME: boosting.BoostingConfig}


def family(name: Any) -> Family:
    """The family called `name`; a ConfigError naming the known ones otherwise."""
    check(name in FAMILIES, "model.name", f"unknown model '{name}'" + (
        " here: it is a reference line, not a neural family" if name in REFERENCES else ""),
          f"choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def schema_of(name: Any) -> type:
    """The config schema of the model= value `name` (a family or a reference line); a
    ConfigError naming every known one otherwise."""
    check(name in FAMILIES or name in REFERENCES, "model.name", f"unknown model '{name}'",
          f"choose one of {', '.join([*FAMILIES, *REFERENCES])}")
    return REFERENCES[name] if name in REFERENCES else FAMILIES[name].schema


def model_spec(model: Any) -> dict[str, Any]:
    """A model spec as a plain dict with every key of its family's schema (defaults filled
    in and range-checked), from a config dataclass or any mapping with a `name`."""
    fields = dataclasses.asdict(model) if dataclasses.is_dataclass(model) else dict(model)
    return dataclasses.asdict(family(fields.get("name")).schema(**fields))


def build(spec: Any, in_dim: int, out_dim: int) -> nn.Module:
    """Build the model that `spec["name"]` names (missing keys take the config defaults;
    unknown names raise with the known ones)."""
    spec = model_spec(spec)
    return FAMILIES[spec["name"]].build(spec, in_dim, out_dim)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (the values the optimizer updates)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["FAMILIES", "Family", "REFERENCES", "build", "count_params", "family", "model_spec", "schema_of"]
