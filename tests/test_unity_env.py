"""UnityEnv against real reference-simulator processes and real ROS-TCP bridges (no mocks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import unity_workers.envs  # noqa: F401  (registers ray_lab/ReferenceNav-v0)
from unity_workers.envs import REFERENCE_NAV_ID, NavAdapter, UnityEnv, load_adapter

MakeEnv = Callable[..., UnityEnv]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[MakeEnv]:
    """Builds UnityEnvs logging under ``tmp_path`` and closes every one of them afterwards."""
    envs: list[UnityEnv] = []

    def make(**kwargs: Any) -> UnityEnv:
        kwargs.setdefault("log_dir", str(tmp_path / f"env{len(envs)}"))
        kwargs.setdefault("connect_timeout_s", 30.0)
        env = UnityEnv(**kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def test_seeded_reset_is_reproducible_and_steps_work(make_env: MakeEnv) -> None:
    env = make_env()
    first, info = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(first, again)
    assert info == {"restarts": 0}
    assert env.observation_space.contains(first)
    other, _ = env.reset(seed=4)
    assert not np.array_equal(first, other)
    for _ in range(10):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        assert info["restarts"] == 0
        if terminated or truncated:
            break


def test_check_env_passes(make_env: MakeEnv) -> None:
    check_env(make_env(), skip_render_check=True)


def test_registered_id_makes_a_unity_env(tmp_path: Path) -> None:
    env = gym.make(REFERENCE_NAV_ID, log_dir=str(tmp_path), max_restarts=3)
    try:
        assert isinstance(env.unwrapped, UnityEnv) and env.unwrapped.unity_spec.max_restarts == 3
        obs, _ = env.reset(seed=1)
        assert obs.shape == (20,) and obs.dtype == np.float32
    finally:
        env.close()
    env.close()  # idempotent


def _assert_restarts_after_fault(env: UnityEnv, faulty_step: int) -> None:
    env.reset(seed=0)
    old_port, old_pid = env.port, env.process.pid if env.process else None
    zero = np.zeros(2, dtype=np.float32)
    for _ in range(faulty_step - 1):
        obs, _, terminated, truncated, info = env.step(zero)
        assert not (terminated or truncated) and "env_restarted" not in info
    last_good = obs
    obs, reward, terminated, truncated, info = env.step(zero)
    assert truncated and not terminated and info["env_restarted"] is True and info["restarts"] == 1
    assert reward == 0.0
    np.testing.assert_array_equal(obs, last_good)
    assert env.port != old_port and env.process is not None and env.process.pid != old_pid
    obs, info = env.reset(seed=0)
    assert info["restarts"] == 1
    obs, _, _, truncated, info = env.step(zero)
    assert not truncated and info["restarts"] == 1 and "env_restarted" not in info


@pytest.mark.parametrize("protocol", ["ros_tcp", "grpc"])
def test_crashed_player_is_restarted(make_env: MakeEnv, protocol: str) -> None:
    env = make_env(extra_args=["--crash-after-steps", "5"], protocol=protocol)
    _assert_restarts_after_fault(env, 6)
    assert env.restarts == 1


@pytest.mark.parametrize("protocol", ["ros_tcp", "grpc"])
def test_hung_player_is_restarted(make_env: MakeEnv, protocol: str) -> None:
    env = make_env(extra_args=["--hang-after-steps", "3"], step_timeout_s=0.5, protocol=protocol)
    _assert_restarts_after_fault(env, 4)


def test_exceeding_max_restarts_raises_naming_the_log(make_env: MakeEnv) -> None:
    env = make_env(extra_args=["--crash-after-steps", "0"], max_restarts=1, worker_index=7)
    env.reset(seed=0)
    _, _, _, truncated, info = env.step(np.zeros(2))
    assert truncated and info["restarts"] == 1
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="restart quota exceeded") as caught:
        env.step(np.zeros(2))
    message = str(caught.value)
    assert "worker 7" in message and str(env.log_path) in message and "crash injected" in message


def test_exceeding_restarts_per_minute_raises(make_env: MakeEnv) -> None:
    env = make_env(extra_args=["--crash-after-steps", "0"], max_restarts=10, max_restarts_per_minute=2)
    for expected in (1, 2):
        env.reset(seed=0)
        _, _, _, truncated, info = env.step(np.zeros(2))
        assert truncated and info["restarts"] == expected
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="max_restarts_per_minute=2"):
        env.step(np.zeros(2))


def test_two_envs_get_different_ports(make_env: MakeEnv) -> None:
    a, b = make_env(worker_index=0), make_env(worker_index=1)
    assert a.port != b.port
    obs_a, _ = a.reset(seed=5)
    obs_b, _ = b.reset(seed=5)
    np.testing.assert_array_equal(obs_a, obs_b)


def test_nav_adapter_reward_and_termination() -> None:
    adapter = NavAdapter()

    class State:
        def __init__(self, distance: float, reached: bool = False, collided: bool = False) -> None:
            self.lidar_ranges = np.full(16, 5.0, dtype=np.float32)
            self.robot_x, self.robot_y, self.robot_yaw = 0.0, 0.0, float(np.pi / 2)
            self.target_x, self.target_y = 0.0, distance
            self.distance_to_target, self.reached_target = distance, reached
            self.collided, self.truncated = collided, False

    far, near = State(2.0), State(1.5)
    assert adapter.reward(near, far) == pytest.approx(10 * 0.5 - 0.01)
    assert adapter.reward(State(0.4, reached=True), near) == pytest.approx(10 * 1.1 + 10 - 0.01)
    assert adapter.terminated(State(1.0, collided=True)) and not adapter.terminated(near)
    obs = adapter.observation(far)
    np.testing.assert_allclose(obs[16:], [0.2, 0.0, 1.0, 0.0], atol=1e-6)  # target straight ahead
    assert adapter.make_reset_request(None)["seed"] == -1


def test_bad_adapter_path_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"package\.module:Class"):
        load_adapter("no_colon")
    with pytest.raises(ValueError, match="cannot load adapter"):
        load_adapter("unity_workers.envs:Missing")


def test_ppo_trains_through_ray_workers_with_injected_crashes(ray_session: None, tmp_path: Path) -> None:
    from ray_lab.learner.actor import run_training
    from ray_lab.learner.experiment import load_experiment
    from ray_lab.tracking.run_dir import prepare_run

    config_path = tmp_path / "reference_nav_ppo.yaml"
    config_path.write_text(
        f"""
experiment:
  name: reference_nav
  output_dir: {tmp_path / "runs"}
environment:
  id: "unity_workers.envs:ray_lab/ReferenceNav-v0"
  env_config:
    extra_args: ["--crash-after-steps", "300"]
    max_restarts: 3
    log_dir: "{tmp_path / "unity_logs"}"
training:
  algorithm: ppo
  use_wandb: false
  algorithm_parameters:
    policy: MlpPolicy
    n_steps: 256
    batch_size: 128
    n_epochs: 1
  training:
    total_timesteps: 1024
    device: cpu
    log_points: 1
    seed: 0
    eval:
      num_evals: 0
workers:
  num_workers: 2
  envs_per_worker: 1
"""
    )
    config = load_experiment(config_path, [])
    run_dir = prepare_run(config).root
    summary = run_training(config, run_dir, None)
    assert summary.timesteps >= 1024
    assert (run_dir / "model.zip").exists()
    # Both workers (worker_index 0 each: shared log files, one per start) passed step 300, crashed and went on.
    log = "".join(path.read_text() for path in sorted((tmp_path / "unity_logs").glob("worker_0*.log")))
    assert log.count("crash injected") >= 2 and log.count("connected to 127.0.0.1") >= 4
