"""Environment parameters and a curriculum on real reference-sim players over ROS-TCP.

`environment.parameters` reach the simulator in every reset request (`parameter_names` /
`parameter_values`); the players report the names they use (`accepted_parameters`), which each start
checks. The reference sim places the target exactly `target_distance` from the robot, which the
observation shows (NavAdapter: the target in the robot frame, divided by 10).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories, with_parameters
from ray_lab.learner.actor import run_training
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.plan import plan_training
from ray_lab.tracking.run_dir import prepare_run
from ray_lab.workers.stepping import EnvStepper

ROOT = Path(__file__).resolve().parents[1]
DISTANCE = {"sampler": "uniform", "low": 1.5, "high": 3.0}


def config_with(tmp_path: Path, parameters: dict[str, Any], agents: int = 1, envs: int = 2) -> ExperimentConfig:
    unity = {"extra_args": ["--light"], "ros2_graph": "off", "agents_per_instance": agents}
    return ExperimentConfig.model_validate(
        {
            "experiment": {"output_dir": str(tmp_path)},
            "environment": {"unity": unity, "parameters": parameters},
            "workers": {"num_workers": 1, "envs_per_worker": envs},
            "training": {"training": {"seed": 7}},
        }
    )


def train_factories(config: ExperimentConfig) -> list[Any]:
    """The training envs' factories as `build_train_env` makes them (with the parameter wrapper)."""
    plan = plan_training(config, 0)
    factories = make_env_factories(
        config.environment, plan.train.assignment, log_dir=str(Path(config.experiment.output_dir))
    )
    return with_parameters(factories, config.environment, config.loop.seed, "train")


def target_distance(obs: np.ndarray) -> float:
    return float(np.linalg.norm(obs[16:18]) * 10.0)


def episodes(config: ExperimentConfig, resets: int) -> list[list[tuple[float, float]]]:
    """Per env, (drawn target_distance, distance the simulator placed) of `resets` unseeded episodes."""
    envs = [factory() for factory in train_factories(config)]
    try:
        stepper = EnvStepper(envs, "auto", reset_args=lambda i: (None, None), set_cursor=lambda i: None)
        assert all(stepper.split)  # the parameter wrapper keeps split-phase stepping
        seen: list[list[tuple[float, float]]] = [[] for _ in envs]
        for _ in range(resets):
            for i, (obs, info) in enumerate(stepper.reset()):
                seen[i].append((info["parameters"]["target_distance"], target_distance(obs)))
        return seen
    finally:
        for env in envs:
            env.close()


@pytest.mark.parametrize("agents", [1, 2])
def test_randomised_parameters_reach_the_simulator_and_repeat_with_the_seed(tmp_path: Path, agents: int) -> None:
    config = config_with(tmp_path, {"target_distance": DISTANCE}, agents=agents, envs=2 // agents)
    first = episodes(config, 3)
    for env in first:
        assert all(placed == pytest.approx(drawn, abs=1e-3) for drawn, placed in env)  # the sim used the draw
        assert len({round(drawn, 6) for drawn, _ in env}) == 3  # a new draw every episode
        assert all(1.5 <= drawn < 3.0 for drawn, _ in env)
    assert first[0] != first[1]  # each env (and each agent) draws its own
    again = episodes(config, 3)  # the same run seed: the same draws (the sim's unseeded poses differ)
    assert [[drawn for drawn, _ in env] for env in again] == [[drawn for drawn, _ in env] for env in first]
    assert all(placed == pytest.approx(drawn, abs=1e-3) for env in again for drawn, placed in env)


def test_a_parameter_the_simulator_does_not_use_fails_at_start(tmp_path: Path) -> None:
    config = config_with(tmp_path, {"target_distance": 2.0, "obstacle_count": 3.0}, envs=1)
    with pytest.raises(ValueError, match=r"does not use \['obstacle_count'\]") as info:
        train_factories(config)[0]()
    assert "max_steps" in str(info.value) and "target_distance" in str(info.value)  # what it does accept


@pytest.mark.slow
def test_a_curriculum_on_the_simulator_advances_on_the_success_rate(ray_session: None, tmp_path: Path) -> None:
    """Lesson 0 puts the target inside the success radius (every episode succeeds at once)."""
    lessons = [
        {"name": "at-the-target", "parameters": {"target_distance": 1.0, "success_radius": 1.5},
         "until": {"metric": "success_rate", "threshold": 0.9, "rounds": 1}},
        {"name": "far", "parameters": {"target_distance": 4.0, "success_radius": 0.5}},
    ]  # fmt: skip
    config = load_experiment(
        ROOT / "configs" / "reference_nav_ppo.yaml",
        [
            f"environment.curriculum={{lessons: {lessons}}}",
            "workers.num_workers=1",
            "workers.envs_per_worker=2",
            "workers.eval_envs_per_worker=4",
            "training.use_wandb=false",
            f"experiment.output_dir={tmp_path}",
            "training.training.total_timesteps=1536",
            "training.algorithm_parameters.n_steps=128",
            "training.training.log_points=1",
            "training.training.eval.num_evals=3",
            "training.training.eval.num_episodes=4",
            "learner.num_cpus=0.5",
        ],
    )
    run_dir = prepare_run(config).root
    run_training(config, run_dir, None)
    with (run_dir / "evaluations.csv").open() as handle:
        rounds = list(csv.DictReader(handle))
    assert [(r["curriculum/lesson"], r["success_rate"]) for r in rounds[:2]] == [("0", "1.0"), ("1", "0.0")]
    assert rounds[-1]["curriculum/lesson"] == "1"
