"""The YAML field mapping with an interface package that is not ray-lab's (issue 10, item 13).

The player is ``tests/data/indie_player.py``: written independently of the bridge, with its own srv
package (``tests/data/indie_interfaces/indie_msgs``: no ``reset`` field, nested messages) and its own
hand-written CDR code. It records every request it decodes, so the tests see what went over the wire.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ray_lab.config.errors import ConfigError
from ray_lab.learner.experiment import load_experiment
from unity_workers.envs import UnityEnv, make_adapter
from unity_workers.spec import UnitySpec

DATA = Path(__file__).resolve().parent / "data"

OWN_FIELDS = {
    "observation": ["state.lidar_ranges[0:16]", "state.robot_x", "state.robot_y"],
    "reward": "state.distance_to_target",
}


def indie_section(record: Path, **fields: Any) -> dict[str, Any]:
    """An ``environment.unity`` section for the independent player, with ``fields`` overriding the mapping."""
    mapping: dict[str, Any] = {
        "action": "thrust",
        "observation": ["body.px", "body.py", "body.vel"],
        "reward": "score",
        "terminated": ["done"],
        "truncated": ["out_of_time"],
        "seed": "rng",
        "reset_request": {"level": "arena", "rules.hard": True, "rules.lives": 3},
        "step_request": {"gear": 2},
    }
    mapping.update(fields)
    return {
        "command": [sys.executable, str(DATA / "indie_player.py")],
        "extra_args": ["--record", str(record)],
        "interface": str(DATA / "indie_interfaces"),
        "env_name": "indie",
        "step_srv": "indie_msgs/Act",
        "reset_srv": "indie_msgs/Restart",
        "observation_space": {"type": "box", "shape": [5], "low": -10, "high": 10},
        "action_space": {"type": "box", "low": [-1, -1], "high": [1, 1]},
        "fields": mapping,
    }


def recorded(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def start_of(seed: int) -> tuple[float, float]:
    """Where the independent player puts its body after a reset with ``seed``."""
    gen = random.Random(seed)
    return gen.uniform(-0.3, 0.3), gen.uniform(-0.3, 0.3)


def test_an_independent_player_with_its_own_srv_package_trains_through_the_yaml_mapping(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    env = UnityEnv(indie_section(record), log_dir=str(tmp_path / "logs"), connect_timeout_s=30)
    try:
        obs, _ = env.reset(seed=5)
        px, py = start_of(5)
        np.testing.assert_allclose(obs, [px, py, 0.0, 0.0, 3.0], rtol=1e-6)  # vel[2] = rules.lives
        steps, terminated, truncated = 0, False, False
        while not (terminated or truncated):
            obs, reward, terminated, truncated, _ = env.step(np.array([1.0, 0.0], dtype=np.float32))
            steps += 1
            px += 0.2  # gear 2 from fields.step_request, times 0.1
            np.testing.assert_allclose(obs, [px, py, 1.0, 0.0, 2.0], rtol=1e-5)
            assert reward == pytest.approx(-math.hypot(px, py), rel=1e-5)
        assert terminated and not truncated and steps == math.floor((0.5 - start_of(5)[0]) / 0.2) + 1
        env.reset()
        for _ in range(25):  # standing still: out_of_time after 25 steps
            _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        assert truncated and not terminated
    finally:
        env.close()
    calls = recorded(record)
    resets = [call["request"] for call in calls if call["service"] == "reset"]
    rules = {"hard": True, "lives": 3}
    assert [r["level"] for r in resets] == ["arena", "arena"] and [r["rules"] for r in resets] == [rules, rules]
    assert [r["rng"] for r in resets] == [5, -1]  # the seed went to `rng`; none = -1
    assert all(0 <= r["bytes_left"] <= 3 for r in resets)  # nothing else was sent (no `reset` field)
    first_step = next(call["request"] for call in calls if call["service"] == "step")
    assert first_step == {"gear": 2, "thrust": [1.0, 0.0], "bytes_left": 0}


def write_config(tmp_path: Path, section: dict[str, Any]) -> Path:
    path = tmp_path / "indie.yaml"
    path.write_text(
        yaml.safe_dump({"experiment": {"output_dir": str(tmp_path / "runs")}, "environment": {"unity": section}})
    )
    return path


@pytest.mark.parametrize(
    "override, key, words",
    [
        ({"reward": "scroe"}, "fields.reward", ["'scroe'", "(did you mean 'score'?)", "body (indie_msgs/msg/Body)"]),
        (
            {"observation": ["body.px", "body.pz"]},
            "fields.observation[1]",
            ["'pz'", "px (float64)", "vel (float32[3])"],
        ),
        ({"terminated": ["finished"]}, "fields.terminated[0]", ["'finished'", "done (bool)", "out_of_time (bool)"]),
        ({"truncated": ["body.vel[3]"]}, "fields.truncated[0]", ["index 3 is out of range", "float32[3]"]),
        ({"action": "thrust[0]"}, "fields.action", ["without [index]"]),
        ({"seed": "rnd"}, "fields.seed", ["(did you mean 'rng'?)", "level (string)", "rules (indie_msgs/msg/Rules)"]),
        ({"image": "body"}, "fields.image", ["expected a sensor_msgs/msg/Image field, got indie_msgs/msg/Body"]),
        ({"reset_request": {"reset": True}}, "fields.reset_request.reset", ["has no field 'reset'", "rng (int32)"]),
        ({"reset_request": {"rules.hard": "yes"}}, "fields.reset_request.rules.hard", ["expected true or false"]),
        ({"reset_request": {"rules": 1}}, "fields.reset_request.rules", ["the field is a message"]),
        ({"step_request": {"gear": 300}}, "fields.step_request.gear", ["expected an integer in [0, 255]", "300"]),
        ({"step_request": {"thrust": [0.0]}}, "fields.step_request.thrust", ["already set by fields.action"]),
    ],
)
def test_a_path_or_constant_the_srv_does_not_fit_is_a_config_error_at_load(
    tmp_path: Path, override: dict[str, Any], key: str, words: list[str]
) -> None:
    path = write_config(tmp_path, indie_section(tmp_path / "calls.jsonl", **override))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    text = str(caught.value)
    assert f"{path}: environment.unity.{key}: " in text, text
    for word in words:
        assert word in text, text
    assert len(caught.value.problems) == 1, text


def test_the_default_seed_field_is_optional_and_the_mapping_loads(tmp_path: Path) -> None:
    section = indie_section(tmp_path / "calls.jsonl")
    del section["fields"]["seed"]  # the default `seed`: this Restart has none, so no seed is sent
    unity = load_experiment(write_config(tmp_path, section)).environment.unity
    assert unity is not None and unity.fields is not None and unity.fields.seed == "seed"


def test_train_exits_2_naming_the_missing_field_before_anything_starts(tmp_path: Path) -> None:
    config = write_config(tmp_path, indie_section(tmp_path / "calls.jsonl", reward="state.reward"))
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "train", "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ, "RAY_ADDRESS": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "environment.unity.fields.reward" in result.stderr and "has no field 'state'" in result.stderr
    assert "score (float32)" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "calls.jsonl").exists()


def test_a_bad_mapping_given_straight_to_unity_env_fails_before_a_player_starts(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    with pytest.raises(ValueError, match=r"environment.unity.fields.reset_request.reset: .*has no field 'reset'"):
        UnityEnv(indie_section(record, reset_request={"reset": True}), log_dir=str(tmp_path), connect_timeout_s=5)
    assert not record.exists()


def own_spec(**fields: Any) -> UnitySpec:
    """A section mapping ray-lab's own interface, with ``fields`` added to the mapping."""
    return UnitySpec.model_validate(
        {
            "command": ["sim"],
            "observation_space": {"type": "box", "shape": [18]},
            "action_space": {"type": "box", "shape": [2]},
            "fields": {**OWN_FIELDS, **fields},
        }
    )


def test_ray_labs_own_reset_type_still_gets_reset_true_unless_reset_request_says_otherwise() -> None:
    assert make_adapter(own_spec()).make_reset_request(7) == {"reset": True}
    assert make_adapter(own_spec(reset_request={})).make_reset_request(None) == {}
    other = own_spec().model_copy(update={"reset_srv": "indie_msgs/Restart"})
    assert make_adapter(other).make_reset_request(None) == {}
    nested = make_adapter(own_spec(step_request={"cmd.mode": 1, "cmd.name": "x"})).make_step_request([0.5, 0.0])
    assert nested["cmd"] == {"mode": 1, "name": "x"} and list(nested["action"]) == [0.5, 0.0]
