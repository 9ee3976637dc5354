"""The one way in for a config: YAML, `--set` overrides, the schema, the semantic checks, the pre-flight.

`ray-lab train`, `play`, `submit`, sweeps and the tests all load configs here, so a config that one of
them accepts, all of them accept. The steps can run apart (:func:`parse_config` is fast and imports
no Stable-Baselines3, which lets `train` start Ray meanwhile): :func:`check_experiment` runs the
semantic checks (:mod:`ray_lab.learner.checks`), :func:`preflight` builds one env and checks the
pretrained model. Every problem is a :class:`~ray_lab.config.ConfigError` (exit code 2 in the CLI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym

from ray_lab.config.errors import ConfigError, Problem
from ray_lab.config.loader import ParsedConfig, parse_config, parse_mapping
from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories
from ray_lab.learner.checks import check_semantics
from ray_lab.learner.pretrained import check_compatible, resolve_pretrained
from ray_lab.tracking.run_dir import pretrained_cache_dir
from ray_lab.workers.assignment import EnvAssignment

__all__ = ["check_experiment", "experiment_from_mapping", "load_experiment", "parse_config", "preflight"]

T = TypeVar("T")
EnvCheck = Callable[[ExperimentConfig, str, gym.Env], None]
"""A check of the env built before launch (raises `ConfigError`)."""


def check_experiment(parsed: ParsedConfig) -> ExperimentConfig:
    """The semantic checks of a parsed config; raise ConfigError listing every problem."""
    problems = [Problem(parsed.source_of(key), key, msg) for key, msg in check_semantics(parsed.config)]
    if problems:
        raise ConfigError(problems)
    return parsed.config


def experiment_from_mapping(data: dict[str, Any], source: str, overridden: Set[str] = frozenset()) -> ExperimentConfig:
    """A raw mapping (a sweep's trial, a config read elsewhere) through the schema and the semantic checks."""
    return check_experiment(parse_mapping(data, source, overridden))


def load_experiment(
    path: str | Path, overrides: Sequence[str] = (), *, run_preflight: bool = False
) -> ExperimentConfig:
    """Read `path`, apply `--set` overrides, validate; with `run_preflight`, also build one env here.

    Raises:
        ConfigError: every problem found, each naming its file (or `--set`) and key.
    """
    config = check_experiment(parse_config(path, overrides))
    if run_preflight:
        preflight(config, str(path))
    return config


def preflight(config: ExperimentConfig, source: str) -> Path | None:
    """Build one env here (so a broken `env_config` is a config error) and check the pretrained model.

    Returns the pretrained model's zip (downloaded first for a `wandb:` URI), or None. Without a
    pretrained model the env is built bare, with gymnasium alone: this process then never imports
    Stable-Baselines3 or torch for it (seconds of start-up).
    """
    if config.environment.unity is not None:
        return _unity_preflight(config, source)
    if config.environment.eval_env_kwargs:  # the eval envs' kwargs differ: build one of those too
        _build_bare(config, source, "eval", "environment.eval_env_kwargs")
    if config.training.pretrained_model is None:
        _build_bare(config, source, "train", "environment.env_config", check=_check_object_parameters)
        return None
    from ray_lab.learner.build import build_local_env

    env = _make_env_or_config_error(config, source, lambda: build_local_env(config))
    try:
        cache = pretrained_cache_dir(config.experiment.output_dir)
        model_zip = resolve_pretrained(config.training.pretrained_model, source, cache)
        check_compatible(model_zip, env.observation_space, env.action_space, source)
        _check_object_parameters(config, source, env)  # type: ignore[arg-type]  # a VecEnv has the same spaces
        return model_zip
    finally:
        env.close()


def _unity_preflight(config: ExperimentConfig, source: str) -> Path | None:
    """Simulator envs are not launched here (this machine may have no build): spaces come from the adapter."""
    unity, spec = config.environment.unity, config.training.pretrained_model
    if unity is None or spec is None:
        return None
    model_zip = resolve_pretrained(spec, source, pretrained_cache_dir(config.experiment.output_dir))
    if unity.protocol == "ros_tcp":
        from unity_workers.envs import make_adapter

        adapter = make_adapter(unity)
        check_compatible(model_zip, adapter.observation_space, adapter.action_space, source)
    return model_zip  # gRPC sims report their spaces when they start; SB3 checks them when training starts


def _build_bare(config: ExperimentConfig, source: str, group: str, key: str, check: EnvCheck | None = None) -> None:
    """Build one env of `group` with gymnasium alone (a failure is a config error at `key`), `check` it, close it."""
    make = make_env_factories(config.environment, EnvAssignment(1, 1), group=group)[0]
    env = _make_env_or_config_error(config, source, make, key)
    try:
        if check is not None:
            check(config, source, env)
    finally:
        env.close()


def _check_object_parameters(config: ExperimentConfig, source: str, env: gym.Env) -> None:
    """`action_noise` and `replay_buffer_class` against the env's spaces (a Box action space; HER's goal Dict)."""
    params = config.training.algorithm_parameters
    if params.get("action_noise") is None and params.get("replay_buffer_class") is None:
        return  # without them nothing here imports Stable-Baselines3
    from ray_lab.learner.build import object_parameters

    try:
        object_parameters(dict(params), env)
    except ValueError as exc:
        key, _, message = str(exc).partition(": ")
        raise ConfigError.single(source, key, message) from None


def _make_env_or_config_error(
    config: ExperimentConfig, source: str, make: Callable[[], T], key: str = "environment.env_config"
) -> T:
    try:
        return make()
    except Exception as exc:  # whatever gymnasium.make raises for these kwargs
        message = f"cannot create {config.environment.id!r}: {type(exc).__name__}: {exc}"
        raise ConfigError.single(source, key, message) from None
