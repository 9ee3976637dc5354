"""`NavAdapter`: observation, reward and termination of the nav task from ``NavState`` responses.

The adapter turns the ``state`` field of an ``EnvironmentStep`` / ``EnvironmentReset`` response
(``ray_lab_interfaces/msg/NavState``) into a gymnasium observation and reward, and builds the
request dicts. It works for the reference simulator and for any Unity build speaking the same types.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from .images import ImageLayout, decode_image

__all__ = ["NavAdapter"]


class NavAdapter:
    """Nav task adapter: 16 scaled lidar ranges, relative target (dx, dy), cos/sin heading error.

    Observation (float32, ``n_rays + 4``): ``lidar / max_range`` in [0, 1], the target in the robot
    frame divided by ``position_scale`` (clipped to [-2, 2]), ``cos`` and ``sin`` of the heading error.
    With ``camera=True`` it is a dict: ``{"camera": (camera_size, camera_size, 3) uint8 from
    state.camera, "state": the vector above}`` (SB3's ``MultiInputPolicy``); the simulator must send
    frames of that size (the reference simulator: ``--camera-obs SIZE``), they are never resized.
    Reward: ``progress_scale * (previous distance - distance) - step_penalty``, plus
    ``reach_bonus`` on reaching and ``-collision_penalty`` on collision.
    """

    def __init__(
        self,
        n_rays: int = 16,
        max_range: float = 5.0,
        position_scale: float = 10.0,
        progress_scale: float = 10.0,
        reach_bonus: float = 10.0,
        collision_penalty: float = 10.0,
        step_penalty: float = 0.01,
        camera: bool = False,
        camera_size: int = 40,
    ) -> None:
        if n_rays < 1 or max_range <= 0 or position_scale <= 0:
            raise ValueError(
                f"need n_rays >= 1, max_range > 0 and position_scale > 0, got {n_rays}, {max_range}, {position_scale}"
            )
        if not isinstance(camera, bool) or isinstance(camera_size, bool) or not isinstance(camera_size, int):
            raise ValueError(f"need camera true/false and camera_size an integer, got {camera!r}, {camera_size!r}")
        if camera_size < 1:
            raise ValueError(f"need camera_size >= 1 (pixels per side of the camera image), got {camera_size}")
        self.n_rays, self.max_range, self.position_scale = n_rays, max_range, position_scale
        self.progress_scale, self.reach_bonus = progress_scale, reach_bonus
        self.collision_penalty, self.step_penalty = collision_penalty, step_penalty
        low = np.concatenate([np.zeros(n_rays), [-2.0, -2.0, -1.0, -1.0]]).astype(np.float32)
        high = np.concatenate([np.ones(n_rays), [2.0, 2.0, 1.0, 1.0]]).astype(np.float32)
        self.state_space = spaces.Box(low, high, dtype=np.float32)
        self.camera_size = camera_size
        self.camera: ImageLayout | None = ImageLayout(camera_size, camera_size, 3, False) if camera else None
        self.observation_space: spaces.Box | spaces.Dict = self.state_space
        if self.camera is not None:
            image = spaces.Box(0, 255, shape=self.camera.shape, dtype=np.uint8)
            self.observation_space = spaces.Dict({"camera": image, "state": self.state_space})
        self.action_space: spaces.Box = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    # ------------------------------------------------------------------ requests
    def make_step_request(self, action: Any) -> dict[str, Any]:
        """The ``EnvironmentStep`` request: ``action`` clipped to the action space, as float32."""
        act = np.clip(np.asarray(action, dtype=np.float32).reshape(-1), -1.0, 1.0)
        if act.shape != (2,):
            raise ValueError(f"nav action must have 2 numbers [linear, yaw_rate], got shape {act.shape}")
        return {"action": act}

    def make_reset_request(self, seed: int | None) -> dict[str, Any]:
        """The ``EnvironmentReset`` request (``seed`` -1 means "no seed")."""
        return {"reset": True, "seed": -1 if seed is None else int(seed)}

    # ------------------------------------------------------------------ responses
    @staticmethod
    def _state(response: Any) -> Any:
        return getattr(response, "state", response)

    def observation(self, response: Any) -> Any:
        """The observation of a step/reset response: the vector, or ``{"camera", "state"}`` in camera mode."""
        if self.camera is None:
            return self._vector(response)
        return {"camera": self._camera(self._state(response), self.camera), "state": self._vector(response)}

    def _camera(self, s: Any, layout: ImageLayout) -> np.ndarray:
        image, size = s.camera, self.camera_size
        if int(image.height) == 0 or int(image.width) == 0:
            raise ValueError(
                f"NavAdapter camera mode expects a {size}x{size} image in state.camera, but the simulator sent "
                f"none: run the reference simulator with --camera-obs {size} (extra_args), or a build that fills "
                "NavState.camera"
            )
        return decode_image(image, layout, "state.camera (adapter_kwargs.camera_size)")

    def _vector(self, response: Any) -> np.ndarray:
        s = self._state(response)
        lidar = np.asarray(s.lidar_ranges, dtype=np.float32).reshape(-1)
        if lidar.shape != (self.n_rays,):
            raise ValueError(f"expected {self.n_rays} lidar ranges, got {lidar.shape[0]}")
        dx, dy = float(s.target_x) - float(s.robot_x), float(s.target_y) - float(s.robot_y)
        yaw = float(s.robot_yaw)
        c, si = math.cos(yaw), math.sin(yaw)
        local_x, local_y = c * dx + si * dy, -si * dx + c * dy
        error = math.atan2(local_y, local_x)
        scale = self.position_scale
        obs = np.empty(self.n_rays + 4, dtype=np.float32)  # ufuncs into one buffer: np.clip costs more per call
        scaled = np.divide(lidar, self.max_range, out=obs[: self.n_rays])
        np.minimum(np.maximum(scaled, 0.0, out=scaled), 1.0, out=scaled)
        obs[self.n_rays :] = (
            min(max(local_x / scale, -2.0), 2.0),
            min(max(local_y / scale, -2.0), 2.0),
            math.cos(error),
            math.sin(error),
        )
        return obs

    def reward(self, response: Any, previous: Any | None) -> float:
        """Progress towards the target (x ``progress_scale``) minus a step penalty, plus terminal bonuses."""
        s = self._state(response)
        reward = -self.step_penalty
        if previous is not None:
            reward += self.progress_scale * (
                float(self._state(previous).distance_to_target) - float(s.distance_to_target)
            )
        if bool(s.reached_target):
            reward += self.reach_bonus
        if bool(s.collided):
            reward -= self.collision_penalty
        return float(reward)

    def terminated(self, response: Any) -> bool:
        """Reached the target or collided with a wall."""
        s = self._state(response)
        return bool(s.reached_target) or bool(s.collided)

    def info(self, response: Any) -> dict[str, Any]:
        """``is_success`` (reached the target) once the episode is over, as SB3's evaluation expects."""
        s = self._state(response)
        done = bool(s.reached_target) or bool(s.collided) or bool(s.truncated)
        return {"is_success": bool(s.reached_target)} if done else {}

    def truncated(self, response: Any) -> bool:
        """The simulator's step-limit flag."""
        return bool(self._state(response).truncated)
