"""Stable-Baselines3 / sb3-contrib algorithms by name, and checks of their hyperparameters."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType

from gymnasium import spaces
from sb3_contrib import ARS, QRDQN, TQC, TRPO, CrossQ, RecurrentPPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.preprocessing import is_image_space

from ray_lab.learner.schedules import is_schedule_text, parse_schedule
from ray_lab.models.errors import RegistryError, did_you_mean

__all__ = [
    "ALGORITHMS",
    "MANAGED_PARAMETERS",
    "algorithm_parameter_names",
    "algorithm_parameter_problems",
    "default_policy",
    "is_off_policy",
    "resolve_algorithm",
    "schedule_parameter_names",
    "schedule_problems",
]

ALGORITHMS: Mapping[str, type[BaseAlgorithm]] = MappingProxyType(
    {
        "ppo": PPO,
        "a2c": A2C,
        "sac": SAC,
        "td3": TD3,
        "ddpg": DDPG,
        "dqn": DQN,
        "tqc": TQC,
        "trpo": TRPO,
        "ars": ARS,
        "qrdqn": QRDQN,
        "recurrentppo": RecurrentPPO,
        "crossq": CrossQ,
    }
)
"""Algorithm classes by lowercase name (SB3 first, then sb3-contrib)."""

MANAGED_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "env": "ray-lab builds the env from the `environment` and `workers` sections",
        "device": "set training.training.device instead",
        "seed": "set training.training.seed instead",
        "verbose": "set training.training.verbose instead",
        "tensorboard_log": "ray-lab writes TensorBoard logs into the run folder",
    }
)
"""Constructor arguments ray-lab sets itself, with where a user sets each instead (`policy_kwargs` is
not one: it is merged with `training.architecture`)."""

_EXCLUDED = frozenset({"self", "env"})


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "")


def resolve_algorithm(name: str) -> type[BaseAlgorithm]:
    """The algorithm class called ``name``: case-insensitive, ``_``/``-`` ignored (``recurrent_ppo``).

    Raises:
        RegistryError: unknown name, with a did-you-mean suggestion and the known names.
    """
    if not isinstance(name, str):
        raise RegistryError(f"algorithm must be a name, got {name!r} ({type(name).__name__})")
    key = _normalize(name)
    if key in ALGORITHMS:
        return ALGORITHMS[key]
    raise RegistryError(
        f"unknown algorithm '{name}'{did_you_mean(key, ALGORITHMS)}; expected one of: {', '.join(ALGORITHMS)}"
    )


def _init_parameters(cls: type[BaseAlgorithm]) -> list[inspect.Parameter]:
    return list(inspect.signature(cls.__init__).parameters.values())


def algorithm_parameter_names(cls: type[BaseAlgorithm]) -> set[str]:
    """Keyword arguments of ``cls.__init__``, without ``self``, ``env`` (ray-lab supplies it) and
    private ones (``_init_setup_model``)."""
    return {
        p.name
        for p in _init_parameters(cls)
        if p.name not in _EXCLUDED
        and not p.name.startswith("_")
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def algorithm_parameter_problems(cls: type[BaseAlgorithm], params: Mapping[str, object]) -> list[tuple[str, str]]:
    """(name, problem) for each key of ``params`` a user may not set for ``cls``: the one rule.

    A key in :data:`MANAGED_PARAMETERS` is set by ray-lab (the message says where to set it instead);
    any other key must be a constructor argument (:func:`algorithm_parameter_names`), unless the
    constructor takes ``**kwargs``. Example problem:
    ``"unknown hyperparameter 'learning_rat' for PPO (did you mean 'learning_rate'?)"``.
    """
    accepted = algorithm_parameter_names(cls)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in _init_parameters(cls))
    problems: list[tuple[str, str]] = []
    for key in params:
        if key in MANAGED_PARAMETERS:
            problems.append((key, f"not allowed here: {MANAGED_PARAMETERS[key]}"))
        elif key not in accepted and not takes_any:
            hint = did_you_mean(str(key), accepted) or f" (accepted: {', '.join(sorted(accepted))})"
            problems.append((key, f"unknown hyperparameter '{key}' for {cls.__name__}{hint}"))
    return problems


def schedule_parameter_names(cls: type[BaseAlgorithm]) -> set[str]:
    """Constructor arguments of ``cls`` that take a schedule: those annotated as taking a callable
    (``learning_rate`` everywhere, ``clip_range``/``clip_range_vf`` in PPO, ``delta_std`` in ARS)."""
    return {
        p.name
        for p in _init_parameters(cls)
        if p.name in algorithm_parameter_names(cls) and "Callable" in str(p.annotation)
    }


def schedule_problems(cls: type[BaseAlgorithm], params: Mapping[str, object]) -> list[tuple[str, str]]:
    """(name, problem) for each schedule in ``params`` that ``cls`` cannot take: an unreadable value on a
    key that takes a schedule, or a ``lin_``/``exp_`` schedule on a key that does not."""
    takes = schedule_parameter_names(cls)
    problems: list[tuple[str, str]] = []
    for key, value in params.items():
        if key in takes and value is not None:
            try:
                parse_schedule(value, key)
            except ValueError as exc:
                problems.append((key, str(exc)))
        elif is_schedule_text(value):
            problems.append(
                (
                    key,
                    f"{key} does not take a schedule in {cls.__name__}; give a number, or put schedules on: "
                    f"{', '.join(sorted(takes))}",
                )
            )
    return problems


def is_off_policy(cls: type[BaseAlgorithm]) -> bool:
    """Whether ``cls`` learns from a replay buffer (a subclass of SB3's ``OffPolicyAlgorithm``)."""
    return issubclass(cls, OffPolicyAlgorithm)


def default_policy(cls: type[BaseAlgorithm], observation_space: spaces.Space) -> str:
    """The policy alias of ``cls`` that fits ``observation_space``.

    ``MultiInput...`` for Dict spaces, ``Cnn...`` for image Box spaces (SB3's ``is_image_space``),
    else ``Mlp...`` (e.g. ``MlpLstmPolicy`` for RecurrentPPO). An image space falls back to the MLP
    policy (which flattens it) when the algorithm has no CNN policy.

    Raises:
        ValueError: the algorithm has no policy for Dict observations.
    """
    aliases = list(cls.policy_aliases)

    def find(prefix: str) -> str | None:
        if f"{prefix}Policy" in aliases:
            return f"{prefix}Policy"
        return next((a for a in aliases if a.startswith(prefix)), None)

    if isinstance(observation_space, spaces.Dict):
        policy = find("MultiInput")
        if policy is None:
            raise ValueError(
                f"{cls.__name__} has no policy for Dict observation spaces (keys "
                f"{sorted(observation_space.spaces)}); its policies are: {', '.join(aliases)}"
            )
        return policy
    if isinstance(observation_space, spaces.Box) and is_image_space(observation_space):
        policy = find("Cnn")
        if policy is not None:
            return policy
    policy = find("Mlp")
    if policy is None:
        raise ValueError(f"{cls.__name__} has no MLP policy; its policies are: {', '.join(aliases)}")
    return policy
