"""Small deterministic environments for tests and benchmarks only (the product never imports this module).

Registered ids: ``ray_lab/Sleep-v0`` (:class:`SleepEnv`), ``ray_lab/Counter-v0``
(:class:`CounterEnv`), ``ray_lab/Spaces-v0`` (:class:`SpacesEnv`), ``ray_lab/Target-v0``
(:class:`TargetEnv`, driven by reset parameters) and ``ray_lab/Goal-v0``
(:class:`GoalEnv`, goal-conditioned for HER). In a process that has not
imported this module (a Ray worker), use ``gym.make("ray_lab.envs.testing:ray_lab/Sleep-v0")``,
which imports it first. Every class is defined at
module level so that factories such as ``functools.partial(SpacesEnv, "dict")`` pickle to Ray
workers by reference. Observations and rewards come from the env's seeded ``np_random``, so the
same seed gives the same trajectory and different seeds give different ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ObsType = Any


def _box() -> spaces.Space:
    return spaces.Box(low=0.0, high=1.0, shape=(2,), dtype=np.float32)


def _discrete() -> spaces.Space:
    return spaces.Discrete(2)


def _multidiscrete() -> spaces.Space:
    return spaces.MultiDiscrete([2, 3])


def _multibinary() -> spaces.Space:
    return spaces.MultiBinary(3)


def _image() -> spaces.Space:
    return spaces.Box(low=0, high=255, shape=(12, 8, 3), dtype=np.uint8)


def _dict() -> spaces.Space:
    return spaces.Dict(
        {
            "discrete": _discrete(),
            "multidiscrete": _multidiscrete(),
            "multibinary": _multibinary(),
            "continuous": _box(),
        }
    )


def _tuple() -> spaces.Space:
    return spaces.Tuple((_discrete(), _multidiscrete(), _multibinary(), _box()))


SPACE_BUILDERS: dict[str, Callable[[], spaces.Space]] = {
    "box": _box,
    "discrete": _discrete,
    "multidiscrete": _multidiscrete,
    "multibinary": _multibinary,
    "image": _image,
    "dict": _dict,
    "tuple": _tuple,
}
"""Observation spaces of :class:`SpacesEnv`, by name."""


class SpacesEnv(gym.Env):
    """An env whose observation (and action) space is one of :data:`SPACE_BUILDERS`.

    Modelled on the ``CustomGymEnv`` of SB3's vec-env tests: the episode is truncated after
    ``episode_length`` steps, observations are samples of the observation space drawn from the
    seeded RNG, the reward is uniform in [0, 1). It records the reset ``options`` in
    ``current_options`` and offers :meth:`custom_method` for ``env_method`` tests.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, space: str = "box", episode_length: int = 4, render_mode: str | None = "rgb_array") -> None:
        if space not in SPACE_BUILDERS:
            raise ValueError(f"space must be one of {sorted(SPACE_BUILDERS)}, got {space!r}")
        if episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        self.space_name = space
        self.observation_space = SPACE_BUILDERS[space]()
        self.action_space = SPACE_BUILDERS[space]()
        self.ep_length = episode_length
        self.render_mode = render_mode
        self.current_step = 0
        self.current_options: dict[str, Any] | None = None
        self.state: ObsType = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(int(self.np_random.integers(2**31)))
        self.current_step = 0
        self.current_options = options
        self.state = self.observation_space.sample()
        return self.state, {"reset_seed": seed, "options": options}

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict]:
        reward = float(self.np_random.random())
        self.state = self.observation_space.sample()
        self.current_step += 1
        truncated = self.current_step >= self.ep_length
        return self.state, reward, False, truncated, {}

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array":
            return None
        return np.full((4, 4, 3), self.current_step % 256, dtype=np.uint8)

    @staticmethod
    def custom_method(dim_0: int = 1, dim_1: int = 1) -> np.ndarray:
        """Return ``np.ones((dim_0, dim_1))`` (for ``env_method`` tests)."""
        return np.ones((dim_0, dim_1))


