"""Cameras of the reference simulator: the arena, lidar rays, robot and target as RGB pixels.

:func:`render_top_down` stands in for a Unity camera: the simulator publishes it as
``sensor_msgs/Image`` (``rgb8``) on ``/<env_name>_<id>/camera`` when it runs with graphics (no
``-nographics``), so videos of the Unity path can be recorded and tested without a GPU or a display.
Pure numpy, about 0.2 ms per frame. :func:`render_camera` is the camera observation
(``--camera-obs SIZE``): a small egocentric view of many agents at once, vectorized over agents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from . import nav

__all__ = ["image_message", "render_camera", "render_top_down"]

BACKGROUND = (235, 235, 228)
WALL = (60, 60, 70)
RAY = (150, 190, 235)
ROBOT = (40, 110, 200)
HEADING = (250, 250, 250)
TARGET = (40, 170, 80)
COLLIDED = (210, 50, 50)
_PALETTE = np.array([BACKGROUND, WALL, TARGET, ROBOT, COLLIDED], dtype=np.uint8)
"""Colours of :func:`render_camera`'s pixel labels: floor, wall, target, robot, collided robot."""


def _disc(img: np.ndarray, cx: float, cy: float, radius: float, color: tuple[int, int, int]) -> None:
    h, w, _ = img.shape
    yy, xx = np.ogrid[:h, :w]
    img[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = color


def _segment(img: np.ndarray, a: tuple[float, float], b: tuple[float, float], color: tuple[int, int, int]) -> None:
    n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1])) + 1)
    xs = np.clip(np.rint(np.linspace(a[0], b[0], n)).astype(int), 0, img.shape[1] - 1)
    ys = np.clip(np.rint(np.linspace(a[1], b[1], n)).astype(int), 0, img.shape[0] - 1)
    img[ys, xs] = color


def render_top_down(state: nav.NavState, cfg: nav.NavConfig | None = None, size: int = 128) -> np.ndarray:
    """The scene seen from above as a ``(size, size, 3)`` uint8 image (north up)."""
    cfg = cfg if cfg is not None else nav.NavConfig()
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    border = max(2, size // 32)
    img[:border], img[-border:], img[:, :border], img[:, -border:] = WALL, WALL, WALL, WALL
    scale = (size - 2 * border) / (2.0 * cfg.arena_half_size)

    def px(x: float, y: float) -> tuple[float, float]:
        return border + (x + cfg.arena_half_size) * scale, border + (cfg.arena_half_size - y) * scale

    robot = px(state.x, state.y)
    for angle, dist in zip(state.yaw + nav.ray_angles(cfg), nav.lidar(state, cfg), strict=True):
        _segment(img, robot, px(state.x + float(dist) * math.cos(angle), state.y + float(dist) * math.sin(angle)), RAY)
    _disc(img, *px(state.target_x, state.target_y), cfg.success_radius * scale, TARGET)
    _disc(img, *robot, max(2.0, 0.3 * scale), COLLIDED if state.collided else ROBOT)
    nose = px(state.x + 0.3 * math.cos(state.yaw), state.y + 0.3 * math.sin(state.yaw))
    _segment(img, robot, nose, HEADING)
    return img


def image_message(img: np.ndarray, stamp_sec: int, frame_id: str = "camera") -> dict[str, Any]:
    """``sensor_msgs/Image`` fields (``rgb8``) for an ``(H, W, 3)`` uint8 image."""
    height, width, _ = img.shape
    return {
        "header": {"stamp": {"sec": stamp_sec, "nanosec": 0}, "frame_id": frame_id},
        "height": height,
        "width": width,
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": np.ascontiguousarray(img, dtype=np.uint8).reshape(-1),
    }


@lru_cache(maxsize=8)
def _camera_grid(size: int, half_width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Robot-frame offsets (forward ``(size, 1)``, left ``(1, size)``, metres) of the pixel centres of an
    egocentric view ``2 * half_width`` metres wide, the robot's pixel mask ``(size, size)`` and the pixel size."""
    pixel = 2.0 * half_width / size
    metres = ((size / 2.0 - (np.arange(size) + 0.5)) * pixel).astype(np.float32)
    forward, left = metres[:, None], metres[None, :]
    radius = max(1.5 * pixel, 0.3)
    robot = forward**2 + left**2 <= radius**2
    robot |= (np.abs(left) <= 0.5 * pixel) & (forward >= 0) & (forward <= radius + pixel)  # its nose, ahead
    for array in (forward, left, robot):
        array.flags.writeable = False
    return forward, left, robot, pixel


def render_camera(
    states: Sequence[nav.NavState], cfgs: Sequence[nav.NavConfig], size: int, half_width: float | None = None
) -> np.ndarray:
    """Egocentric views of ``states`` as ``(len(states), size, size, 3)`` uint8 images.

    Each view is centred on its robot with the heading up (the robot's left on the image's left)
    and spans ``2 * half_width`` metres (default: twice the arena, so the arena stays in view from
    anywhere): floor, walls (everything outside the arena), the target disc (its episode's success
    radius, at least a pixel) and the robot with its nose (red once collided). About 0.1 ms per
    40 x 40 view.

    Raises:
        ValueError: not one config per state, or ``size < 1``.
    """
    if len(states) != len(cfgs) or size < 1:
        raise ValueError(f"need one config per state and size >= 1, got {len(states)}, {len(cfgs)}, size {size}")
    arena = cfgs[0].arena_half_size if cfgs else nav.NavConfig().arena_half_size
    forward, left, robot, pixel = _camera_grid(size, float(2.0 * arena if half_width is None else half_width))
    rows = [(s.x, s.y, s.yaw, s.target_x, s.target_y, c.success_radius) for s, c in zip(states, cfgs, strict=True)]
    poses = np.array(rows, dtype=np.float32).reshape(-1, 6, 1, 1)
    x, y, yaw, tx, ty, radius = (poses[:, k] for k in range(6))
    cos, sin = np.cos(yaw), np.sin(yaw)
    wx = x + forward * cos - left * sin
    wy = y + forward * sin + left * cos
    labels = ((np.abs(wx) > arena) | (np.abs(wy) > arena)).view(np.uint8)  # 0 floor, 1 wall
    labels[(wx - tx) ** 2 + (wy - ty) ** 2 <= np.maximum(radius, pixel) ** 2] = 2
    labels[:, robot] = 3 + np.array([s.collided for s in states], dtype=np.uint8)[:, None]
    return _PALETTE[labels]
