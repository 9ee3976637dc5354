"""`environment.parameters`: validation (exit 2 naming the key), per-episode draws sent with every reset
through real env workers, reproducible from the seed, and the same values for seeded evaluation episodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from ray_lab.cli.main import main
from ray_lab.config.errors import ConfigError
from ray_lab.config.loader import parse_config
from ray_lab.config.schema import EnvironmentSection
from ray_lab.envs.factory import EnvFactory, with_parameters
from ray_lab.envs.parameters import ParameterWrapper, apply_lesson
from ray_lab.workers import RayVecEnv, WorkerOptions

TARGET = "ray_lab.envs.testing:ray_lab/Target-v0"
RANDOMISED = {
    "target_distance": {"sampler": "uniform", "low": 1.0, "high": 5.0},
    "max_steps": {"sampler": "int_uniform", "low": 2, "high": 4},
    "scale": {"sampler": "log_uniform", "low": 0.01, "high": 10.0},
    "noise": {"sampler": "normal", "mean": 0.0, "std": 1.0},
    "mode": {"sampler": "choice", "values": [1, 2, 3]},
    "gravity": 9.81,
}


def environment(parameters: dict[str, Any], curriculum: dict[str, Any] | None = None) -> EnvironmentSection:
    return EnvironmentSection.model_validate({"id": TARGET, "parameters": parameters, "curriculum": curriculum})


def ray_envs(env: EnvironmentSection, seed: int | None, group: str, num_envs: int = 4, per_worker: int = 2) -> Any:
    factories = with_parameters([EnvFactory(TARGET, monitor=False)] * num_envs, env, seed, group)
    return RayVecEnv(factories, WorkerOptions(envs_per_worker=per_worker, name=f"params-{group}"))


def episode_parameters(venv: Any, steps: int) -> list[list[dict[str, float]]]:
    """Every env's parameters, episode by episode (first reset, then each auto-reset) over `steps` steps."""
    venv.reset()
    seen = [[info["parameters"]] for info in venv.reset_infos]
    for _ in range(steps):
        _, _, dones, _ = venv.step(np.zeros(venv.num_envs, dtype=np.int64))
        for i in np.flatnonzero(dones):
            seen[i].append(venv.reset_infos[i]["parameters"])
    return seen


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BAD_SPECS = {
    "unknown sampler": (
        {"x": {"sampler": "gaussian", "mean": 0}},
        "environment.parameters.x",
        "expected a number, or {sampler: uniform",
    ),
    "uniform bounds": ({"x": {"sampler": "uniform", "low": 2, "high": 1}}, "environment.parameters.x", "low < high"),
    "missing bound": ({"x": {"sampler": "uniform", "low": 2}}, "environment.parameters.x.high", "Field required"),
    "unknown key": (
        {"x": {"sampler": "normal", "mean": 0, "std": 1, "sd": 2}},
        "environment.parameters.x.sd",
        "allowed here: sampler, mean, std",
    ),
    "std": ({"x": {"sampler": "normal", "mean": 0, "std": 0}}, "environment.parameters.x.std", "greater than 0"),
    "log bounds": (
        {"x": {"sampler": "log_uniform", "low": 0, "high": 1}},
        "environment.parameters.x.low",
        "greater than 0",
    ),
    "empty choice": ({"x": {"sampler": "choice", "values": []}}, "environment.parameters.x.values", "at least 1"),
    "text choice": ({"x": {"sampler": "choice", "values": [1, "far"]}}, "environment.parameters.x.values", "number"),
    "text": ({"x": "far"}, "environment.parameters.x", "expected a number"),
    "nan": ({"x": float("nan")}, "environment.parameters.x", "finite"),
    "dotted name": ({"a.b": 1.0}, "environment.parameters", "no dots"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_parameter_is_a_config_error_naming_its_key(case: str, tmp_path: Path) -> None:
    parameters, key, hint = BAD_SPECS[case]
    path = write(tmp_path, {"environment": {"id": TARGET, "parameters": parameters}})
    with pytest.raises(ConfigError) as info:
        parse_config(path)
    (problem,) = info.value.problems
    assert (problem.source, problem.key) == (str(path), key)
    assert hint in problem.message


def test_bad_sampler_exits_2_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = {"target_distance": {"sampler": "uniform", "low": 3.0, "high": 1.0}}
    path = write(tmp_path, {"environment": {"id": TARGET, "parameters": bad}})
    code = main(["train", "--config", str(path), "--set", f"experiment.output_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: environment.parameters.target_distance: uniform needs low < high, got low=3, high=1" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_draws_differ_per_episode_and_env_and_repeat_with_the_seed(ray_session: None) -> None:
    env = environment(RANDOMISED)
    runs = []
    for seed in (7, 7, 8):
        venv = ray_envs(env, seed, "train")
        try:
            runs.append(episode_parameters(venv, steps=12))
        finally:
            venv.close()
    first, again, other = runs
    assert first == again, "the same seed draws the same values"
    assert first != other, "another seed draws other values"
    values = [p["target_distance"] for env_episodes in first for p in env_episodes]
    assert len(set(values)) == len(values), "every episode of every env draws its own values"
    for p in (p for env_episodes in first for p in env_episodes):
        assert set(p) == set(RANDOMISED) and all(isinstance(v, float) for v in p.values())
        assert 1.0 <= p["target_distance"] < 5.0 and p["max_steps"] in (2.0, 3.0, 4.0)
        assert 0.01 <= p["scale"] < 10.0 and p["mode"] in (1.0, 2.0, 3.0) and p["gravity"] == 9.81


def test_the_env_gets_the_values_that_its_info_shows(ray_session: None) -> None:
    venv = ray_envs(environment(RANDOMISED), 3, "train", num_envs=2)
    try:
        obs = venv.reset()
        shown = [info["parameters"] for info in venv.reset_infos]
        received = venv.get_attr("received")
    finally:
        venv.close()
    assert received == shown
    assert obs[:, 1] == pytest.approx([p["target_distance"] for p in shown])  # the env's target is the value sent


def test_seeded_episodes_draw_the_same_values_in_every_layout(ray_session: None) -> None:
    """An evaluation episode's values come from its seed: the same with 3 eval envs or 2, in any run."""
    env = environment(RANDOMISED)
    by_layout = []
    for num_envs, per_worker, run_seed in ((3, 2, 0), (2, 1, 99)):
        venv = ray_envs(env, run_seed, "eval", num_envs=num_envs, per_worker=per_worker)
        try:
            venv.seed(1000)  # episodes 1000, 1001, ... as an evaluation round seeds them
            venv.reset()
            by_layout.append([info["parameters"] for info in venv.reset_infos])
        finally:
            venv.close()
    three, two = by_layout
    assert three[:2] == two
    train = ray_envs(env, 0, "train", num_envs=2)
    try:
        train.seed(1000)
        train.reset()
        assert [info["parameters"] for info in train.reset_infos] != two, "train envs draw apart from eval envs"
    finally:
        train.close()


def test_a_lesson_reaches_every_env_through_the_vec_env_wrappers(ray_session: None) -> None:
    curriculum = {
        "lessons": [
            {"name": "near", "parameters": {"target_distance": 1}, "until": {"metric": "mean_return", "threshold": 1}},
            {"name": "far", "parameters": {"target_distance": {"sampler": "uniform", "low": 20, "high": 30}}},
        ]
    }
    env = environment({"max_steps": 5.0}, curriculum)
    venv = VecNormalize(ray_envs(env, 0, "train"))
    try:
        venv.reset()
        infos = venv.unwrapped.reset_infos  # VecEnvWrappers keep none of their own
        assert [i["parameters"] for i in infos] == [{"max_steps": 5.0, "target_distance": 1.0}] * 4
        apply_lesson(venv, 1)
        venv.reset()
        infos = venv.unwrapped.reset_infos
        assert all(20 <= i["parameters"]["target_distance"] < 30 for i in infos)
        assert venv.get_attr("lesson") == [1] * 4
    finally:
        venv.close()


def test_a_caller_s_own_options_are_kept_and_its_parameters_win() -> None:
    spaces_env = "ray_lab.envs.testing:ray_lab/Spaces-v0"
    (factory,) = with_parameters([EnvFactory(spaces_env)], environment(RANDOMISED), 0, "train")
    env = factory()
    _, info = env.reset(seed=5, options={"parameters": {"gravity": 1.5}, "other": 1})
    assert info["parameters"]["gravity"] == 1.5 and set(info["parameters"]) == set(RANDOMISED)
    assert env.get_wrapper_attr("current_options") == {"parameters": info["parameters"], "other": 1}


def test_without_parameters_the_factories_are_unchanged_and_envs_unwrapped() -> None:
    env = EnvironmentSection(id=TARGET)
    factories = [EnvFactory(TARGET), EnvFactory(TARGET)]
    assert env.parameter_names == () and with_parameters(factories, env, 0, "train") == factories
    venv = DummyVecEnv(factories)
    venv.reset()
    assert venv.env_is_wrapped(ParameterWrapper) == [False, False]
    assert venv.reset_infos == [{}, {}]


def test_parameter_names_are_those_of_every_lesson() -> None:
    curriculum = {
        "lessons": [
            {"name": "a", "parameters": {"speed": 1}, "until": {"metric": "mean_return", "threshold": 5}},
            {"name": "b", "parameters": {"speed": 2, "target_distance": 4}},
        ]
    }
    env = environment({"target_distance": 1.0, "max_steps": 3}, curriculum)
    assert env.parameter_names == ("target_distance", "max_steps", "speed")
    (factory,) = with_parameters([EnvFactory(TARGET)], env, 0, "train")
    assert factory.parameters.names == env.parameter_names  # type: ignore[attr-defined]
