"""hydra/sweeper=grids: one cartesian product per model family, and the paper's grids."""
from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from omegaconf import OmegaConf

from conftest import CONFIG_DIR, run_train
from kanfair.config import register_configs


def sweeper_jobs(experiment: str, *arguments: str) -> list[list[str]]:
    """The jobs an experiment's sweeper would launch, without launching them."""
    register_configs()
    Plugins.instance()  # Hydra's plugin scan (re)loads the sweeper module: import it after
    from hydra_plugins.kanfair_sweeper.grids_sweeper import GridsSweeper

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    settings = OmegaConf.to_container(cfg.hydra.sweeper)
    settings.pop("_target_")
    sweeper = GridsSweeper(**settings)
    given = [f"{key}={value}" for key, value in sweeper.params.items()] + list(arguments)
    return sweeper.expand(OverridesParser.create().parse_overrides(given))


def families(jobs: list[list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        model = next(o.split("=")[1] for o in job if o.startswith("model="))
        counts[model] = counts.get(model, 0) + 1
    return counts


@pytest.mark.parametrize("experiment, expected", [
    # 4 widths x 4 G x 3 K x 3 shortcuts x 3 ranges, x 2 lr x 2 seeds; 6 widths x 2 acts x 4
    ("kanbefair_vision", {"kan": 1728, "mlp": 48}),
    ("kanbefair_tabular", {"kan": 768, "mlp": 48}),
    ("kanbefair_symbolic", {"kan": 360, "mlp": 48}),
    ("kanbefair_continual", {"kan": 96, "mlp": 24}),
    ("kanbefair_fmnist", {"kan": 48, "mlp": 8, "bspline_mlp": 4}),
    ("kanbefair_symbolic_small", {"kan": 12, "mlp": 12}),
])
def test_paper_grids_have_the_published_number_of_configurations(experiment, expected):
    jobs = sweeper_jobs(experiment)
    assert families(jobs) == expected
    assert len({tuple(job) for job in jobs}) == len(jobs)


def test_a_grid_keeps_its_own_keys_and_the_command_line_wins():
    jobs = sweeper_jobs("kanbefair_tabular", "trainer.epochs=1", "dataset=wine,iris")
    assert all("trainer.epochs=1" in job for job in jobs)  # replaced in both grids
    assert not any("trainer.epochs=10" in job or "trainer.epochs=20" in job for job in jobs)
    assert families(jobs) == {"kan": 2 * 768, "mlp": 2 * 48}
    assert not any("model.grid_size=3" in job for job in jobs if "model=mlp" in job)


def test_a_grid_can_be_dropped_on_the_command_line(tmp_path):
    done = run_train("experiment=kanbefair_fmnist", "~hydra.sweeper.grids.kan",
                     "~hydra.sweeper.grids.bspline_mlp", "dataset=digits", "trainer.epochs=1",
                     "model.hidden=[8]", f"paths.results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    records = sorted(p.name for p in (tmp_path / "runs").glob("*.json"))
    assert len(records) == 2 and all("-mlp-" in name for name in records)  # gelu and relu


def test_a_sample_is_a_seeded_random_subset_in_grid_order():
    from hydra_plugins.kanfair_sweeper.grids_sweeper import GridsSweeper

    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=kanbefair_fmnist"], return_hydra_config=True)
    settings = OmegaConf.to_container(cfg.hydra.sweeper)
    settings.pop("_target_")

    def jobs(**sample) -> list[list[str]]:
        sweeper = GridsSweeper(**{**settings, **sample})
        given = [f"{key}={value}" for key, value in sweeper.params.items()]
        return [job for batch in sweeper.split_arguments(
            OverridesParser.create().parse_overrides(given), None) for job in batch]

    everything = jobs()
    first, again, other = jobs(sample=5), jobs(sample=5), jobs(sample=5, sample_seed=1)
    assert len(first) == 5 and first == again and first != other
    positions = [everything.index(job) for job in first]
    assert positions == sorted(positions)
    assert jobs(sample=1000) == everything
    with pytest.raises(ValueError, match="hydra.sweeper.sample=0"):
        GridsSweeper(**{**settings, "sample": 0})
