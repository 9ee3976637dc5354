"""`RandomPolicy`: uniform-random actions with SB3's `predict` signature, the baseline a trained agent must beat."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv


class RandomPolicy:
    """Samples one action per env from `env.action_space` (seed it with `env.action_space.seed(n)`)."""

    def __init__(self, env: VecEnv) -> None:
        self.env = env

    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Random actions for every env, and no recurrent state."""
        return np.stack([self.env.action_space.sample() for _ in range(self.env.num_envs)]), None
