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
    from ray_lab.learner.algorithms import algorithm_parameter_problems, resolve_algorithm, schedule_problems

    try:
        algo = resolve_algorithm(config.training.algorithm)
    except LookupError as exc:
        return None, [("training.algorithm", str(exc).strip("'\""))]
    params = config.training.algorithm_parameters
    rejected = dict(algorithm_parameter_problems(algo, params))
    accepted = {name: value for name, value in params.items() if name not in rejected}
    problems = [*rejected.items(), *schedule_problems(algo, accepted), *_object_parameter_problems(accepted)]
    problems = [(f"training.algorithm_parameters.{n}", m) for n, m in problems]
    policy = config.training.algorithm_parameters.get("policy")
    if isinstance(policy, str) and policy not in algo.policy_aliases and "." not in policy:
        hint = did_you_mean(policy, algo.policy_aliases)
        known = ", ".join(algo.policy_aliases)
        problems.append(("training.algorithm_parameters.policy", f"unknown policy {policy!r}{hint}; expected {known}"))
    return algo, problems


def _object_parameter_problems(params: dict[str, Any]) -> list[KeyedProblem]:
    """Object-valued hyperparameters the algorithm takes (the others were rejected by name already):
    `action_noise` and `replay_buffer_class`/`replay_buffer_kwargs`, as (key under algorithm_parameters, problem)."""
    from ray_lab.learner.buffers import replay_buffer_problems
    from ray_lab.learner.noise import action_noise_problems

    problems: list[KeyedProblem] = []
    if "action_noise" in params:
        noise = action_noise_problems(params["action_noise"])
        problems += [("action_noise" + (f".{key}" if key else ""), message) for key, message in noise]
    if "replay_buffer_class" in params or "replay_buffer_kwargs" in params:
        problems += replay_buffer_problems(params.get("replay_buffer_class"), params.get("replay_buffer_kwargs"))
    return problems


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
        return [("training.architecture", str(exc).strip("'\""))]
    return _check_policy_kwargs(config, algo)


def _check_policy_kwargs(config: ExperimentConfig, algo: type[Any]) -> list[KeyedProblem]:
    """`training.algorithm_parameters.policy_kwargs` on top of a good architecture section (optimizer included)."""
    from ray_lab.learner.policy_kwargs import PolicyKwargError, architecture_policy_kwargs

    key = "training.algorithm_parameters.policy_kwargs"
    extra = config.training.algorithm_parameters.get("policy_kwargs")
    if extra is None:
        return []
    if not isinstance(extra, dict):
        return [(key, f"policy_kwargs must be a mapping such as {{optimizer_class: AdamW}}, got {extra!r}")]
    try:
        architecture_policy_kwargs(config.training.architecture, algo, extra)
    except PolicyKwargError as exc:
        return [(f"{key}.{exc.key}", str(exc))]
    except (ValueError, LookupError, TypeError) as exc:
        return [(key, str(exc).strip("'\""))]
    return []


NATURE_CNN_MIN = 36
"""The smallest image side SB3's NatureCNN (the image extractor of its Cnn/MultiInput policies) takes."""


def _check_images(config: ExperimentConfig, space: Any) -> list[KeyedProblem]:
    """Images SB3's Cnn/MultiInput policies cannot take: channels first and last mixed in one Dict (SB3 then
    transposes them all), or smaller than NatureCNN takes unless the config names another extractor."""
    from gymnasium import spaces
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

    subspaces = space.spaces if isinstance(space, spaces.Dict) else {None: space}
    images = {key: sub for key, sub in subspaces.items() if isinstance(sub, spaces.Box) and is_image_space(sub)}
    first = {key: is_image_space_channels_first(sub) for key, sub in images.items()}
    if len(set(first.values())) > 1:
        chw, hwc = [k for k, f in first.items() if f], [k for k, f in first.items() if not f]
        message = f"SB3 takes images all channels first or all last, got first: {chw}, last: {hwc}"
        return [("training.algorithm_parameters.policy", message)]
    extra = config.training.algorithm_parameters.get("policy_kwargs")
    if (isinstance(extra, dict) and "features_extractor_class" in extra) or (
        config.training.architecture.features_extractor_class is not None
    ):
        return []
    small = {}
    for key, sub in images.items():
        height, width = sub.shape[1:] if first[key] else sub.shape[:2]
        if min(height, width) < NATURE_CNN_MIN:
            small[key] = f"{height}x{width}"
    if not small:
        return []
    shown = ", ".join(size if key is None else f"{key!r} {size}" for key, size in small.items())
    return [
        (
            "training.algorithm_parameters.policy",
            f"SB3's NatureCNN needs images of at least {NATURE_CNN_MIN}x{NATURE_CNN_MIN}, the simulator's are "
            f"{shown}: use larger images or set training.architecture.features_extractor_class",
        )
    ]


def _check_policy_fits(config: ExperimentConfig, algo: type[Any]) -> list[KeyedProblem]:
    """The policy takes the observations of a simulator whose adapter knows them (ROS-TCP): `MultiInput...`
    for Dict observations (a camera beside a vector), another policy otherwise; NatureCNN's least image size."""
    unity, policy = config.environment.unity, config.training.algorithm_parameters.get("policy")
    named = policy is None or (isinstance(policy, str) and policy in algo.policy_aliases)
    if unity is None or unity.protocol != "ros_tcp" or not named:
        return []  # gRPC sims report their spaces when they start; a policy class path is the user's own
    from gymnasium import spaces

    from ray_lab.learner.algorithms import default_policy
    from unity_workers.envs import make_adapter

    space, key = make_adapter(unity).observation_space, "training.algorithm_parameters.policy"
    try:
        fitting = default_policy(algo, space)
    except ValueError as exc:
        return [(key if policy is not None else "training.algorithm", str(exc))]
    name = str(policy or fitting)
    if isinstance(space, spaces.Dict) == name.startswith("MultiInput"):
        return _check_images(config, space) if name.startswith(("MultiInput", "Cnn")) else []
    kind = f"{type(space).__name__} observations"
    keys = sorted(space.spaces) if isinstance(space, spaces.Dict) else None
    seen = f"{kind} (keys {keys})" if keys is not None else f"{kind} of shape {space.shape} {space.dtype}"
    return [(key, f"{name} does not take the simulator's {seen}; use {fitting}")]


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
    unity_problems: list[KeyedProblem] = []
    if unity is not None:
        from unity_workers.envs.checks import check_spec

        unity_problems = [(f"environment.unity.{key}", message) for key, message in check_spec(unity)]
    problems += unity_problems
    if env_problem:
        problems.append(("environment.id", env_problem))
    problems += _check_step_timeout(config)
    algo, algo_problems = _check_algorithm(config)
    problems += algo_problems
    if algo is not None:
        problems += _check_architecture(config, algo)
    if algo is not None and not unity_problems and not algo_problems:
        problems += _check_policy_fits(config, algo)
    return problems
