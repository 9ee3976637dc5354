"""Dict and camera observations from YAML (issue 12, item 2): spaces, mappings, image decoding, checks.

Messages are real rosbags messages of ray-lab's own interface (``NavState.camera`` is a
``sensor_msgs/Image``); compressed frames are real png/jpeg files written by Pillow.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium import spaces
from PIL import Image as PILImage

from ray_lab.config.errors import ConfigError
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.pretrained import check_compatible
from unity_workers.envs.field_checks import check_field_map
from unity_workers.envs.fields import FieldAdapter
from unity_workers.envs.images import ImageLayout, decode_image, image_to_rgb
from unity_workers.envs.nav_adapter import NavAdapter
from unity_workers.envs.ros_session import default_interfaces_dir
from unity_workers.ros_tcp import MessageTypes
from unity_workers.spec import FieldMapSpec, SpaceSpec

ROOT = Path(__file__).resolve().parents[1]
TYPES = MessageTypes(default_interfaces_dir())
STEP, RESET = "ray_lab_interfaces/EnvironmentStep", "ray_lab_interfaces/EnvironmentReset"
RNG = np.random.default_rng(0)
SCENE = RNG.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)  # an RGB frame, 4 high and 6 wide


def image_space(*shape: int) -> dict[str, Any]:
    return {"type": "box", "shape": list(shape), "low": 0, "high": 255, "dtype": "uint8"}


def raw_image(rgb: np.ndarray, encoding: str, pad: int = 0) -> Any:
    """A ``sensor_msgs/Image`` of ``rgb`` in ``encoding``, each row followed by ``pad`` bytes."""
    pixels = {
        "rgb8": rgb,
        "bgr8": rgb[:, :, ::-1],
        "rgba8": np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]),
        "bgra8": np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 7, np.uint8)]),
        "mono8": rgb[:, :, :1],
    }[encoding]
    height, width, n = pixels.shape
    rows = np.concatenate([pixels.reshape(height, width * n), np.full((height, pad), 0xEE, np.uint8)], axis=1)
    fields = {"height": height, "width": width, "encoding": encoding, "step": width * n + pad, "data": rows.ravel()}
    return TYPES.build("sensor_msgs/msg/Image", fields)


def compressed(rgb: np.ndarray, fmt: str, mode: str = "RGB", ros_format: str | None = None) -> Any:
    """A ``sensor_msgs/CompressedImage`` of ``rgb`` saved by Pillow as ``fmt`` (png, jpeg)."""
    buffer = io.BytesIO()
    PILImage.fromarray(rgb if mode == "RGB" else rgb[:, :, 0]).save(buffer, format=fmt.upper())
    data = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
    return TYPES.build("sensor_msgs/msg/CompressedImage", {"format": ros_format or fmt, "data": data})


def png_header(width: int, height: int) -> Any:
    """A png that declares ``width`` x ``height`` RGB pixels but holds none."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")
    return TYPES.build("sensor_msgs/msg/CompressedImage", {"format": "png", "data": np.frombuffer(data, np.uint8)})


def layout_of(*shape: int) -> ImageLayout:
    layout = ImageLayout.of(spaces.Box(0, 255, shape=shape, dtype=np.uint8))
    assert layout is not None
    return layout


def luma(rgb: np.ndarray) -> np.ndarray:
    return ((rgb.astype(np.uint32) @ np.array([299, 587, 114]) + 500) // 1000).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- spaces


def test_image_spaces_are_sb3_s_uint8_0_255_boxes_with_1_or_3_channels_first_or_last() -> None:
    assert layout_of(40, 40, 3) == ImageLayout(40, 40, 3, channels_first=False)
    assert layout_of(1, 30, 20) == ImageLayout(30, 20, 1, channels_first=True)
    assert str(layout_of(3, 8, 9)) == "3x8x9 (CHW, RGB)"
    assert ImageLayout.of(spaces.Box(0, 255, shape=(40, 40, 3), dtype=np.float32)) is None
    assert ImageLayout.of(spaces.Box(0, 1, shape=(40, 40, 3), dtype=np.uint8)) is None
    assert ImageLayout.of(spaces.Box(0, 255, shape=(40, 40, 4), dtype=np.uint8)) is None
    assert ImageLayout.of(spaces.Box(0, 255, shape=(40, 120), dtype=np.uint8)) is None


def config_error(tmp_path: Path, unity: dict[str, Any], *sets: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"environment": {"unity": unity}}))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path, list(sets))
    return str(caught.value)


