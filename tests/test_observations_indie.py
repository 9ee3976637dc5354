"""A YAML dict mapping over camera fields of an interface ray-lab did not write (issue 12, item 2).

The player is ``tests/data/indie_camera_player.py``: stdlib only, its own srv package
(``indie_msgs/Peek`` and ``Wake``), its own CDR encoding of ``sensor_msgs/Image`` (bgr8, padded rows)
and ``sensor_msgs/CompressedImage`` (a png from its own encoder). ``UnityEnv`` runs it as a real
process behind a real bridge; the observations must be the pixels the player drew.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gymnasium import spaces

from ray_lab.config.errors import ConfigError
from ray_lab.learner.experiment import load_experiment
from unity_workers.envs import UnityEnv

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA))
from indie_camera_player import EYE_H, EYE_W, SNAP_H, SNAP_W, eye_pixel, snap_pixel  # noqa: E402
from indie_player import Box  # noqa: E402


def image_space(*shape: int) -> dict[str, Any]:
    return {"type": "box", "shape": list(shape), "low": 0, "high": 255, "dtype": "uint8"}


def camera_section(eye: list[int], **observation: Any) -> dict[str, Any]:
    """The independent camera player with a dict mapping: ``eye`` (raw), ``snapshot`` (png), ``body``."""
    return {
        "command": [sys.executable, str(DATA / "indie_camera_player.py")],
        "interface": str(DATA / "indie_interfaces"),
        "env_name": "indie",
        "step_srv": "indie_msgs/Peek",
        "reset_srv": "indie_msgs/Wake",
        "observation_space": {
            "type": "dict",
            "spaces": {
                "eye": image_space(*eye),
                "snapshot": image_space(1, SNAP_H, SNAP_W),  # channels first, mono
                "body": {"type": "box", "shape": [5], "low": -10, "high": 10},
            },
        },
        "action_space": {"type": "box", "low": [-1, -1], "high": [1, 1]},
        "fields": {
            "action": "thrust",
            "observation": {"eye": "eye", "snapshot": "snapshot", "body": ["body.px", "body.py", "body.vel"]},
            "reward": "score",
            "terminated": ["done"],
            "seed": "rng",
            **observation,
        },
    }


def drawn(tick: int, px: float) -> tuple[np.ndarray, np.ndarray]:
    """The player's eye (H, W, 3 RGB) and snapshot (H, W) at ``tick`` with its body at ``px``."""
    eye = np.array([[eye_pixel(x, y, tick, px) for x in range(EYE_W)] for y in range(EYE_H)], dtype=np.uint8)
    snap = np.array([[snap_pixel(x, y, tick) for x in range(SNAP_W)] for y in range(SNAP_H)], dtype=np.uint8)
    return eye, snap


def start_of(seed: int) -> tuple[float, float]:
    box = Box()
    box.restart("", seed, False, 1)
    return box.px, box.py


@pytest.mark.parametrize("eye_shape", [[EYE_H, EYE_W, 3], [1, EYE_H, EYE_W]], ids=["rgb-hwc", "mono-chw"])
def test_a_dict_mapping_decodes_an_independent_player_s_raw_and_png_cameras(
    tmp_path: Path, eye_shape: list[int]
) -> None:
    env = UnityEnv(camera_section(eye_shape), log_dir=str(tmp_path / "logs"), connect_timeout_s=30)
    try:
        assert isinstance(env.observation_space, spaces.Dict)
        assert list(env.observation_space.spaces) == ["body", "eye", "snapshot"]
        obs, _ = env.reset(seed=4)
        px, py = start_of(4)
        for tick in range(4):
            if tick:
                obs, _, _, _, _ = env.step(np.array([0.5, 0.0], dtype=np.float32))
                px += 0.05
            assert env.observation_space.contains(obs)
            eye, snap = drawn(tick, px)
            if eye_shape[0] == 1:  # mono, channels first: ITU-R 601 luma of the RGB
                eye = ((eye.astype(np.uint32) @ np.array([299, 587, 114]) + 500) // 1000).astype(np.uint8)[None]
            np.testing.assert_array_equal(obs["eye"], eye)
            np.testing.assert_array_equal(obs["snapshot"], snap[None])
            vel = [0.5 if tick else 0.0, 0.0, 1.0]
            np.testing.assert_allclose(obs["body"], [px, py, *vel], rtol=1e-5, atol=1e-6)
    finally:
        env.close()


def test_a_camera_of_another_size_fails_the_reset_naming_key_and_sizes(tmp_path: Path) -> None:
    env = UnityEnv(camera_section([8, 8, 3]), log_dir=str(tmp_path / "logs"), connect_timeout_s=30)
    try:
        with pytest.raises(ValueError) as caught:
            env.reset(seed=0)
    finally:
        env.close()
    text = str(caught.value)
    assert text.startswith("fields.observation.eye (eye): expected a 8x8 image (HxW)"), text
    assert f"got {EYE_H}x{EYE_W} bgr8" in text, text


@pytest.mark.parametrize(
    "observation, key, words",
    [
        ({"snapshot": "snapshot", "body": ["body.px"]}, "fields", ["missing ['eye']"]),
        (
            {"eye": "eye", "snapshot": "snapshot", "body": ["body.px", "body.pz"]},
            "fields.observation.body[1]",
            [
                "'pz'",
                "px (float64)",
            ],
        ),
        (
            {"eye": ["eye", "body.px"], "snapshot": "snapshot", "body": "body.vel"},
            "fields.observation.eye",
            ["'eye'", "one"],
        ),
        (
            {"eye": "eye", "snapshot": "snapshot", "body": ["body.vel", "eye"]},
            "fields.observation.body[1]",
            [
                "'eye' is a camera image; give it a key of its own",
            ],
        ),
    ],
)
def test_a_dict_mapping_the_srv_does_not_fit_is_a_config_error_at_load(
    tmp_path: Path, observation: dict[str, Any], key: str, words: list[str]
) -> None:
    section = camera_section([EYE_H, EYE_W, 3])
    section["fields"]["observation"] = observation
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"environment": {"unity": section}}))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    text = str(caught.value)
    assert f"environment.unity.{key}" in text, text  # ".observation" on "fields" once the checks see the space
    for word in words:
        assert word in text, text