class CounterEnv(gym.Env):
    """Observation is the step count; the episode ends after ``max_steps`` steps.

    Like SB3's ``StepEnv``: ``step`` returns the count *before* the step, so the terminal
    observation is ``max_steps - 1`` and the first observation after the auto-reset is 0. With
    ``terminate=True`` the episode is terminated instead of truncated.
    """

    def __init__(self, max_steps: int = 5, terminate: bool = False) -> None:
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(np.array([0]), np.array([999]), dtype=np.int64)
        self.max_steps = max_steps
        self.terminate = terminate
        self.current_step = 0
        self.episodes = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        self.current_step = 0
        self.episodes += 1
        return np.array([0], dtype=np.int64), {"episode": self.episodes}

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict]:
        previous = self.current_step
        self.current_step += 1
        finished = self.current_step >= self.max_steps
        terminated = finished and self.terminate
        truncated = finished and not self.terminate
        obs = np.array([previous], dtype=np.int64)
        return obs, float(previous), terminated, truncated, {"step": previous}


class SleepEnv(gym.Env):
    """Box(4) observations and Discrete(2) actions; ``step`` sleeps ``sleep_s`` seconds.

    Stands in for an environment whose step costs wall time (a simulator, a game engine), for
    benchmarks and timeout tests. ``sleep_s`` may be changed at run time with ``set_attr``, and so
    may ``fail_in`` (``"step"`` or ``"reset"``: the next such call raises ``ValueError``).
    """

    metadata = {"render_modes": []}

    def __init__(self, sleep_s: float = 0.002, episode_length: int = 200, obs_dim: int = 4) -> None:
        if sleep_s < 0:
            raise ValueError(f"sleep_s must be >= 0, got {sleep_s}")
        self.sleep_s = sleep_s
        self.fail_in: str | None = None
        self.episode_length = episode_length
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if self.fail_in == "reset":
            raise ValueError("SleepEnv: failure injected in reset")
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {"seed": seed}

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict]:
        if self.fail_in == "step":
            raise ValueError(f"SleepEnv: failure injected in step at t={self._t}")
        if self.sleep_s > 0:
            time.sleep(self.sleep_s)
        self._t += 1
        reward = float(action) + float(self.np_random.random())
        return self._obs(), reward, False, self._t >= self.episode_length, {}

    def _obs(self) -> np.ndarray:
        return self.np_random.uniform(-1.0, 1.0, size=self.observation_space.shape).astype(np.float32)


class FailingEnv(CounterEnv):
    """A :class:`CounterEnv` that raises ``ValueError`` in ``__init__``, ``reset`` or ``step``.

    :param fail_in: ``"init"``, ``"reset"`` or ``"step"``.
    :param fail_at_step: for ``"step"``, the (1-based) step that raises.
    """

    def __init__(self, fail_in: str = "step", fail_at_step: int = 1, max_steps: int = 100) -> None:
        if fail_in not in ("init", "reset", "step"):
            raise ValueError(f"fail_in must be 'init', 'reset' or 'step', got {fail_in!r}")
        if fail_in == "init":
            raise ValueError("FailingEnv: boom in __init__")
        super().__init__(max_steps=max_steps)
        self.fail_in = fail_in
        self.fail_at_step = fail_at_step

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if self.fail_in == "reset":
            raise ValueError("FailingEnv: boom in reset")
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict]:
        if self.fail_in == "step" and self.current_step + 1 >= self.fail_at_step:
            raise ValueError(f"FailingEnv: boom at step {self.current_step + 1}")
        return super().step(action)