def own_section(observation_space: dict[str, Any], observation: Any) -> dict[str, Any]:
    return {
        "command": [sys.executable, "-c", "pass"],
        "observation_space": observation_space,
        "action_space": {"type": "box", "low": [-1, -1], "high": [1, 1]},
        "fields": {"observation": observation, "reward": "state.distance_to_target"},
    }


CAMERA_SPACE = {"type": "dict", "spaces": {"camera": image_space(40, 40, 3), "state": {"type": "box", "shape": [3]}}}
CAMERA_FIELDS = {"camera": "state.camera", "state": ["state.robot_x", "state.robot_y", "state.robot_yaw"]}


@pytest.mark.parametrize(
    "space, words",
    [
        ({"type": "dict"}, ["observation_space: a dict space needs `spaces`"]),
        (
            {"type": "dict", "spaces": {"camera": {"type": "box", "shape": [2], "dtype": "uint16"}}},
            ["observation_space.spaces: camera.dtype: Input should be", "'uint16'"],
        ),
        ({"type": "dict", "spaces": {"camera": {"type": "box"}}}, ["spaces: camera: a box space needs `shape`"]),
        ({"type": "dict", "spaces": {"a.b": {"shape": [1]}}}, ["dict space keys are names", "['a.b']"]),
        ({"type": "dict", "shape": [3], "spaces": {"a": {"shape": [1]}}}, ["takes only `spaces`", "['shape']"]),
        (
            {"type": "dict", "spaces": {"a": {"type": "dict", "spaces": {"b": {"shape": [1]}}}}},
            ["dict spaces cannot nest", "['a']"],
        ),
        ({"type": "box", "shape": [2], "spaces": {"a": {"shape": [1]}}}, ["`spaces` belongs to a dict space"]),
    ],
)
def test_a_bad_dict_space_is_a_config_error_naming_the_key(tmp_path: Path, space: dict, words: list[str]) -> None:
    text = config_error(tmp_path, own_section(space, ["state.robot_x"]))
    for word in words:
        assert word in text, text


def test_a_dict_action_space_is_a_config_error(tmp_path: Path) -> None:
    section = own_section({"type": "box", "shape": [1]}, ["state.robot_x"])
    section["action_space"] = {"type": "dict", "spaces": {"a": {"type": "box", "shape": [2]}}}
    text = config_error(tmp_path, section)
    assert "environment.unity.fields: action_space: dict spaces are for observations" in text, text


def test_mapping_keys_must_be_the_dict_space_keys(tmp_path: Path) -> None:
    fields = {"camera": "state.camera", "stat": "state.robot_x"}
    text = config_error(tmp_path, own_section(CAMERA_SPACE, fields))
    assert "environment.unity.fields" in text and "fields.observation" in text, text
    assert "missing ['state']" in text and "unknown ['stat']" in text, text
    text = config_error(tmp_path, own_section(CAMERA_SPACE, ["state.robot_x"]))
    assert "dict space with keys ['camera', 'state']" in text and "got a list" in text, text
    text = config_error(tmp_path, own_section({"type": "box", "shape": [1]}, {"x": "state.robot_x"}))
    assert "a mapping (keys ['x']) needs a dict observation_space" in text, text


# ----------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
@pytest.mark.parametrize("pad", [0, 3])
def test_raw_color_images_decode_to_rgb_hwc_chw_or_mono(encoding: str, pad: int) -> None:
    message = raw_image(SCENE, encoding, pad)
    np.testing.assert_array_equal(decode_image(message, layout_of(4, 6, 3)), SCENE)
    np.testing.assert_array_equal(decode_image(message, layout_of(3, 4, 6)), SCENE.transpose(2, 0, 1))
    np.testing.assert_array_equal(decode_image(message, layout_of(4, 6, 1)), luma(SCENE)[:, :, None])
    np.testing.assert_array_equal(image_to_rgb(message), SCENE)


