"""`environment.wrappers` and `environment.eval_env_kwargs`: config errors at load, and their effect on
real env workers and in a real training run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ray_lab.config import ConfigError
from ray_lab.envs.factory import make_env_factories
from ray_lab.learner.actor import run_training
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.plan import group_env_factories, plan_training
from ray_lab.tracking.run_dir import RunLayout, prepare_run
from ray_lab.workers import RayVecEnv, WorkerOptions

MARK = "ray_lab.envs.testing:MarkStep"


def write_config(folder: Path, environment: dict[str, Any], **sections: Any) -> Path:
    path = folder / "wrapped.yaml"
    path.write_text(yaml.safe_dump({"environment": {"id": "CartPole-v1", **environment}, **sections}))
    return path


BAD_WRAPPERS = [
    ({"class": "TimeLimt", "kwargs": {"max_episode_steps": 5}}, "class", "did you mean 'TimeLimit'?"),
    ({"class": "TimeLimit", "kwargs": {"max_steps": 5}}, "kwargs", "no argument 'max_steps' (did you mean"),
    ({"class": "TimeLimit"}, "kwargs", "needs 'max_episode_steps'"),
    ({"class": "ray_lab.envs.testing:CounterEnv"}, "class", "not a gymnasium.Wrapper subclass"),
    ({"class": "no_such_package.wrappers:Clip"}, "class", "cannot import module 'no_such_package.wrappers'"),
    ({"class": "ray_lab.envs.testing.MarkStp", "kwargs": {"mark": "m"}}, "class", "did you mean 'MarkStep'?"),
    ({"clas": "TimeLimit"}, "clas", "did you mean 'class'?"),
    ({"class": "RecordEpisodeStatistics"}, "class", "set `environment.monitor: false`"),
]


@pytest.mark.parametrize(
    ("wrapper", "key", "message"), BAD_WRAPPERS, ids=[w[1] + str(i) for i, w in enumerate(BAD_WRAPPERS)]
)
def test_a_bad_wrapper_is_a_config_error_naming_its_key(tmp_path: Path, wrapper: dict, key: str, message: str) -> None:
    path = write_config(tmp_path, {"wrappers": [{"class": "ClipAction"}, wrapper]})
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    (problem,) = caught.value.problems
    assert (problem.source, problem.key) == (str(path), f"environment.wrappers.1.{key}")
    assert message in problem.message


def test_wrappers_load_and_round_trip_through_the_resolved_yaml(tmp_path: Path) -> None:
    wrappers = [{"class": "TimeLimit", "kwargs": {"max_episode_steps": 20}}, {"class": MARK, "kwargs": {"mark": "m"}}]
    config = load_experiment(write_config(tmp_path, {"wrappers": wrappers, "eval_env_kwargs": {"x": 1}}))
    dumped = config.model_dump(mode="json")["environment"]
    assert dumped["wrappers"] == wrappers and dumped["eval_env_kwargs"] == {"x": 1}
    again = load_experiment(write_config(tmp_path, dumped))
    assert again.environment == config.environment


def test_the_cli_exits_2_naming_the_wrapper_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"wrappers": [{"class": "TimeLimit", "kwargs": {"max_step": 3}}]})
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "train", "--config", str(path)],
        env={**os.environ, "RAY_ADDRESS": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{path}: environment.wrappers.0.kwargs: TimeLimit takes no argument 'max_step'" in result.stderr
    assert not (tmp_path / "experiments").exists()


def test_eval_env_kwargs_reach_eval_and_play_envs_only(tmp_path: Path) -> None:
    config = load_experiment(
        write_config(
            tmp_path, {"env_config": {"sutton_barto_reward": False}, "eval_env_kwargs": {"sutton_barto_reward": True}}
        )
    )
    plan = plan_training(config, 0)
    assert plan.eval is not None
    layout = RunLayout(tmp_path / "run")
    groups = {
        "train": group_env_factories(config, plan.train, layout),
        "eval": group_env_factories(config, plan.eval, layout),
    }
    groups["play"] = make_env_factories(config.environment, plan.eval.assignment, group="play")
    for group, factories in groups.items():
        env = factories[0]()
        assert env.unwrapped._sutton_barto_reward is (group != "train"), group  # type: ignore[attr-defined]
        env.close()


def test_a_wrapper_by_dotted_path_runs_on_the_workers(ray_session: None, tmp_path: Path) -> None:
    wrappers = [{"class": MARK, "kwargs": {"mark": "on-worker", "scale": 0.25}}]
    config = load_experiment(write_config(tmp_path, {"wrappers": wrappers}))
    factories = make_env_factories(config.environment, plan_training(config, 0).train.assignment)
    venv = RayVecEnv(factories[:2], WorkerOptions(envs_per_worker=2, name="wrappers"))
    try:
        venv.reset()
        _, rewards, _, infos = venv.step(np.zeros(2, dtype=np.int64))
        assert [info["mark"] for info in infos] == ["on-worker", "on-worker"]
        assert rewards.tolist() == [0.25, 0.25]  # CartPole's 1 per step, scaled
    finally:
        venv.close()


def progress_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "progress.csv").open() as file:
        return [row for row in csv.DictReader(file) if row.get("rollout/ep_len_mean")]


def test_time_limit_custom_wrapper_and_eval_kwargs_in_a_training_run(ray_session: None, tmp_path: Path) -> None:
    environment = {
        "wrappers": [
            {"class": "TimeLimit", "kwargs": {"max_episode_steps": 20}},
            {"class": MARK, "kwargs": {"mark": "m", "scale": 0.5}},
        ],
        "eval_env_kwargs": {"sutton_barto_reward": True},  # eval rewards: 0 a step, -1 when the pole falls
    }
    loop = {"total_timesteps": 1024, "log_points": 1, "eval": {"num_evals": 1, "num_episodes": 2}}
    training = {
        "algorithm": "ppo",
        "use_wandb": False,
        "algorithm_parameters": {"n_steps": 128, "n_epochs": 1},
        "training": loop,
    }
    path = write_config(
        tmp_path,
        environment,
        training=training,
        experiment={"output_dir": str(tmp_path)},
        workers={"num_workers": 1, "envs_per_worker": 4, "eval_envs_per_worker": 2},
    )
    config = load_experiment(path, run_preflight=True)
    run_dir = prepare_run(config).root
    run_training(config, run_dir, None)

    rows = progress_rows(run_dir)
    assert rows
    for row in rows:
        length, reward = float(row["rollout/ep_len_mean"]), float(row["rollout/ep_rew_mean"])
        assert 0 < length <= 20  # TimeLimit caps the monitored episodes
        assert reward == pytest.approx(0.5 * length)  # MarkStep scales the train envs' rewards
    with (run_dir / "evaluations.csv").open() as file:
        evals = list(csv.DictReader(file))
    assert evals and all(float(row["mean_return"]) <= 0 for row in evals)  # eval envs: Sutton-Barto rewards


def test_eval_env_kwargs_the_env_rejects_are_a_config_error_at_load(tmp_path: Path) -> None:
    path = tmp_path / "eval_kwargs.yaml"
    path.write_text("environment: {id: CartPole-v1, eval_env_kwargs: {no_such_kwarg: 3}}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path, run_preflight=True)
    assert "environment.eval_env_kwargs" in str(info.value) and "no_such_kwarg" in str(info.value)
