"""Field paths (`state.lidar_ranges[0:16]`) and `FieldAdapter`: the YAML mapping of step/reset services.

A path is parsed once into parts (name plus an optional index or slice) and looked up with
``getattr``/indexing only; nothing from a config or the network is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from unity_workers.spec import OWN_RESET_SRV, Constant, FieldMapSpec, SpaceSpec

__all__ = ["FieldAdapter", "FieldPath", "build_space", "image_to_rgb", "request_dict"]

_PART = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>-?\d+)\]|\[(?P<lo>-?\d*):(?P<hi>-?\d*)\])?$")


@dataclass(frozen=True)
class FieldPath:
    """A parsed path: ``parts`` of ``(name, index or slice or None)``."""

    text: str
    parts: tuple[tuple[str, int | slice | None], ...]

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        """Parse ``a.b[2].c[1:3]``; raises ``ValueError`` naming the bad part."""
        parts: list[tuple[str, int | slice | None]] = []
        for raw in text.split("."):
            match = _PART.match(raw.strip())
            if match is None:
                raise ValueError(f"bad field path {text!r}: part {raw!r} is not `name`, `name[i]` or `name[a:b]`")
            sel: int | slice | None = None
            if match["index"] is not None:
                sel = int(match["index"])
            elif match["lo"] is not None:
                sel = slice(int(match["lo"]) if match["lo"] else None, int(match["hi"]) if match["hi"] else None)
            parts.append((match["name"], sel))
        return cls(text, tuple(parts))

    def get(self, message: Any) -> Any:
        """The value at this path in ``message``; ``LookupError`` naming the missing part."""
        value = message
        for name, sel in self.parts:
            if not hasattr(value, name):
                known = sorted(getattr(value, "__dataclass_fields__", {}))
                raise LookupError(f"field path {self.text!r}: {type(value).__name__} has no field {name!r}; {known}")
            value = getattr(value, name)
            if sel is not None:
                value = value[sel]
        return value


def request_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested request dicts from ``{"a.b": value}``: ``{"a": {"b": value}}``; paths take no index or slice."""
    request: dict[str, Any] = {}
    for text, value in values.items():
        path = FieldPath.parse(text)
        if any(sel is not None for _, sel in path.parts):
            raise ValueError(f"request paths name whole fields (`a.b`), without [index] or [a:b], got {text!r}")
        *parents, (leaf, _) = path.parts
        node = request
        for name, _ in parents:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ValueError(f"request path {text!r} goes through {name!r}, which is set to a value")
            node = child
        if isinstance(node.get(leaf), dict):
            raise ValueError(f"request path {text!r} sets a value where other paths set its fields")
        node[leaf] = value
    return request


def build_space(spec: SpaceSpec) -> gym.Space[Any]:
    """The gymnasium space a :class:`SpaceSpec` describes."""
    if spec.type == "discrete":
        return spaces.Discrete(int(spec.n or 0))
    if spec.type == "multi_binary":
        return spaces.MultiBinary(int(spec.n or 0))
    if spec.type == "multi_discrete":
        return spaces.MultiDiscrete(list(spec.nvec or []))
    dtype = np.dtype(spec.dtype)
    low, high = np.asarray(spec.low, dtype=np.float64), np.asarray(spec.high, dtype=np.float64)
    shape = tuple(spec.shape) if spec.shape is not None else (low.shape if low.ndim else high.shape)
    low, high = np.broadcast_to(low, shape), np.broadcast_to(high, shape)  # ValueError on a length mismatch
    return spaces.Box(low=low.astype(dtype), high=high.astype(dtype), shape=shape, dtype=dtype)  # type: ignore[arg-type]


