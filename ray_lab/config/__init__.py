"""Typed experiment configs: load YAML, apply `--set` overrides, validate, report problems."""

from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError, Problem
from ray_lab.config.loader import config_to_yaml, load_config
from ray_lab.config.schema import ExperimentConfig

__all__ = [
    "CONFIG_ERROR_EXIT_CODE",
    "ConfigError",
    "ExperimentConfig",
    "Problem",
    "config_to_yaml",
    "load_config",
]
