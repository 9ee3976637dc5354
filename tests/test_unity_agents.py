"""Many agents per player (`environment.unity.agents_per_instance`): real reference-sim players over ROS-TCP.

The agent views are stepped the way an env worker steps them (`ray_lab.workers.stepping.EnvStepper`):
every agent's action first, then each collects its part of the one batch answer; only the agents
whose episode ended are reset.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ray_lab.config.errors import ConfigError
from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories
from ray_lab.learner.actor import run_training
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.plan import plan_training
from ray_lab.tracking.run_dir import prepare_run
from ray_lab.workers.stepping import EnvStepper
from unity_workers.envs.agents import AgentEnv
from unity_workers.envs.unity_env import UnityEnv
from unity_workers.spec import UnitySpec

ROOT = Path(__file__).resolve().parents[1]
K = 4
FORWARD = np.array([1.0, 0.0], dtype=np.float32)


def agent_config(tmp_path: Path, *extra: str, agents: int = K) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "experiment": {"output_dir": str(tmp_path)},
            "environment": {
                "unity": {"agents_per_instance": agents, "extra_args": ["--light", *extra], "ros2_graph": "off"}
            },
            "workers": {"num_workers": 1, "envs_per_worker": 1},
        }
    )


class Stepper:
    """The agent envs of one player, stepped like a worker steps them; pending seeds are given per agent."""

    def __init__(self, envs: list[Any]) -> None:
        self.envs = envs
        self.seeds: dict[int, int | None] = {}
        self.stepper = EnvStepper(
            envs, "auto", reset_args=lambda i: (self.seeds.pop(i, None), None), set_cursor=lambda i: None
        )

    def reset(self, seeds: list[int]) -> list[np.ndarray]:
        self.seeds = dict(enumerate(seeds))
        return [obs for obs, _ in self.stepper.reset()]

    def step(self, action: np.ndarray = FORWARD) -> list[Any]:
        return self.stepper.step([action] * len(self.envs))


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[Any]]:
    config = agent_config(tmp_path)
    plan = plan_training(config, 0)
    envs = [factory() for factory in make_env_factories(config.environment, plan.train.assignment)]
    yield envs
    for env in envs:
        env.close()


def test_the_plan_counts_agents_and_shows_them(tmp_path: Path) -> None:
    config = agent_config(tmp_path, agents=8)
    config.workers.num_workers, config.workers.envs_per_worker = 2, 3
    plan = plan_training(config, 0)
    assert plan.num_envs == 2 * 3 * 8 and plan.train.assignment.envs_per_worker == 24
    assert (
        plan.train.num_workers == 2 and "2 train worker(s) x 3 players x 8 agents (48 envs in all)" in plan.describe()
    )
    assert plan.eval is not None and plan.eval.num_envs == 16  # 10 episodes need 2 players of 8 agents
    assert plan.train.assignment.agent(13) == (1, 5)  # env 13: agent 5 of player 1
    assert plan.train.count_envs() == "n_envs = 2 workers x 3 players x 8 agents = 48"


def test_one_player_serves_every_agent_and_seeded_resets_repeat(agents: list[Any]) -> None:
    assert len(agents) == K and all(isinstance(env.unwrapped, AgentEnv) for env in agents)
    batches = {id(env.unwrapped.batch) for env in agents}
    assert len(batches) == 1  # one player, one bridge
    stepper = Stepper(agents)
    first = stepper.reset([100, 101, 102, 103])
    assert not np.allclose(first[0], first[1])  # each agent its own episode
    again = stepper.reset([100, 101, 102, 103])
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))

    single = UnityEnv(UnitySpec(extra_args=["--light"], ros2_graph="off"))
    try:  # agent 2 seeded with 102 starts the same episode as a single-agent player seeded with 102
        assert np.array_equal(single.reset(seed=102)[0], first[2])
    finally:
        single.close()


def test_only_the_agents_that_finished_are_reset(agents: list[Any]) -> None:
    """Agent 0 drives straight (into a wall or the target, again and again); the others turn on the spot."""
    stepper = Stepper(agents)
    stepper.reset([1, 2, 3, 4])
    spin = np.array([0.0, 1.0], dtype=np.float32)
    distance = [np.linalg.norm(obs[16:18]) for obs in stepper.reset([1, 2, 3, 4])]
    lengths, episodes = [0] * K, [0] * K
    for _ in range(300):  # below the step limit (400): only agent 0's episodes end
        for i, result in enumerate(stepper.stepper.step([FORWARD, spin, spin, spin])):
            lengths[i] += 1
            if result.done:
                assert result.info["episode"]["l"] == lengths[i]
                episodes[i], lengths[i] = episodes[i] + 1, 0
            elif i:  # a spinning agent stays where it is: never reset along with agent 0
                assert np.linalg.norm(result.obs[16:18]) == pytest.approx(distance[i], abs=1e-4)
    assert episodes[0] >= 3 and episodes[1:] == [0, 0, 0], episodes


def test_a_player_crash_truncates_every_agent_and_stepping_goes_on(tmp_path: Path) -> None:
    config = agent_config(tmp_path, "--crash-after-steps", "3")
    envs = [f() for f in make_env_factories(config.environment, plan_training(config, 0).train.assignment)]
    try:
        stepper = Stepper(envs)
        stepper.reset([0, 1, 2, 3])
        for _ in range(3):
            assert not any(result.done for result in stepper.step())
        crashed = stepper.step()  # the player exits on its 4th step call
        assert all(r.done and r.truncated and r.info["env_restarted"] for r in crashed)
        assert all(r.info["restarts"] == 1 for r in crashed)
        assert not any(result.done for result in stepper.step())  # the new player's agents carry on
        assert len(envs[0].unwrapped.batch.player.log_paths) == 2
    finally:
        for env in envs:
            env.close()


def test_agents_need_split_phase_stepping(agents: list[Any]) -> None:
    with pytest.raises(ValueError, match="env_concurrency: auto"):
        EnvStepper(agents, "serial", reset_args=lambda i: (None, None), set_cursor=lambda i: None)


@pytest.mark.slow
def test_training_goes_on_after_a_multi_agent_player_crashes(ray_session: None, tmp_path: Path) -> None:
    config = load_experiment(
        ROOT / "configs" / "reference_nav_ppo.yaml",
        [
            "environment.unity.agents_per_instance=4",
            'environment.unity.extra_args=["--crash-after-steps", "600"]',
            "workers.num_workers=1",
            "workers.envs_per_worker=1",
            "workers.eval_envs_per_worker=1",
            "training.use_wandb=false",
            f"experiment.output_dir={tmp_path}",
            "training.training.total_timesteps=4096",
            "training.algorithm_parameters.n_steps=128",
            "training.training.log_points=1",
            "training.training.eval.num_evals=1",
            "training.training.eval.num_episodes=4",
            "learner.num_cpus=0.5",
        ],
    )
    run_dir = prepare_run(config).root
    summary = run_training(config, run_dir, None)
    assert summary.timesteps >= 4096
    restarts = sorted(path.name for path in (run_dir / "unity").glob("worker_0.restart-*.log"))
    assert len(restarts) == 1, restarts  # 1024 batch steps of one player: a crash after 600
    with (run_dir / "evaluations.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("environment: {unity: {agents_per_instance: 4}}\nworkers: {env_concurrency: serial}\n", "env_concurrency"),
        ("environment: {unity: {agents_per_instance: 4, protocol: grpc}}\n", "agents_per_instance"),
        ("environment: {unity: {protocol: grpc}, parameters: {target_distance: 2.0}}\n", "protocol: ros_tcp"),
    ],
)
def test_configs_agents_cannot_serve_are_errors_at_load(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(path) in str(info.value) and key in str(info.value)
