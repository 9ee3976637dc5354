"""Seeded evaluation: the same episode seeds every round, so rounds and runs are comparable.

Episode `i` of a round always starts from `reset(seed=seed + i)`. With `n` eval envs, episodes run
in batches of `n`: env `j` of batch `b` plays episode `b * n + j` and only its first episode counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.vec_env import VecEnv


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


def _run_batch(
    model: Predictor, env: VecEnv, first_seed: int, count: int, deterministic: bool
) -> tuple[list[float], list[int], list[bool | None]]:
    """Play one episode on each of the first `count` envs, seeded `first_seed + j`."""
    env.seed(first_seed)
    obs = env.reset()
    returns = np.zeros(env.num_envs, dtype=np.float64)
    lengths = np.zeros(env.num_envs, dtype=np.int64)
    active = np.arange(env.num_envs) < count
    episode_start = np.ones(env.num_envs, dtype=bool)
    successes: list[bool | None] = [None] * env.num_envs
    state = None
    while active.any():
        actions, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)
        obs, rewards, dones, infos = env.step(actions)
        returns[active] += rewards[active]
        lengths[active] += 1
        for j in np.flatnonzero(active & dones):
            success = infos[j].get("is_success")
            successes[j] = None if success is None else bool(success)
        active &= ~dones
        episode_start = dones
    return returns[:count].tolist(), lengths[:count].tolist(), successes[:count]


def run_seeded_episodes(
    model: Predictor, env: VecEnv, seed: int, num_episodes: int, deterministic: bool = True
) -> EpisodeResults:
    """Play `num_episodes` episodes with seeds `seed, seed+1, ...` on `env` (any number of envs).

    Rewards are those `env` returns: wrap it in VecNormalize with `norm_reward=False` for raw returns.
    """
    if num_episodes <= 0:
        raise ValueError(f"expected a positive number of episodes, got {num_episodes}")
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[bool | None] = []
    for start in range(0, num_episodes, env.num_envs):
        count = min(env.num_envs, num_episodes - start)
        batch_returns, batch_lengths, batch_successes = _run_batch(model, env, seed + start, count, deterministic)
        returns += batch_returns
        lengths += batch_lengths
        successes += batch_successes
    return EpisodeResults(episode_seeds(seed, num_episodes), returns, lengths, successes)
