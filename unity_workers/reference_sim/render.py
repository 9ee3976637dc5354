"""A top-down camera for the reference simulator: the arena, lidar rays, robot and target as RGB pixels.

It stands in for a Unity camera: the simulator publishes it as ``sensor_msgs/Image`` (``rgb8``) on
``/<env_name>_<id>/camera`` when it runs with graphics (no ``-nographics``), so videos of the Unity
path can be recorded and tested without a GPU or a display. Pure numpy, about 0.2 ms per frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import nav

__all__ = ["image_message", "render_top_down"]

BACKGROUND = (235, 235, 228)
WALL = (60, 60, 70)
RAY = (150, 190, 235)
ROBOT = (40, 110, 200)
HEADING = (250, 250, 250)
TARGET = (40, 170, 80)
COLLIDED = (210, 50, 50)


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
