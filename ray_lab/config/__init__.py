"""Typed experiment configs: the schema, YAML and `--set` parsing, and problem reports (a leaf package).

`ray_lab.learner.experiment.load_experiment` is the one way in for a config: it parses here, then runs
the checks that need Stable-Baselines3, torch or the simulators.
"""

from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError, Problem
from ray_lab.config.loader import config_to_yaml, parse_config
from ray_lab.config.schema import ExperimentConfig

__all__ = [
    "CONFIG_ERROR_EXIT_CODE",
    "ConfigError",
    "ExperimentConfig",
    "Problem",
    "config_to_yaml",
    "parse_config",
]
