"""Navigation task of the reference simulator: pure numpy functions over a small dataclass state.

A differential-drive robot moves in a square arena with walls (default 10 m x 10 m, centred on the
origin) towards a target. Each agent step integrates ``fixed_updates_per_step`` sub-steps of
``fixed_delta_time`` seconds (like Unity's FixedUpdate); 16 lidar rays measure the distance to the
walls. An episode ends when the robot reaches the target, collides with a wall, or hits the step
limit. :func:`reset` draws everything from the given ``numpy.random.Generator``, so a reset with a
generator built from the same seed (and the same config) is exactly reproducible.

The config is frozen; an episode run with environment parameters (``target_distance``,
``success_radius``, ``max_steps``: :data:`PARAMETERS`) uses a copy made with ``dataclasses.replace``,
which validates the new values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "PARAMETERS",
    "NavConfig",
    "NavState",
    "lidar",
    "lidar_many",
    "ray_angles",
    "reset",
    "state_fields",
    "step",
    "wall_distance",
]

PARAMETERS = ("max_steps", "success_radius", "target_distance")
"""The environment parameters an episode accepts (sorted): :class:`NavConfig` fields set per episode."""
ROBOT_TRIES = 1000
"""Robot positions tried by :func:`reset` for a ``target_distance`` before it gives up."""
DIRECTION_TRIES = 64
"""Target directions tried from each robot position."""


@dataclass(frozen=True)
class NavConfig:
    """Task constants; the defaults are the brief's arena, robot and episode rules."""

    arena_half_size: float = 5.0  # metres from the centre to each wall
    n_rays: int = 16
    max_range: float = 5.0  # lidar range, metres
    success_radius: float = 0.5  # reached when the target is closer than this
    collision_margin: float = 0.2  # collided when a wall is closer than this
    max_steps: int = 400  # truncated after this many steps
    fixed_delta_time: float = 0.02  # seconds per physics sub-step
    fixed_updates_per_step: int = 5
    max_linear: float = 1.0  # |linear velocity| limit, m/s
    max_yaw_rate: float = 1.0  # |yaw rate| limit, rad/s
    spawn_margin: float = 1.0  # robot and target spawn at least this far from the walls
    min_spawn_distance: float = 2.0  # initial robot-target distance is at least this
    target_distance: float | None = None  # when set, the target spawns exactly this far from the robot

    def __post_init__(self) -> None:
        if self.fixed_delta_time <= 0 or self.fixed_updates_per_step < 1:
            raise ValueError(
                f"need fixed_delta_time > 0 and fixed_updates_per_step >= 1, got "
                f"{self.fixed_delta_time} and {self.fixed_updates_per_step}"
            )
        if self.spawn_margin >= self.arena_half_size or self.n_rays < 1 or self.max_steps < 1:
            raise ValueError(
                f"bad arena: half size {self.arena_half_size}, spawn margin {self.spawn_margin}, "
                f"{self.n_rays} rays, max_steps {self.max_steps}"
            )
        if not (math.isfinite(self.success_radius) and self.success_radius > 0):
            raise ValueError(f"success_radius must be a finite number > 0, got {self.success_radius}")
        longest = self.longest_target_distance
        if self.target_distance is not None and not 0 < self.target_distance < longest:
            raise ValueError(
                f"target_distance must be > 0 and below the spawn area's diagonal {longest:.3f} m, "
                f"got {self.target_distance}"
            )

    @property
    def longest_target_distance(self) -> float:
        """The spawn area's diagonal: every ``target_distance`` must be shorter."""
        return 2.0 * math.sqrt(2.0) * (self.arena_half_size - self.spawn_margin)

    @property
    def step_seconds(self) -> float:
        """Simulated seconds per agent step."""
        return self.fixed_delta_time * self.fixed_updates_per_step