def test_mono_images_fill_mono_spaces_and_repeat_into_rgb_ones() -> None:
    message = raw_image(SCENE, "mono8", pad=2)
    np.testing.assert_array_equal(decode_image(message, layout_of(1, 4, 6)), SCENE[None, :, :, 0])
    np.testing.assert_array_equal(decode_image(message, layout_of(4, 6, 3)), np.repeat(SCENE[:, :, :1], 3, axis=2))


def test_png_and_jpeg_decode_with_pillow() -> None:
    np.testing.assert_array_equal(decode_image(compressed(SCENE, "png"), layout_of(4, 6, 3)), SCENE)
    mono = decode_image(compressed(SCENE, "png", mode="L"), layout_of(1, 4, 6))
    np.testing.assert_array_equal(mono, SCENE[None, :, :, 0])
    smooth = np.broadcast_to(np.linspace(40, 200, 16, dtype=np.uint8)[None, :, None], (16, 16, 3)).copy()
    jpeg = decode_image(compressed(smooth, "jpeg", ros_format="rgb8; jpeg compressed bgr8"), layout_of(16, 16, 3))
    assert np.abs(jpeg.astype(int) - smooth).max() <= 8  # lossy


@pytest.mark.parametrize(
    "message, words",
    [
        (raw_image(SCENE, "rgb8"), ["expected a 40x40 image (HxW) for the space 40x40x3 (HWC, RGB), got 4x6 rgb8"]),
        (compressed(SCENE, "png"), ["expected a 40x40 image", "got 4x6 PNG ('png')", "not resized"]),
        (
            TYPES.build("sensor_msgs/msg/Image", {"height": 40, "width": 40, "encoding": "rgb8", "step": 120}),
            [
                "image 40x40 rgb8 with step 120: expected at least 4800 bytes, got 0",
            ],
        ),
        (TYPES.build("sensor_msgs/msg/Image", {"encoding": "16UC1"}), ["'16UC1' is not supported", "'bgr8'"]),
        (TYPES.build("sensor_msgs/msg/CompressedImage", {"format": "tiff"}), ["'tiff' is not supported"]),
        (
            TYPES.build("sensor_msgs/msg/CompressedImage", {"format": "png", "data": [1, 2, 3]}),
            ["cannot decode the 'png' compressed image (3 bytes)"],
        ),
        (TYPES.build("std_msgs/msg/Header", {}), ["expected a sensor_msgs/msg/Image or", "std_msgs/msg/Header"]),
    ],
)
def test_bad_or_mismatched_frames_are_value_errors_with_the_actual_values(message: Any, words: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        decode_image(message, layout_of(40, 40, 3), "fields.observation.camera")
    text = str(caught.value)
    assert text.startswith("fields.observation.camera: "), text
    for word in words:
        assert word in text, text


def test_a_truncated_or_oversized_png_is_refused_before_decoding() -> None:
    png = compressed(SCENE, "png")
    truncated = TYPES.build("sensor_msgs/msg/CompressedImage", {"format": "png", "data": png.data[:60]})
    with pytest.raises(ValueError, match="cannot decode the 'png' compressed image"):
        decode_image(truncated, layout_of(4, 6, 3))
    with pytest.raises(ValueError, match="got 9000x9000 PNG"):  # 243 MB of pixels, were it decoded
        decode_image(png_header(9000, 9000), layout_of(4, 6, 3))
    with pytest.raises(ValueError, match=r"cannot decode the 'png' compressed image .*exceeds limit"):
        decode_image(png_header(30000, 30000), layout_of(4, 6, 3))  # Pillow's decompression bomb check


def test_without_pillow_compressed_frames_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    png = compressed(SCENE, "png")
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ValueError, match=r"Pillow, which is not installed: pip install pillow"):
        decode_image(png, layout_of(4, 6, 3))
    mapping = {"action": "thrust", "seed": "rng", "observation": {"camera": "snapshot", "body": "body.px"}}
    space = {"type": "dict", "spaces": {"camera": image_space(3, 5, 1), "body": {"shape": [1]}}}
    indie = MessageTypes(ROOT / "tests" / "data" / "indie_interfaces")
    fields, observation_space = FieldMapSpec.model_validate(mapping), SpaceSpec.model_validate(space)
    ((key, text),) = check_field_map(fields, indie, "indie_msgs/Peek", "indie_msgs/Wake", observation_space)
    assert key == "fields.observation.camera" and text.startswith("'snapshot' (step response indie_msgs/srv/Peek")
    assert "decoded with Pillow, which is not installed: pip install pillow" in text


