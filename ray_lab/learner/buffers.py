"""``training.algorithm_parameters.replay_buffer_class`` / ``replay_buffer_kwargs`` from YAML: SB3's replay
buffers by name (``HerReplayBuffer``, ``ReplayBuffer``, ``DictReplayBuffer``) or any by dotted path, their
kwargs checked against the class's signature when the config loads.

YAML (goal-conditioned Dict envs)::

    replay_buffer_class: HerReplayBuffer
    replay_buffer_kwargs: {n_sampled_goal: 4, goal_selection_strategy: future}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.her.goal_selection_strategy import KEY_TO_GOAL_STRATEGY

from ray_lab.models.errors import did_you_mean

__all__ = [
    "GOAL_KEYS",
    "REPLAY_BUFFERS",
    "check_goal_space",
    "replay_buffer_problems",
    "resolve_replay_buffer_class",
]

REPLAY_BUFFERS: Mapping[str, type[ReplayBuffer]] = {
    "ReplayBuffer": ReplayBuffer,
    "DictReplayBuffer": DictReplayBuffer,
    "HerReplayBuffer": HerReplayBuffer,
}
"""Replay buffers known by name (others by dotted path, ``package.module.Class``)."""

SET_BY_SB3 = frozenset(
    {"self", "buffer_size", "observation_space", "action_space", "device", "n_envs", "optimize_memory_usage", "env"}
)
"""Buffer arguments the algorithm passes itself (``buffer_size``/``optimize_memory_usage`` are its own
hyperparameters; HER's ``env`` is the training env)."""

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
"""The Dict observation keys of a goal-conditioned env, which HER needs."""


def _import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"cannot import replay buffer {path!r}: {exc}") from None
    if not inspect.isclass(found):
        raise ValueError(f"{path!r} is not a class")
    return found


def resolve_replay_buffer_class(name: object) -> type[ReplayBuffer]:
    """The replay-buffer class ``name`` stands for (a class is returned as it is).

    Raises:
        ValueError: unknown name (with a did-you-mean), an unimportable path, or not a ``ReplayBuffer``.
    """
    if inspect.isclass(name):
        found: type = name
    elif isinstance(name, str) and name.strip() in REPLAY_BUFFERS:
        return REPLAY_BUFFERS[name.strip()]
    elif isinstance(name, str) and "." in name:
        found = _import_class(name.strip())
    else:
        hint = did_you_mean(str(name), REPLAY_BUFFERS)
        raise ValueError(
            f"unknown replay buffer {name!r}{hint}; expected {', '.join(REPLAY_BUFFERS)} or a dotted path "
            "such as my_package.buffers.MyBuffer"
        )
    if not issubclass(found, ReplayBuffer):
        raise ValueError(f"{found.__name__} is not a Stable-Baselines3 ReplayBuffer subclass")
    return found


def _kwarg_problems(cls: type[ReplayBuffer], kwargs: Mapping[str, Any]) -> list[tuple[str, str]]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return []
    accepted = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - SET_BY_SB3
    problems = []
    for key in kwargs:
        if key in SET_BY_SB3:
            problems.append(
                (str(key), f"{key} is set by the algorithm (set it as an algorithm parameter if it is one)")
            )
        elif key not in accepted:
            hint = did_you_mean(str(key), accepted) or f" (accepted: {', '.join(sorted(accepted))})"
            problems.append((str(key), f"{cls.__name__} does not take {key!r}{hint}"))
    return problems


def _her_problems(kwargs: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    strategy = kwargs.get("goal_selection_strategy", "future")
    if not isinstance(strategy, str) or strategy.lower() not in KEY_TO_GOAL_STRATEGY:
        hint = did_you_mean(str(strategy), KEY_TO_GOAL_STRATEGY)
        known = ", ".join(KEY_TO_GOAL_STRATEGY)
        problems.append(
            ("goal_selection_strategy", f"unknown goal_selection_strategy {strategy!r}{hint}; expected {known}")
        )
    sampled = kwargs.get("n_sampled_goal", 4)
    if not isinstance(sampled, int) or isinstance(sampled, bool) or sampled < 1:
        problems.append(("n_sampled_goal", f"n_sampled_goal must be a positive integer, got {sampled!r}"))
    return problems


def replay_buffer_problems(name: object, kwargs: object) -> list[tuple[str, str]]:
    """(key, problem) for a ``replay_buffer_class`` (None: SB3's default) and its ``replay_buffer_kwargs``;
    keys are ``replay_buffer_class``, ``replay_buffer_kwargs`` or ``replay_buffer_kwargs.<name>``."""
    try:
        cls = ReplayBuffer if name is None else resolve_replay_buffer_class(name)
    except ValueError as exc:
        return [("replay_buffer_class", str(exc))]
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping):
        return [("replay_buffer_kwargs", f"replay_buffer_kwargs must be a mapping, got {kwargs!r}")]
    problems = _kwarg_problems(cls, kwargs)
    if issubclass(cls, HerReplayBuffer):
        problems += _her_problems(kwargs)
    return [(f"replay_buffer_kwargs.{key}", message) for key, message in problems]


def check_goal_space(buffer_class: type[ReplayBuffer], observation_space: spaces.Space) -> None:
    """HER needs a goal-conditioned env: Dict observations with :data:`GOAL_KEYS`.

    Raises:
        ValueError: ``buffer_class`` is HER and the observations are not of that kind.
    """
    if not issubclass(buffer_class, HerReplayBuffer):
        return
    keys = sorted(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else None
    if keys is None or not set(GOAL_KEYS) <= set(keys):
        seen = f"Dict keys {keys}" if keys is not None else f"{observation_space}"
        raise ValueError(
            f"training.algorithm_parameters.replay_buffer_class: HerReplayBuffer needs a goal-conditioned env with "
            f"Dict observations {list(GOAL_KEYS)} and a compute_reward method, the env has {seen}"
        )
