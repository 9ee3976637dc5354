"""Seeded evaluation replays an episode that a simulator restart cut short (real reference-sim players)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from ray_lab.evaluation.seeded import run_seeded_episodes
from unity_workers.envs import UnityEnv
from unity_workers.envs.adapters import DEFAULT_ADAPTER

SEED = 100
EPISODES = 3


class ConstantPolicy:
    """Always the same action, so an episode depends only on its seed."""

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> Any:
        return np.tile(np.array([0.6, 0.2], dtype=np.float32), (len(observation), 1)), None


def crash_once_command(marker: Path, after_steps: int) -> list[str]:
    """A player that crashes after `after_steps` steps on its first start only (then runs clean)."""
    sim = f"{sys.executable} -m unity_workers.reference_sim"
    script = (
        f'if [ -e "{marker}" ]; then exec {sim} "$@"; fi; '
        f'touch "{marker}"; exec {sim} --crash-after-steps {after_steps} "$@"'
    )
    return ["/bin/sh", "-c", script, "player"]


@pytest.fixture
def envs(tmp_path: Path) -> Iterator[dict[str, VecEnv]]:
    common: dict[str, Any] = {"connect_timeout_s": 30.0, "max_restarts": 3, "extra_args": ["--light"]}
    command = crash_once_command(tmp_path / "m", 12)
    crashing = UnityEnv(log_dir=str(tmp_path / "crash"), command=command, adapter=DEFAULT_ADAPTER, **common)
    clean = UnityEnv(log_dir=str(tmp_path / "clean"), **common)
    made = {"crash": DummyVecEnv([lambda: crashing]), "clean": DummyVecEnv([lambda: clean])}
    yield made
    for env in made.values():
        env.close()


def test_an_episode_cut_by_a_restart_is_replayed_not_averaged(envs: dict[str, VecEnv]) -> None:
    policy = ConstantPolicy()
    clean = run_seeded_episodes(policy, envs["clean"], SEED, EPISODES)
    crashed = run_seeded_episodes(policy, envs["crash"], SEED, EPISODES)
    assert clean.replays == 0 and min(clean.lengths) > 12  # the first episode outlives the crash point
    assert crashed.replays == 1 and crashed.cut == 0
    assert crashed.seeds == clean.seeds
    assert crashed.lengths == clean.lengths
    np.testing.assert_allclose(crashed.returns, clean.returns, rtol=1e-6)


def test_a_seed_that_crashes_every_time_counts_as_cut_after_one_replay(tmp_path: Path) -> None:
    """A simulator that always crashes mid-episode: each episode is replayed once, then counted as cut."""
    spec: dict[str, Any] = {"connect_timeout_s": 30.0, "max_restarts": 10, "max_restarts_per_minute": 10}
    env = DummyVecEnv([lambda: UnityEnv(log_dir=str(tmp_path), extra_args=["--crash-after-steps", "5"], **spec)])
    try:
        results = run_seeded_episodes(ConstantPolicy(), env, SEED, 2)
    finally:
        env.close()
    assert results.replays == 2 and results.cut == 2
    assert results.lengths == [6, 6]  # five answered steps, then the sixth call finds the player gone