# ------------------------------------------------------------------------------ FieldAdapter and checks


def nav_response(camera: Any, **state: Any) -> Any:
    values = {"robot_x": 1.5, "robot_y": -2.0, "robot_yaw": 0.25, "lidar_ranges": np.ones(16, np.float32), **state}
    return TYPES.build("ray_lab_interfaces/srv/EnvironmentStep_Response", {"state": {**values, "camera": camera}})


def camera_adapter(camera: dict[str, Any] | None = None, **fields: Any) -> FieldAdapter:
    space = {
        "type": "dict",
        "spaces": {"state": {"type": "box", "shape": [3]}, "camera": camera or image_space(4, 6, 3)},
    }
    mapping = FieldMapSpec.model_validate({"observation": {**CAMERA_FIELDS, **fields}})
    return FieldAdapter(mapping, SpaceSpec.model_validate(space), SpaceSpec.model_validate({"shape": [2]}), RESET)


def test_a_dict_mapping_gives_dict_observations_in_the_space_s_key_order() -> None:
    adapter = camera_adapter()
    obs = adapter.observation(nav_response(raw_image(SCENE, "bgr8", pad=2)))
    assert isinstance(adapter.observation_space, spaces.Dict)
    assert list(obs) == ["camera", "state"] == list(adapter.observation_space.spaces)
    np.testing.assert_array_equal(obs["camera"], SCENE)
    np.testing.assert_allclose(obs["state"], [1.5, -2.0, 0.25])
    assert obs["state"].dtype == np.float32 and adapter.observation_space.contains(obs)
    chw = camera_adapter(image_space(1, 4, 6)).observation(nav_response(raw_image(SCENE, "rgb8")))
    np.testing.assert_array_equal(chw["camera"], luma(SCENE)[None])
    lidar = camera_adapter(state=["state.lidar_ranges[0:2]", "state.robot_x"]).observation(
        nav_response(raw_image(SCENE, "rgb8"))
    )
    np.testing.assert_allclose(lidar["state"], [1.0, 1.0, 1.5])


def test_a_frame_of_another_size_names_the_key_path_and_both_sizes() -> None:
    with pytest.raises(ValueError) as caught:
        camera_adapter().observation(nav_response(raw_image(np.zeros((5, 6, 3), np.uint8), "rgb8")))
    assert str(caught.value).startswith("fields.observation.camera (state.camera): expected a 4x6 image (HxW)")
    assert "got 5x6 rgb8" in str(caught.value)


def check(observation: Any, space: dict[str, Any] | None = CAMERA_SPACE) -> list[tuple[str, str]]:
    fields = FieldMapSpec.model_validate({"observation": observation})
    return check_field_map(fields, TYPES, STEP, RESET, None if space is None else SpaceSpec.model_validate(space))


def test_field_checks_accept_a_camera_mapping_and_name_misplaced_camera_fields() -> None:
    assert check(CAMERA_FIELDS) == []
    ((key, text),) = check({**CAMERA_FIELDS, "state": ["state.robot_x", "state.robot_y", "state.camra"]})
    assert key == "fields.observation.state[2]" and "no field 'camra' (did you mean 'camera'?)" in text
    problems = dict(check({"camera": "state.robot_x", "state": "state.camera"}))
    assert (
        "expected a sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage field (the space is an image), "
        "got float32" in problems["fields.observation.camera"]
    )
    assert (
        "is a camera image, but observation_space.spaces.state is not an image space"
        in problems["fields.observation.state"]
    )
    assert check({"camera": "state.camera", "stat": "state.robot_x"}) == [
        (
            "fields.observation",
            "the keys must be those of observation_space.spaces: missing ['state'] (in "
            "observation_space.spaces), unknown ['stat'] (not in observation_space.spaces)",
        )
    ]
    ((key, text),) = check({"camera": ["state.camera", "state.robot_x"], "state": CAMERA_FIELDS["state"]})
    assert key == "fields.observation.camera" and "is an image, 40x40x3 (HWC, RGB): it takes one path" in text


