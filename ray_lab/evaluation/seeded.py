"""Seeded evaluation: the same episode seeds every round, so rounds and runs are comparable.

Episode `i` of a round always starts from `reset(seed=seed + i)`. With `n` eval envs, episodes run
in batches of `n`: env `j` of batch `b` plays episode `b * n + j` and only its first episode counts.
An episode that a simulator restart cut short is played again with its seed, not averaged in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

logger = logging.getLogger(__name__)


class Predictor(Protocol):
    """What evaluation needs of a model: SB3's `predict`."""

    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]: ...


@dataclass(frozen=True)
class EpisodeResults:
    """Returns and lengths of the episodes of one round, in seed order."""

    seeds: list[int]
    returns: list[float]
    lengths: list[int]
    successes: list[bool | None] | None = None  # the final `info["is_success"]` of each episode, if any
    replays: int = 0  # episodes played again because a simulator restart cut them short
    cut: int = 0  # episodes still cut short by a restart after their replays (counted as they ended)

    @property
    def success_rate(self) -> float | None:
        """Fraction of episodes whose env reported `is_success` true (None when no episode reported it)."""
        if not self.successes or all(s is None for s in self.successes):
            return None
        return float(np.mean([bool(s) for s in self.successes]))

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))

    @property
    def std_length(self) -> float:
        return float(np.std(self.lengths))


def episode_seeds(seed: int, num_episodes: int) -> list[int]:
    """The seeds of a round: `seed, seed+1, ..., seed+num_episodes-1`."""
    return [seed + i for i in range(num_episodes)]


MAX_REPLAYS = 1
"""Replays of an evaluation episode that a simulator restart cut short. A replay cut short too is kept,
counted in `EpisodeResults.cut` with a warning: a seed that crashes the simulator every time would
otherwise spend the env's restart quota and end the training."""


@dataclass(frozen=True)
class _Episode:
    """One played episode; `cut`: a simulator restart ended it (`info["env_restarted"]`), not the task."""

    ret: float
    length: int
    success: bool | None
    cut: bool


StepObserver = Callable[[VecEnv], None]
"""Called with the env before each step of an episode (`ray-lab play --record` renders a frame)."""


def _run_batch(
    model: Predictor, env: VecEnv, first_seed: int, count: int, deterministic: bool, observe: StepObserver | None
) -> list[_Episode]:
    """Play one episode on each of the first `count` envs, seeded `first_seed + j`."""
    env.seed(first_seed)
    obs = env.reset()
    returns = np.zeros(env.num_envs, dtype=np.float64)
    lengths = np.zeros(env.num_envs, dtype=np.int64)
    active = np.arange(env.num_envs) < count
    episode_start = np.ones(env.num_envs, dtype=bool)
    last_infos: list[dict[str, Any]] = [{} for _ in range(env.num_envs)]
    state = None
    while active.any():
        if observe is not None:
            observe(env)
        actions, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)
        obs, rewards, dones, infos = env.step(actions)
        returns[active] += rewards[active]
        lengths[active] += 1
        for j in np.flatnonzero(active & dones):
            last_infos[j] = infos[j]
        active &= ~dones
        episode_start = dones
    return [_episode(float(returns[j]), int(lengths[j]), last_infos[j]) for j in range(count)]


def _episode(ret: float, length: int, info: dict[str, Any]) -> _Episode:
    success = info.get("is_success")
    return _Episode(ret, length, None if success is None else bool(success), bool(info.get("env_restarted")))


def _replay(
    model: Predictor, env: VecEnv, seed: int, deterministic: bool, observe: StepObserver | None
) -> tuple[_Episode, int]:
    """Play the episode of `seed` again, up to `MAX_REPLAYS` times; the last episode and the replays it took."""
    replays = 0
    while True:
        logger.warning("evaluation episode (seed %d) was cut short by a simulator restart; replaying it", seed)
        (episode,) = _run_batch(model, env, seed, 1, deterministic, observe)
        replays += 1
        if not episode.cut:
            return episode, replays
        if replays >= MAX_REPLAYS:
            logger.warning("evaluation episode (seed %d) was cut short again; it counts as it ended", seed)
            return episode, replays


def run_seeded_episodes(
    model: Predictor,
    env: VecEnv,
    seed: int,
    num_episodes: int,
    deterministic: bool = True,
    observe: StepObserver | None = None,
) -> EpisodeResults:
    """Play `num_episodes` episodes with seeds `seed, seed+1, ...` on `env` (any number of envs).

    An episode that a simulator restart cut short (`info["env_restarted"]`) is replayed with its seed
    instead of being averaged in; `replays` counts the replays, `cut` the episodes whose replay was cut
    short too (see `MAX_REPLAYS`). Rewards are those `env` returns: wrap
    it in VecNormalize with `norm_reward=False` for raw returns. `observe` sees the env before
    every step (evaluation rounds and `ray-lab play` share this loop).
    """
    if num_episodes <= 0:
        raise ValueError(f"expected a positive number of episodes, got {num_episodes}")
    episodes: list[_Episode] = []
    replays = 0
    for start in range(0, num_episodes, env.num_envs):
        count = min(env.num_envs, num_episodes - start)
        for j, episode in enumerate(_run_batch(model, env, seed + start, count, deterministic, observe)):
            if episode.cut:
                episode, used = _replay(model, env, seed + start + j, deterministic, observe)
                replays += used
            episodes.append(episode)
    return EpisodeResults(
        episode_seeds(seed, num_episodes),
        [e.ret for e in episodes],
        [e.length for e in episodes],
        [e.success for e in episodes],
        replays=replays,
        cut=sum(e.cut for e in episodes),
    )
