"""Environment parameters at every reset: sampling, and the gymnasium wrapper that sends them.

:class:`ParameterWrapper` draws the current lesson's values (`environment.parameters`, updated by
the lesson of `environment.curriculum`) at every reset and passes them on as
`reset(options={"parameters": {name: value}})`, merged with the caller's options (a caller's own
`parameters` win); the reset `info["parameters"]` shows what the episode got.

Draws are reproducible. Each env starts its own RNG from the run's seed, its group (train or eval)
and its global index. A reset with a seed (the first reset of a training, every evaluation episode)
starts it again from that seed and the group alone, so an evaluation episode gets the same values in
every run, however many eval envs there are; the resets after it go on from there. The curriculum
moves every env to another lesson with ``env_method(SET_LESSON_METHOD, lesson)`` (:func:`apply_lesson`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from ray_lab.config.parameters import (
    ChoiceSampler,
    IntUniformSampler,
    LogUniformSampler,
    NormalSampler,
    UniformSampler,
)

__all__ = ["SET_LESSON_METHOD", "EnvParameters", "ParameterWrapper", "apply_lesson", "draw", "draw_table"]

SET_LESSON_METHOD = "set_parameter_lesson"
"""The wrapper method a VecEnv's `env_method` calls to change the lesson of its envs."""

GROUP_STREAMS = {"train": 0, "eval": 1}
"""Keeps the draws of train and eval envs apart (a `play` env draws as an eval env: it replays their episodes)."""

STREAM_SALT = 0x5041524D  # "PARM": these RNGs never coincide with an env's own, seeded with the bare seed


@dataclass(frozen=True)
class EnvParameters:
    """What one env draws: the parameters of every lesson, and where its RNG starts (plain, picklable data)."""

    lessons: tuple[Mapping[str, Any], ...]
    seed: int | None
    group: str = "train"
    index: int = 0
    lesson: int = 0

    def __post_init__(self) -> None:
        if not self.lessons or not self.lessons[0]:
            raise ValueError("EnvParameters needs at least one lesson with at least one parameter")
        if not 0 <= self.lesson < len(self.lessons):
            raise ValueError(f"lesson {self.lesson} is not one of the {len(self.lessons)} lessons")
        if self.group not in GROUP_STREAMS:
            raise ValueError(f"group must be one of {sorted(GROUP_STREAMS)}, got {self.group!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names every reset sends (the same in every lesson)."""
        return tuple(self.lessons[0])

    @property
    def stream(self) -> int:
        """The RNG stream of the env's group."""
        return GROUP_STREAMS[self.group]


def draw(value: Any, rng: np.random.Generator) -> float:
    """One value of a parameter: a constant as it is, a sampler's draw from `rng`."""
    if isinstance(value, UniformSampler):
        return float(rng.uniform(value.low, value.high))
    if isinstance(value, LogUniformSampler):
        return float(np.exp(rng.uniform(np.log(value.low), np.log(value.high))))
    if isinstance(value, NormalSampler):
        return float(rng.normal(value.mean, value.std))
    if isinstance(value, IntUniformSampler):
        return float(rng.integers(value.low, value.high, endpoint=True))
    if isinstance(value, ChoiceSampler):
        return float(value.values[int(rng.integers(len(value.values)))])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"not a parameter value: {value!r}")


def draw_table(table: Mapping[str, Any], rng: np.random.Generator) -> dict[str, float]:
    """One episode's values of every parameter of `table`, drawn in its order."""
    return {name: draw(value, rng) for name, value in table.items()}


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng([*entropy, STREAM_SALT])


class ParameterWrapper(gym.Wrapper):
    """Sends the current lesson's parameters with every reset (see the module docstring)."""

    def __init__(self, env: gym.Env, setup: EnvParameters) -> None:
        super().__init__(env)
        self.setup = setup
        self.lesson = setup.lesson
        self.parameters: dict[str, float] = {}  # the current episode's
        self._sent: tuple[int | None, dict[str, Any]] | None = None  # (seed, options) of a reset_send
        if setup.seed is None:
            self._rng = np.random.default_rng()
        else:
            self._rng = _rng(setup.seed, setup.stream, setup.index)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The names every reset sends."""
        return self.setup.names

    def set_parameter_lesson(self, lesson: int) -> None:
        """Draw from lesson `lesson` from the next reset on."""
        if not 0 <= lesson < len(self.setup.lessons):
            raise ValueError(f"lesson {lesson} is not one of the {len(self.setup.lessons)} lessons")
        self.lesson = int(lesson)

    def _draw(self, seed: int | None, options: dict[str, Any] | None) -> dict[str, Any]:
        """The next episode's options: the caller's, with this lesson's draw under `parameters`."""
        if seed is not None:
            self._rng = _rng(seed, self.setup.stream)
        values = draw_table(self.setup.lessons[self.lesson], self._rng)
        given = dict(options or {})
        values.update(given.get("parameters") or {})
        return {**given, "parameters": values}

    def reset_send(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Split-phase reset (`ray_lab.workers.stepping`): draw now and send the draw with the request;
        the following :meth:`reset` collects it with the same values."""
        self._sent = (seed, self._draw(seed, options))
        self.env.get_wrapper_attr("reset_send")(seed=seed, options=self._sent[1])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        sent, self._sent = self._sent, None
        episode = sent[1] if sent is not None and sent[0] == seed else self._draw(seed, options)
        obs, info = self.env.reset(seed=seed, options=episode)
        self.parameters = dict(episode["parameters"])
        return obs, {**info, "parameters": dict(self.parameters)}


class SupportsEnvMethod(Protocol):
    """What :func:`apply_lesson` needs of a vectorized env (SB3's `VecEnv`, wrapped or not)."""

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        """Call a method of every env."""
        ...


def apply_lesson(venv: SupportsEnvMethod, lesson: int, indices: Sequence[int] | None = None) -> None:
    """Move the envs of `venv` (each wrapped in a :class:`ParameterWrapper`) to `lesson` from their next reset on."""
    venv.env_method(SET_LESSON_METHOD, int(lesson), indices=indices)
