"""Checks that need more than types: algorithm names, hyperparameters, models, env ids, timeouts.

They import Stable-Baselines3, torch and the simulator packages, so they live above `ray_lab.config`
(a leaf that only parses); :mod:`ray_lab.learner.experiment` runs them for every way a config comes in.
"""

from __future__ import annotations

import importlib
from typing import Any

from ray_lab.config.errors import did_you_mean
from ray_lab.config.schema import ExperimentConfig

KeyedProblem = tuple[str, str]


def _check_algorithm(config: ExperimentConfig) -> tuple[type[Any] | None, list[KeyedProblem]]:
    # Imported here, not at the top: importing SB3 and torch takes seconds, which `ray-lab train`
    # spends while Ray's daemons start (it parses the config first, then checks it).
    from ray_lab.learner.algorithms import algorithm_parameter_problems, resolve_algorithm
    from ray_lab.learner.schedules import SCHEDULE_KEYS, parse_schedule

    try:
        algo = resolve_algorithm(config.training.algorithm)
    except LookupError as exc:
        return None, [("training.algorithm", str(exc).strip("'\""))]
    params = config.training.algorithm_parameters
    rejected = dict(algorithm_parameter_problems(algo, params))
    problems: list[KeyedProblem] = [(f"training.algorithm_parameters.{n}", m) for n, m in rejected.items()]
    for name in sorted(set(params) & set(SCHEDULE_KEYS) - set(rejected)):
        key = f"training.algorithm_parameters.{name}"
        try:
            parse_schedule(params[name], key)
        except ValueError as exc:
            problems.append((key, str(exc)))
    policy = config.training.algorithm_parameters.get("policy")
    if isinstance(policy, str) and policy not in algo.policy_aliases and "." not in policy:
        hint = did_you_mean(policy, algo.policy_aliases)
        known = ", ".join(algo.policy_aliases)
        problems.append(("training.algorithm_parameters.policy", f"unknown policy {policy!r}{hint}; expected {known}"))
    return algo, problems


def _check_architecture(config: ExperimentConfig, algo: type[Any]) -> list[KeyedProblem]:
    from ray_lab.learner.policy_kwargs import architecture_policy_kwargs
    from ray_lab.models.activations import resolve_activation
    from ray_lab.models.registry import resolve_extractor

    arch = config.training.architecture
    problems: list[KeyedProblem] = []
    if arch.features_extractor_class is not None:
        try:
            resolve_extractor(arch.features_extractor_class)
        except LookupError as exc:
            problems.append(("training.architecture.features_extractor_class", str(exc).strip("'\"")))
    if arch.activation_fn is not None:
        try:
            resolve_activation(arch.activation_fn)
        except LookupError as exc:
            problems.append(("training.architecture.activation_fn", str(exc).strip("'\"")))
    if problems:
        return problems
    try:
        architecture_policy_kwargs(arch, algo)
    except (ValueError, LookupError, TypeError) as exc:
        problems.append(("training.architecture", str(exc).strip("'\"")))
    return problems


def check_env_id(env_id: str) -> str | None:
    """None when `env_id` is registered with gymnasium (importing `module:` prefixes); else the problem."""
    import gymnasium as gym

    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"cannot import module {module!r} named before ':' ({exc})"
    if name in gym.registry:
        return None
    return f"unknown gymnasium env id {name!r}{did_you_mean(name, gym.registry.keys())}"


def _check_step_timeout(config: ExperimentConfig) -> list[KeyedProblem]:
    """An explicit `workers.step_timeout_s` must outlast the player restarts of a worker's envs in one call."""
    w = config.workers
    if w.step_timeout_s is None or config.environment.unity is None:
        return []
    envs = max(w.envs_per_worker, w.eval_envs_per_worker)
    needed = config.required_step_timeout_s(envs)
    if w.step_timeout_s >= needed:
        return []
    per_env = config.environment.unity.longest_call_s()
    return [
        (
            "workers.step_timeout_s",
            f"{w.step_timeout_s:g} s is shorter than the {needed:g} s that {envs} env(s) of a worker may need to "
            f"restart their players within one call ({per_env:g} s each, from environment.unity.step_timeout_s, "
            "connect_timeout_s, max_restarts and max_restarts_per_minute; docs/unity.md, Timeouts), so a restart "
            f"would fail the run: raise it to {needed:g} or more, or leave it out to have it derived",
        )
    ]


def check_semantics(config: ExperimentConfig) -> list[KeyedProblem]:
    """All problems a typed config still has, as (dotted key, message)."""
    problems: list[KeyedProblem] = []
    unity = config.environment.unity
    env_problem = None if unity is not None else check_env_id(config.environment.id)
    if unity is not None:
        from unity_workers.envs.checks import check_spec

        problems += [(f"environment.unity.{key}", message) for key, message in check_spec(unity)]
    if env_problem:
        problems.append(("environment.id", env_problem))
    problems += _check_step_timeout(config)
    algo, algo_problems = _check_algorithm(config)
    problems += algo_problems
    if algo is not None:
        problems += _check_architecture(config, algo)
    return problems
