"""Picklable env factories: what each env worker calls to build its environments."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor

from ray_lab.config.schema import EnvironmentSection

HEADLESS_ENV = {"SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}


@dataclass(frozen=True)
class EnvFactory:
    """Builds one environment: `gymnasium.make(env_id, **env_kwargs)`, optionally in SB3's Monitor.

    Instances are plain data, so they pickle cheaply to env workers on any node.
    """

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    render_mode: str | None = None
    monitor: bool = True

    def __call__(self) -> gym.Env:
        import ray_lab.envs  # noqa: F401  (registers ray_lab/* ids inside the worker process)

        # Headless workers: pygame-rendered envs must not look for a display or a sound card.
        if self.render_mode != "human":
            for name, value in HEADLESS_ENV.items():
                os.environ.setdefault(name, value)

        kwargs = dict(self.env_kwargs)
        if self.render_mode is not None:
            kwargs["render_mode"] = self.render_mode
        env = gym.make(self.env_id, **kwargs)
        return Monitor(env) if self.monitor else env


def make_env_factories(
    env: EnvironmentSection, count: int, *, render_mode: str | None = None, monitor: bool | None = None
) -> list[Callable[[], gym.Env]]:
    """`count` factories for the configured environment (render mode and Monitor may be overridden)."""
    if count <= 0:
        raise ValueError(f"expected a positive number of environments, got {count}")
    factory = EnvFactory(
        env_id=env.id,
        env_kwargs=dict(env.env_config or {}),
        render_mode=render_mode if render_mode is not None else env.render_mode,
        monitor=env.monitor if monitor is None else monitor,
    )
    return [factory] * count