class TargetEnv(gym.Env):
    """Walk to a target ``target_distance`` steps ahead; the reset parameters set the episode.

    ``reset(options={"parameters": {"target_distance": d, "max_steps": n}})`` sets the target and
    the step limit (missing names keep the constructor's values); what the env received is in
    ``received``. Action 1 steps forward, 0 stays. Observations are ``[position, target_distance]``.
    Reaching the target (``position >= target_distance``: at once when it is 0 or less) ends the
    episode with reward 1 and ``info["is_success"] = True``; ``max_steps`` steps without reaching it
    truncate it with ``is_success`` false. Each step costs ``step_sleep_s`` seconds.
    """

    def __init__(self, target_distance: float = 3.0, max_steps: int = 10, step_sleep_s: float = 0.0) -> None:
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(-1e3, 1e3, shape=(2,), dtype=np.float32)
        self.defaults = {"target_distance": float(target_distance), "max_steps": float(max_steps)}
        self.step_sleep_s = step_sleep_s
        self.received: dict[str, float] = {}
        self.target = float(target_distance)
        self.max_steps = int(max_steps)
        self.position = 0.0
        self.t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        self.received = dict((options or {}).get("parameters") or {})
        values = {**self.defaults, **self.received}
        self.target, self.max_steps = float(values["target_distance"]), max(1, int(values["max_steps"]))
        self.position, self.t = 0.0, 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict]:
        if self.step_sleep_s > 0:
            time.sleep(self.step_sleep_s)
        self.position += float(int(action) == 1)
        self.t += 1
        reached = self.position >= self.target
        truncated = not reached and self.t >= self.max_steps
        info = {"is_success": reached} if reached or truncated else {}
        return self._obs(), 1.0 if reached else 0.0, reached, truncated, info

    def _obs(self) -> np.ndarray:
        return np.array([self.position, self.target], dtype=np.float32)


class MarkStep(gym.Wrapper):
    """Scales rewards by ``scale`` and sets ``info["mark"] = mark`` at every step (``environment.wrappers`` tests)."""

    def __init__(self, env: gym.Env, mark: str, scale: float = 1.0) -> None:
        super().__init__(env)
        self.mark = mark
        self.scale = scale

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward) * self.scale, terminated, truncated, {**info, "mark": self.mark}


class GoalEnv(gym.Env):
    """A goal-conditioned point (for HER): move a point in the unit square onto a goal.

    Observations are a Dict of ``observation`` (the position), ``achieved_goal`` (the position) and
    ``desired_goal`` (the goal, drawn from the seeded RNG at reset); the action moves the point by
    ``0.1 * action``. The reward is sparse, as HER's :meth:`compute_reward` recomputes it: 0 within
    ``tolerance`` of the goal, else -1. Episodes are truncated after ``max_steps``.
    """

    def __init__(self, max_steps: int = 20, tolerance: float = 0.1) -> None:
        box = spaces.Box(low=0.0, high=1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)
        self.max_steps, self.tolerance = max_steps, tolerance
        self.position = np.zeros(2, dtype=np.float32)
        self.goal = np.zeros(2, dtype=np.float32)
        self.t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        self.position = self.np_random.uniform(0.0, 1.0, 2).astype(np.float32)
        self.goal = self.np_random.uniform(0.0, 1.0, 2).astype(np.float32)
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        move = 0.1 * np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        self.position = np.clip(self.position + move, 0.0, 1.0).astype(np.float32)
        self.t += 1
        reward = float(self.compute_reward(self.position, self.goal, {}))
        return self._obs(), reward, False, self.t >= self.max_steps, {"is_success": reward == 0.0}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """0 where ``achieved_goal`` is within ``tolerance`` of ``desired_goal``, else -1 (batched on the last axis)."""
        distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        return -(distance > self.tolerance).astype(np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        position = self.position.copy()
        return {"observation": position, "achieved_goal": position.copy(), "desired_goal": self.goal.copy()}


def monitored_spaces_env(space: str = "box", episode_length: int = 4) -> gym.Env:
    """A :class:`SpacesEnv` wrapped in SB3's ``Monitor`` (for wrapper-chain tests)."""
    from stable_baselines3.common.monitor import Monitor

    return Monitor(SpacesEnv(space, episode_length=episode_length))


def _register(env_id: str, entry_point: str, **kwargs: Any) -> None:
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=entry_point, **kwargs)


_register("ray_lab/Sleep-v0", f"{__name__}:SleepEnv")
_register("ray_lab/Counter-v0", f"{__name__}:CounterEnv")
_register("ray_lab/Spaces-v0", f"{__name__}:SpacesEnv")
_register("ray_lab/Target-v0", f"{__name__}:TargetEnv")
_register("ray_lab/Goal-v0", f"{__name__}:GoalEnv")