@dataclass(frozen=True)
class NavState:
    """Everything the task needs to continue an episode (immutable; :func:`step` returns a new one)."""

    x: float
    y: float
    yaw: float
    target_x: float
    target_y: float
    step_count: int = 0
    sim_time: float = 0.0
    collided: bool = False
    reached_target: bool = False
    truncated: bool = False

    @property
    def distance_to_target(self) -> float:
        """Robot centre to target, metres."""
        return math.hypot(self.target_x - self.x, self.target_y - self.y)

    @property
    def done(self) -> bool:
        """Whether the episode has ended (terminated or truncated)."""
        return self.collided or self.reached_target or self.truncated


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def wall_distance(x: float, y: float, cfg: NavConfig) -> float:
    """Distance from (x, y) to the nearest wall (negative outside the arena)."""
    return cfg.arena_half_size - max(abs(x), abs(y))


def reset(rng: np.random.Generator, cfg: NavConfig = NavConfig()) -> NavState:
    """A new episode: robot pose and target drawn uniformly (away from walls and from each other).

    With ``cfg.target_distance`` the target is that far from the robot instead, in a uniformly drawn
    direction that keeps it inside the spawn area (see :func:`_target_at_distance`).

    Raises:
        ValueError: ``cfg.target_distance`` found no place in the spawn area (only near its diagonal).
    """
    lim = cfg.arena_half_size - cfg.spawn_margin
    x, y = (float(v) for v in rng.uniform(-lim, lim, size=2))
    yaw = float(rng.uniform(-math.pi, math.pi))
    if cfg.target_distance is not None:
        x, y, tx, ty = _target_at_distance(rng, x, y, lim, cfg.target_distance)
        return NavState(x=x, y=y, yaw=yaw, target_x=tx, target_y=ty)
    for _ in range(1000):
        tx, ty = (float(v) for v in rng.uniform(-lim, lim, size=2))
        if math.hypot(tx - x, ty - y) >= cfg.min_spawn_distance:
            break  # (after 1000 misses, which the default arena never sees, the last draw is kept)
    return NavState(x=x, y=y, yaw=yaw, target_x=tx, target_y=ty)


def _target_at_distance(
    rng: np.random.Generator, x: float, y: float, lim: float, distance: float
) -> tuple[float, float, float, float]:
    """Robot (x, y) and a target ``distance`` away, both within ``[-lim, lim]``: the first of
    :data:`DIRECTION_TRIES` random directions that fits, else a new robot position (up to :data:`ROBOT_TRIES`).

    Raises:
        ValueError: no robot position and direction fit (``distance`` is at or near the diagonal).
    """
    for _ in range(ROBOT_TRIES):
        angles = rng.uniform(-math.pi, math.pi, size=DIRECTION_TRIES)
        tx, ty = x + distance * np.cos(angles), y + distance * np.sin(angles)
        fits = np.flatnonzero((np.abs(tx) <= lim) & (np.abs(ty) <= lim))
        if fits.size:
            return x, y, float(tx[fits[0]]), float(ty[fits[0]])
        x, y = (float(v) for v in rng.uniform(-lim, lim, size=2))
    raise ValueError(
        f"no target {distance:g} m from the robot fits in the spawn area [-{lim:g}, {lim:g}]^2 after "
        f"{ROBOT_TRIES} robot positions x {DIRECTION_TRIES} directions"
    )


def _clipped_action(action: Sequence[float] | np.ndarray, cfg: NavConfig) -> tuple[float, float]:
    """``(linear, yaw_rate)`` of ``action`` clipped to the limits (plain floats: cheaper than numpy here).

    Raises:
        ValueError: the action does not have exactly 2 finite numbers.
    """
    act = np.asarray(action, dtype=np.float64).reshape(-1)
    v, w = (float(act[0]), float(act[1])) if act.shape == (2,) else (math.nan, math.nan)
    if not (math.isfinite(v) and math.isfinite(w)):
        raise ValueError(f"nav action must be 2 finite numbers [linear, yaw_rate], got {act.tolist()!r}")
    return min(max(v, -cfg.max_linear), cfg.max_linear), min(max(w, -cfg.max_yaw_rate), cfg.max_yaw_rate)


