"""Picklable env factories: what each env worker calls to build its environments."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import RecordEpisodeStatistics

from ray_lab.config.schema import EnvironmentSection
from unity_workers.ros2.names import sanitize_token
from unity_workers.spec import UnitySpec

HEADLESS_ENV = {"SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}


@dataclass(frozen=True)
class UnityPlacement:
    """Where one simulator-backed env sits: its worker, its slot there, its group and where logs go."""

    worker_index: int
    env_slot: int
    environment_id: int
    group: str = "train"
    log_dir: str | None = None
    ros2_namespace: str | None = None


@dataclass(frozen=True)
class EnvFactory:
    """Builds one environment: `gymnasium.make(env_id, **env_kwargs)` or a `UnityEnv`, optionally monitored.

    Instances are plain data, so they pickle cheaply to env workers on any node. Monitoring is
    gymnasium's `RecordEpisodeStatistics`, which puts `info["episode"] = {"r", "l", "t"}` at each
    episode's end exactly where SB3 reads it (as SB3's `Monitor` does) without importing
    Stable-Baselines3, and with it torch, into every env worker: seconds of start-up per worker.
    """

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    render_mode: str | None = None
    monitor: bool = True
    unity: UnitySpec | None = None
    placement: UnityPlacement | None = None

    def __call__(self) -> gym.Env:
        import ray_lab.envs  # noqa: F401  (registers ray_lab/* ids inside the worker process)

        # Headless workers: pygame-rendered envs must not look for a display or a sound card.
        if self.render_mode != "human":
            for name, value in HEADLESS_ENV.items():
                os.environ.setdefault(name, value)
        env = self._make_unity() if self.unity is not None else self._make_gym()
        return RecordEpisodeStatistics(env) if self.monitor else env

    def _make_gym(self) -> gym.Env:
        kwargs = dict(self.env_kwargs)
        if self.render_mode is not None:
            kwargs["render_mode"] = self.render_mode
        return gym.make(self.env_id, **kwargs)

    def _make_unity(self) -> gym.Env:
        from unity_workers.envs import UnityEnv

        where = self.placement or UnityPlacement(0, 0, 0)
        spec = self.unity
        if self.render_mode == "human" and spec is not None:  # watch: a player window instead of -batchmode
            spec = spec.model_copy(update={"batchmode": False, "graphics": True})
        env = UnityEnv(
            spec,
            worker_index=where.worker_index,
            env_slot=where.env_slot,
            environment_id=where.environment_id,
            group=where.group,
            log_dir=where.log_dir,
            ros2_namespace=where.ros2_namespace,
            render_mode="rgb_array" if self.render_mode == "rgb_array" else None,
        )
        return env


def make_env_factories(
    env: EnvironmentSection,
    slots: Sequence[tuple[int, int]],
    *,
    render_mode: str | None = None,
    monitor: bool | None = None,
    group: str = "train",
    log_dir: str | None = None,
    run_name: str | None = None,
) -> list[Callable[[], gym.Env]]:
    """One factory per `(worker, slot)` of `slots` (the training plan's), in global env order.

    Render mode and Monitor may be overridden. Simulator-backed envs (`environment.unity`) learn
    their worker, slot, group and log folder, so worker k's player logs to `<log_dir>/worker_<k>.log`.
    """
    if not slots:
        raise ValueError("expected at least one environment, got none")
    base = EnvFactory(
        env_id=env.id,
        env_kwargs=dict(env.env_config or {}),
        render_mode=render_mode if render_mode is not None else env.render_mode,
        monitor=env.monitor if monitor is None else monitor,
        unity=env.unity,
    )
    if env.unity is None:
        return [base] * len(slots)
    prefix = env.unity.ros2_namespace or (f"/ray_lab/{sanitize_token(run_name)}" if run_name else "/ray_lab")
    factories: list[Callable[[], gym.Env]] = []
    for i, (worker, slot) in enumerate(slots):
        namespace = f"{prefix.rstrip('/')}/{'' if group == 'train' else group + '_'}worker_{worker}"
        placement = UnityPlacement(worker, slot, i, group, log_dir, namespace)
        factories.append(dataclasses.replace(base, placement=placement))
    return factories
