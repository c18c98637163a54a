"""Schemas: every group is typed, and out-of-range values name their key."""
from __future__ import annotations

import pytest
from omegaconf.errors import ConfigAttributeError, ValidationError

from conftest import compose_config
from kanfair.config import ConfigError, TrainerConfig, validate
from kanfair.models.kan import KANConfig
from kanfair.models.mlp import MLPConfig


def test_defaults_compose_to_typed_objects():
    conf = validate(compose_config())
    assert isinstance(conf.model, KANConfig) and conf.model.name == "kan"
    assert isinstance(conf.trainer, TrainerConfig) and conf.trainer.optimizer == "adam"
    assert conf.dataset.name == "digits" and conf.paths.results_dir == "results"


def test_model_group_swaps_the_schema():
    conf = validate(compose_config("model=mlp", "model.activation=gelu", "model.hidden=[8,8]"))
    assert isinstance(conf.model, MLPConfig) and conf.model.hidden == [8, 8]


@pytest.mark.parametrize("override, key", [
    ("trainer.lr=0", "trainer.lr"), ("trainer.epochs=-1", "trainer.epochs"),
    ("trainer.val_fraction=0", "trainer.val_fraction"), ("model.hidden=[4,-1]", "model.hidden"),
    ("trainer.optimizer=rmsprop", "trainer.optimizer"), ("model.shortcut=relu", "model.shortcut"),
    ("model.grid_range=[1,-1]", "model.grid_range"), ("model.grid_size=0", "model.grid_size"),
    ("trainer.protocol=best", "trainer.protocol"), ("model.name=foo", "model.name"),
])
def test_out_of_range_values_name_the_key(override, key):
    with pytest.raises(ConfigError) as caught:
        validate(compose_config(override))
    assert caught.value.key == key


def test_typos_and_wrong_types_fail_at_composition():
    with pytest.raises(Exception) as caught:
        compose_config("model.hiden=[3]")
    assert isinstance(caught.value.__cause__, ConfigAttributeError)
    with pytest.raises(Exception) as caught:
        compose_config("trainer.lr=fast")
    assert isinstance(caught.value.__cause__, ValidationError)
