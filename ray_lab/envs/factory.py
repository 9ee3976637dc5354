"""Picklable env factories: what each env worker calls to build its environments."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import RecordEpisodeStatistics

from ray_lab.config.parameters import lesson_tables
from ray_lab.config.schema import EnvironmentSection
from ray_lab.config.wrappers import WrapperSpec, apply_wrappers
from ray_lab.envs.parameters import EnvParameters, ParameterWrapper
from ray_lab.workers.assignment import EnvAssignment
from unity_workers.ros2.names import sanitize_token
from unity_workers.spec import UnitySpec

EVAL_GROUPS = ("eval", "play")
"""Groups whose envs take `environment.eval_env_kwargs` over `env_config`."""
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
    agent: int = 0  # which agent of its player this env is (with `agents_per_instance` > 1)
    agents: int = 1  # agents of its player


@dataclass(frozen=True)
class EnvFactory:
    """Builds one environment: `gymnasium.make(env_id, **env_kwargs)` or a `UnityEnv`, optionally monitored.

    The chain, innermost first: the env, `wrappers` (`environment.wrappers`, in order), the
    `ParameterWrapper` of environment parameters, then monitoring. User wrappers sit right around the
    env so that parameters and episode statistics see the wrapped episodes (a `TimeLimit`'s lengths).
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
    parameters: EnvParameters | None = None  # set by `with_parameters`: drawn and sent at every reset
    wrappers: tuple[WrapperSpec, ...] = ()

    def __call__(self) -> gym.Env:
        import ray_lab.envs  # noqa: F401  (registers ray_lab/* ids inside the worker process)

        # Headless workers: pygame-rendered envs must not look for a display or a sound card.
        if self.render_mode != "human":
            for name, value in HEADLESS_ENV.items():
                os.environ.setdefault(name, value)
        env = self._make_unity() if self.unity is not None else self._make_gym()
        env = apply_wrappers(env, self.wrappers)
        if self.parameters is not None:
            env = ParameterWrapper(env, self.parameters)
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
        kwargs: dict[str, Any] = dict(
            worker_index=where.worker_index,
            env_slot=where.env_slot,
            environment_id=where.environment_id,
            group=where.group,
            log_dir=where.log_dir,
            ros2_namespace=where.ros2_namespace,
            render_mode="rgb_array" if self.render_mode == "rgb_array" else None,
            parameter_names=self.parameters.names if self.parameters is not None else (),
        )
        if where.agents > 1 and spec is not None:
            from unity_workers.envs.agents import agent_env

            return agent_env(spec, where.agent, **kwargs)
        return UnityEnv(spec, **kwargs)


def make_env_factories(
    env: EnvironmentSection,
    assignment: EnvAssignment,
    *,
    render_mode: str | None = None,
    monitor: bool | None = None,
    group: str = "train",
    log_dir: str | None = None,
    run_name: str | None = None,
) -> list[Callable[[], gym.Env]]:
    """One factory per env of `assignment` (the training plan's), in global env order.

    Render mode and Monitor may be overridden. Envs of the `eval` and `play` groups take
    `env.eval_env_kwargs` merged over `env.env_config`; every group gets `env.wrappers`.
    Simulator-backed envs (`environment.unity`) learn their worker, slot, group and log folder, so
    worker k's player logs to `<log_dir>/worker_<k>.log`; with several agents per instance, the envs
    of one player learn which agent of it they are.
    """
    slots = assignment.slots()
    unity = env.unity
    if unity is not None and unity.agents_per_instance != assignment.agents_per_instance:  # e.g. `play`: one agent
        unity = unity.model_copy(update={"agents_per_instance": assignment.agents_per_instance})
    base = EnvFactory(
        env_id=env.id,
        env_kwargs=group_env_kwargs(env, group),
        render_mode=render_mode if render_mode is not None else env.render_mode,
        monitor=env.monitor if monitor is None else monitor,
        unity=unity,
        wrappers=tuple(env.wrappers),
    )
    if unity is None:
        return [base] * len(slots)
    prefix = unity.ros2_namespace or (f"/ray_lab/{sanitize_token(run_name)}" if run_name else "/ray_lab")
    factories: list[Callable[[], gym.Env]] = []
    k = assignment.agents_per_instance
    for i, (worker, slot) in enumerate(slots):
        namespace = f"{prefix.rstrip('/')}/{'' if group == 'train' else group + '_'}worker_{worker}"
        instance, agent = assignment.agent(i)
        placement = UnityPlacement(worker, slot // k, instance, group, log_dir, namespace, agent, k)
        factories.append(dataclasses.replace(base, placement=placement))
    return factories


def group_env_kwargs(env: EnvironmentSection, group: str) -> dict[str, Any]:
    """The `gymnasium.make` kwargs of `group`'s envs: `env_config`, with `eval_env_kwargs` over it for eval/play."""
    kwargs = dict(env.env_config or {})
    if group in EVAL_GROUPS:
        kwargs.update(env.eval_env_kwargs or {})
    return kwargs


def with_parameters(
    factories: Sequence[Callable[[], gym.Env]],
    env: EnvironmentSection,
    seed: int | None,
    group: str,
    lesson: int = 0,
) -> list[Callable[[], gym.Env]]:
    """`factories` (one group's, in global env order) sending `env`'s parameters at every reset.

    Env `i` draws from its own RNG, started from `seed`, `group` (`train` or `eval`) and `i`; all
    start in `lesson` (a negative index counts from the last). Without parameters, `factories`
    unchanged: their envs get no wrapper (and need not accept reset `options`).
    """
    tables = lesson_tables(env.parameters, env.curriculum)
    if not tables:
        return list(factories)
    lesson = lesson % len(tables)
    made: list[Callable[[], gym.Env]] = []
    for i, factory in enumerate(factories):
        if not isinstance(factory, EnvFactory):
            raise TypeError(f"environment parameters need EnvFactory factories, got {type(factory).__name__}")
        setup = EnvParameters(tuple(tables), seed, group, i, lesson)
        made.append(dataclasses.replace(factory, parameters=setup))
    return made
