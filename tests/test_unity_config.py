"""`environment.unity`: parsing, the seed guide's keys, config errors (exit code 2) and the YAML field mapping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ray_lab.config.errors import ConfigError
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.plan import plan_training
from unity_workers.envs import FieldPath, UnityEnv
from unity_workers.spec import UnitySpec

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SIM = [sys.executable, "-m", "unity_workers.reference_sim"]

FIELD_MAPPED = {
    "command": REFERENCE_SIM,
    "observation_space": {"type": "box", "shape": [18], "low": -100, "high": 100},
    "action_space": {"type": "box", "low": [-1, -1], "high": [1, 1]},
    "fields": {
        "action": "action",
        "observation": ["state.lidar_ranges[0:16]", "state.robot_x", "state.robot_y"],
        "reward": "state.distance_to_target",
        "terminated": ["state.reached_target", "state.collided"],
        "truncated": ["state.truncated"],
    },
}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def train_cli(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_ADDRESS": ""}
    return subprocess.run(
        [sys.executable, "-m", "ray_lab", "train", "--config", str(config)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reference_config_loads_and_names_runs_after_the_simulator() -> None:
    config = load_experiment(ROOT / "configs" / "reference_nav_ppo.yaml")
    unity = config.environment.unity
    assert unity is not None and unity.adapter == "unity_workers.envs.nav_adapter:NavAdapter"
    assert config.environment.name == "ReferenceNav"
    build = UnitySpec(build="builds/Playground/Playground.x86_64", adapter="pkg.mod:Adapter")
    assert build.display_name == "Playground"


def test_seed_guide_unity_ros_and_n_environments_keys_load(tmp_path: Path) -> None:
    build = tmp_path / "Playground.x86_64"
    build.write_text("#!/bin/sh\n")
    build.chmod(0o755)
    seed_yaml = f"""
n_environments: 3
ros: {{package_name: examples_pkg, node_name: train}}
unity:
  build_path: {build}
  headless_mode: true
  pause: false
  sample_time: 0.0
  time_scale: 2.0
"""
    config = load_experiment(
        write(tmp_path / "seed.yaml", seed_yaml), ["environment.unity.adapter=unity_workers.envs:NavAdapter"]
    )
    unity = config.environment.unity
    assert unity is not None
    assert (unity.build, unity.batchmode, unity.pause, unity.sample_time, unity.time_scale) == (
        str(build),
        True,
        False,
        None,
        2.0,
    )
    assert unity.ros2_namespace == "/train"
    # The guide means one Unity instance per env: 3 envs in all, one per worker.
    plan = plan_training(config, 0.0)
    assert (plan.train.num_workers, plan.train.assignment.envs_per_worker, plan.num_envs) == (3, 1, 3)
    assert plan.train.assignment.slots() == [(0, 0), (1, 0), (2, 0)]


def test_seed_n_environments_with_a_worker_count_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "seed.yaml", "n_environments: 3\nworkers: {envs_per_worker: 4}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    (problem,) = info.value.problems
    assert problem.key == "n_environments" and "workers.envs_per_worker" in problem.message
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "section, key, words",
    [
        ("build: /no/such/Player.x86_64\n    adapter: unity_workers.envs:NavAdapter", "build", ["not found"]),
        ("step_srv: ray_lab_interfaces/EnvironmentStp", "step_srv", ["EnvironmentStep"]),
        ("adapter: no_colon", "adapter", ["package.module:Class"]),
        ("protocol: grcp", "protocol", ["grpc"]),
        ("fields: {observation: [state.x]}\n    command: [python]", "unity", ["observation_space"]),
        ("unknown_key: 1", "unity.unknown_key", []),
    ],
)
def test_bad_unity_sections_are_config_errors(tmp_path: Path, section: str, key: str, words: list[str]) -> None:
    path = write(tmp_path / "bad.yaml", f"environment:\n  unity:\n    {section}\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    text = str(caught.value)
    dotted = f"environment.{key}" if key.startswith("unity") else f"environment.unity.{key}"
    assert str(path) in text and dotted in text
    for word in words:
        assert word in text


def test_launcher_errors_exit_2_before_anything_is_written(tmp_path: Path) -> None:
    build = tmp_path / "Player.x86_64"
    build.write_text("#!/bin/sh\nexit 0\n")
    build.chmod(0o644)
    out = tmp_path / "out"
    for player, expected in ((build, "chmod +x"), (tmp_path / "missing.x86_64", "Unity build not found")):
        config = write(
            tmp_path / "c.yaml",
            f"experiment: {{output_dir: {out}}}\n"
            f"environment:\n  unity: {{build: {player}, adapter: 'unity_workers.envs:NavAdapter'}}\n",
        )
        result = train_cli(config, tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        assert str(config) in result.stderr and "environment.unity.build" in result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_field_paths_parse_and_reject_bad_parts() -> None:
    path = FieldPath.parse("state.lidar_ranges[2:4]")
    assert path.parts == (("state", None), ("lidar_ranges", slice(2, 4)))
    assert FieldPath.parse("a[-1]").parts == (("a", -1),)
    for bad in ("state..x", "state.x[1", "__import__('os')", "a[1:2:3]", "x.y()"):
        with pytest.raises(ValueError, match="bad field path"):
            FieldPath.parse(bad)


def test_field_mapping_drives_a_real_simulator(tmp_path: Path) -> None:
    env = UnityEnv(FIELD_MAPPED, log_dir=str(tmp_path), connect_timeout_s=30)
    try:
        obs, _ = env.reset(seed=7)
        again, _ = env.reset(seed=7)
        np.testing.assert_array_equal(obs, again)
        assert obs.shape == (18,) and env.observation_space.contains(obs)
        response = env.session.bridge.latest("/nav_0/scan")  # type: ignore[union-attr]
        np.testing.assert_allclose(obs[:16], np.asarray(response.ranges), rtol=1e-6)
        obs2, reward, terminated, truncated, _ = env.step(np.array([1.0, 0.0], dtype=np.float32))
        assert not np.array_equal(obs[16:], obs2[16:])  # the robot moved
        assert reward > 0 and not truncated  # reward is the distance field
        moved = 0
        while not (terminated or truncated) and moved < 500:
            _, _, terminated, truncated, _ = env.step(np.array([1.0, 0.0], dtype=np.float32))
            moved += 1
        assert terminated or truncated  # driving straight ends at a wall (collided) or the target
    finally:
        env.close()


def test_watching_opens_a_player_window_and_recording_renders(tmp_path: Path) -> None:
    from ray_lab.envs.factory import EnvFactory, UnityPlacement

    spec = UnitySpec()
    placement = UnityPlacement(worker_index=0, env_slot=0, environment_id=0, group="play", log_dir=str(tmp_path))
    watch = EnvFactory("ReferenceNav", unity=spec, placement=placement, render_mode="human", monitor=False)()
    try:
        options = watch.unwrapped.options  # type: ignore[attr-defined]
        assert not options.batchmode and options.graphics
    finally:
        watch.close()
    record = EnvFactory("ReferenceNav", unity=spec, placement=placement, render_mode="rgb_array", monitor=False)()
    try:
        options = record.unwrapped.options  # type: ignore[attr-defined]
        assert options.batchmode and options.graphics  # headless, but cameras render
        record.reset(seed=0)
        frame = record.render()
        assert isinstance(frame, np.ndarray) and frame.shape == (128, 128, 3) and frame.std() > 0
    finally:
        record.close()