def step(state: NavState, action: Sequence[float] | np.ndarray, cfg: NavConfig = NavConfig()) -> NavState:
    """Advance one agent step with ``action = [linear m/s, yaw rate rad/s]`` (clipped to the limits).

    Integrates ``cfg.fixed_updates_per_step`` Euler sub-steps and stops moving at the first sub-step
    that collides or reaches the target. A finished episode does not move any more.

    Raises:
        ValueError: the action does not have exactly 2 finite numbers.
    """
    v, w = _clipped_action(action, cfg)
    x, y, yaw = state.x, state.y, state.yaw
    collided, reached = state.collided, state.reached_target
    dt = cfg.fixed_delta_time
    for _ in range(cfg.fixed_updates_per_step):
        if collided or reached:
            break
        x += v * math.cos(yaw) * dt
        y += v * math.sin(yaw) * dt
        yaw = _wrap(yaw + w * dt)
        collided = wall_distance(x, y, cfg) < cfg.collision_margin
        reached = math.hypot(state.target_x - x, state.target_y - y) < cfg.success_radius
    count = state.step_count + 1
    return NavState(  # all fields given, as replace() would, at half its cost (steps are the hot path)
        x=x,
        y=y,
        yaw=yaw,
        target_x=state.target_x,
        target_y=state.target_y,
        step_count=count,
        sim_time=state.sim_time + cfg.step_seconds,
        collided=collided,
        reached_target=reached,
        truncated=state.truncated or count >= cfg.max_steps,
    )


def ray_angles(cfg: NavConfig = NavConfig()) -> np.ndarray:
    """Ray directions relative to the heading, counter-clockwise from 0 (radians, float64)."""
    return np.arange(cfg.n_rays, dtype=np.float64) * (2.0 * math.pi / cfg.n_rays)


def lidar(state: NavState, cfg: NavConfig = NavConfig()) -> np.ndarray:
    """Distances along each ray to the walls, capped at ``cfg.max_range`` (float32, shape ``(n_rays,)``)."""
    return lidar_many([state], cfg)[0]


def lidar_many(states: Sequence[NavState], cfg: NavConfig = NavConfig()) -> np.ndarray:
    """:func:`lidar` of many states at once, shape ``(len(states), n_rays)`` (the arena and lidar of
    ``cfg``, which environment parameters do not change)."""
    poses = np.array([(s.x, s.y, s.yaw) for s in states], dtype=np.float64).reshape(-1, 3, 1)
    x, y = poses[:, 0], poses[:, 1]
    angles = poses[:, 2] + ray_angles(cfg)
    c, s = np.cos(angles), np.sin(angles)
    h = cfg.arena_half_size
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(c > 1e-12, (h - x) / c, np.where(c < -1e-12, (-h - x) / c, np.inf))
        ty = np.where(s > 1e-12, (h - y) / s, np.where(s < -1e-12, (-h - y) / s, np.inf))
    dist = np.clip(np.minimum(tx, ty), 0.0, cfg.max_range)
    return dist.astype(np.float32)


def state_fields(state: NavState, cfg: NavConfig = NavConfig(), ranges: np.ndarray | None = None) -> dict[str, Any]:
    """The ``ray_lab_interfaces/msg/NavState`` fields of ``state`` as a dict, with its lidar (``ranges``
    when already computed, e.g. by :func:`lidar_many`)."""
    return {
        "lidar_ranges": lidar(state, cfg) if ranges is None else ranges,
        "robot_x": state.x,
        "robot_y": state.y,
        "robot_yaw": state.yaw,
        "target_x": state.target_x,
        "target_y": state.target_y,
        "distance_to_target": state.distance_to_target,
        "collided": state.collided,
        "reached_target": state.reached_target,
        "truncated": state.truncated,
        "step_count": state.step_count,
    }