def test_field_checks_without_the_space_still_check_paths_and_camera_placement() -> None:
    ((key, text),) = check(["state.robot_x", "state.camera"], space=None)
    assert key == "fields.observation[1]" and "give it a key of its own in a dict observation_space" in text
    ((key, text),) = check({"camera": ["state.camera", "state.robot_x"]}, space=None)
    assert key == "fields.observation.camera[0]" and "not one of several paths" in text
    assert check({"camera": "state.camera", "x": "state.robot_x"}, space=None) == []


# -------------------------------------------------------------------------------- NavAdapter, learner


def test_nav_adapter_camera_mode_gives_camera_and_state() -> None:
    adapter = NavAdapter(camera=True, camera_size=4)
    assert isinstance(adapter.observation_space, spaces.Dict)
    assert adapter.observation_space["camera"] == spaces.Box(0, 255, (4, 4, 3), np.uint8)
    assert adapter.observation_space["state"] == NavAdapter().observation_space
    scene = SCENE[:, :4]
    response = nav_response(raw_image(np.ascontiguousarray(scene), "rgb8"), target_x=3.0)
    obs = adapter.observation(response)
    np.testing.assert_array_equal(obs["camera"], scene)
    np.testing.assert_array_equal(obs["state"], NavAdapter().observation(response))
    assert adapter.observation_space.contains(obs)


def test_nav_adapter_camera_mode_errors_name_the_flag_and_the_sizes() -> None:
    with pytest.raises(ValueError, match=r"sent none: run the reference simulator with --camera-obs 40"):
        NavAdapter(camera=True).observation(nav_response(TYPES.build("sensor_msgs/msg/Image", {})))
    with pytest.raises(ValueError, match=r"adapter_kwargs.camera_size\): expected a 40x40 image .* got 4x6 rgb8"):
        NavAdapter(camera=True).observation(nav_response(raw_image(SCENE, "rgb8")))
    with pytest.raises(ValueError, match="camera_size >= 1"):
        NavAdapter(camera=True, camera_size=0)
    with pytest.raises(ValueError, match="camera true/false and camera_size an integer, got 'yes', 40"):
        NavAdapter(camera="yes")  # type: ignore[arg-type]


CAMERA_CONFIG = ROOT / "configs" / "reference_nav_camera.yaml"


@pytest.mark.parametrize(
    "sets, words",
    [
        (
            ["training.algorithm_parameters.policy=MlpPolicy"],
            [
                "policy: MlpPolicy does not take the simulator's Dict observations (keys ['camera', 'state']); "
                "use MultiInputPolicy"
            ],
        ),
        (["environment.unity.adapter_kwargs.camera_size=32"], ["NatureCNN needs images of at least 36x36", "32x32"]),
    ],
)
def test_the_policy_must_take_the_simulator_s_observations(sets: list[str], words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_experiment(CAMERA_CONFIG, sets)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    assert load_experiment(CAMERA_CONFIG).environment.unity is not None


class CameraEnv(gym.Env[Any, np.ndarray]):
    """An env with NavAdapter's camera-mode spaces."""

    def __init__(self) -> None:
        adapter = NavAdapter(camera=True)
        self.observation_space: gym.Space[Any] = adapter.observation_space
        self.action_space = adapter.action_space


def test_a_pretrained_camera_model_fits_the_channels_last_env_it_was_trained_on(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    env = CameraEnv()
    PPO("MultiInputPolicy", env, n_steps=8, batch_size=8, device="cpu").save(
        tmp_path / "model.zip"
    )  # saved channels first
    check_compatible(tmp_path / "model.zip", env.observation_space, env.action_space, "c.yaml")
    other = NavAdapter(camera=True, camera_size=48).observation_space
    with pytest.raises(ConfigError, match="observation_space mismatch"):
        check_compatible(tmp_path / "model.zip", other, env.action_space, "c.yaml")