def image_to_rgb(image: Any) -> np.ndarray:
    """A ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, mono8) as an ``(H, W, 3)`` uint8 array."""
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
    encoding = str(image.encoding)
    if encoding not in channels:
        raise ValueError(f"image encoding {encoding!r} is not supported; use one of {sorted(channels)}")
    height, width, step, n = int(image.height), int(image.width), int(image.step), channels[encoding]
    data = np.asarray(image.data, dtype=np.uint8)
    if step < width * n or data.size < height * step:
        raise ValueError(f"image {width}x{height} {encoding}: expected {height * step} bytes, got {data.size}")
    pixels = data[: height * step].reshape(height, step)[:, : width * n].reshape(height, width, n)
    if n == 1:
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[:, :, :3]
    return np.ascontiguousarray(rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb)


class FieldAdapter:
    """A :class:`~unity_workers.envs.StepAdapter` built from YAML: spaces plus field paths.

    Requests carry only what the mapping names: the action (step), the constants of
    ``fields.step_request`` / ``fields.reset_request`` (default for ``reset_srv``, see
    :meth:`FieldMapSpec.reset_constants`) and the seed, which the session adds. Every other field
    keeps its type's default.
    """

    def __init__(
        self,
        fields: FieldMapSpec,
        observation_space: SpaceSpec,
        action_space: SpaceSpec,
        reset_srv: str = OWN_RESET_SRV,
    ) -> None:
        self.observation_space = build_space(observation_space)
        self.action_space = build_space(action_space)
        self.fields = fields
        self._obs = [FieldPath.parse(path) for path in fields.observation]
        if not self._obs:
            raise ValueError("fields.observation needs at least one response field path")
        self._action = fields.action.strip()
        self._step_constants: dict[str, Constant] = dict(fields.step_request)
        self._reset_constants = fields.reset_constants(reset_srv)
        request_dict({**self._step_constants, self._action: 0.0})  # bad paths fail here, not at the first step
        request_dict(self._reset_constants)
        self._reward = FieldPath.parse(fields.reward) if fields.reward else None
        self._terminated = [FieldPath.parse(path) for path in fields.terminated]
        self._truncated = [FieldPath.parse(path) for path in fields.truncated]
        self._image = FieldPath.parse(fields.image) if fields.image else None

    def make_step_request(self, action: Any) -> dict[str, Any]:
        """The action at ``fields.action`` (float32 for boxes, int64 otherwise) plus ``fields.step_request``."""
        dtype = self.action_space.dtype if isinstance(self.action_space, spaces.Box) else np.int64
        value = np.asarray(action, dtype=dtype).reshape(-1)
        expected = int(np.prod(self.action_space.shape or (1,)))
        if value.size != expected:
            raise ValueError(f"expected an action of {expected} numbers, got {value.size}")
        return request_dict({**self._step_constants, self._action: value})

    def make_reset_request(self, seed: int | None) -> dict[str, Any]:
        """The reset request: the constants of ``fields.reset_request`` (the session adds the seed field)."""
        return request_dict(self._reset_constants)

    def observation(self, response: Any) -> np.ndarray:
        """The configured fields, flattened and concatenated, checked against the observation space."""
        parts = [np.asarray(path.get(response), dtype=np.float64).reshape(-1) for path in self._obs]
        obs = np.concatenate(parts).astype(self.observation_space.dtype)
        expected = int(np.prod(self.observation_space.shape or (1,)))
        if obs.size != expected:
            raise ValueError(
                f"observation fields {[p.text for p in self._obs]} give {obs.size} numbers; "
                f"observation_space expects {expected}"
            )
        return obs.reshape(self.observation_space.shape or ())

    def reward(self, response: Any, previous: Any | None) -> float:
        """The reward field (0.0 when none is configured)."""
        return 0.0 if self._reward is None else float(self._reward.get(response))

    def terminated(self, response: Any) -> bool:
        """Any configured terminated flag is true."""
        return any(bool(path.get(response)) for path in self._terminated)

    def truncated(self, response: Any) -> bool:
        """Any configured truncated flag is true."""
        return any(bool(path.get(response)) for path in self._truncated)

    def image(self, response: Any) -> np.ndarray | None:
        """The camera frame in the response, when `fields.image` names one."""
        return None if self._image is None else image_to_rgb(self._image.get(response))
