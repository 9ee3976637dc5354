"""Field paths (`state.lidar_ranges[0:16]`) and `FieldAdapter`: the YAML mapping of step/reset services.

The observation is a box (a list of paths, flattened and concatenated) or a dict (paths per key); a key
whose space is an image decodes a camera message (:mod:`unity_workers.envs.images`).

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

from .images import IMAGE_SPACE_RULE, ImageLayout, decode_image, image_to_rgb

__all__ = ["FieldAdapter", "FieldPath", "build_space", "image_to_rgb", "observation_keys_problem", "request_dict"]

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
    if spec.type == "dict":
        return spaces.Dict({key: build_space(sub) for key, sub in (spec.spaces or {}).items()})
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


def observation_keys_problem(fields: FieldMapSpec, space: SpaceSpec) -> str | None:
    """Why the keys of ``fields.observation`` do not fit ``space``, or None.

    A flat list goes with a non-dict space; a mapping needs a dict space with exactly its keys.
    """
    paths = fields.observation
    if isinstance(paths, list):
        if space.type != "dict":
            return None
        keys = sorted(space.spaces or {})
        return (
            f"observation_space is a dict space with keys {keys}, so the observation maps each key to its "
            f"field path(s), e.g. {{{keys[0]}: state.camera}}; got a list"
        )
    if space.type != "dict":
        return (
            f"a mapping (keys {sorted(paths)}) needs a dict observation_space with these keys, got a {space.type} space"
        )
    missing, extra = sorted(set(space.spaces or {}) - set(paths)), sorted(set(paths) - set(space.spaces or {}))
    if not missing and not extra:
        return None
    found = [f"missing {missing} (in observation_space.spaces)"] if missing else []
    found += [f"unknown {extra} (not in observation_space.spaces)"] if extra else []
    return f"the keys must be those of observation_space.spaces: {', '.join(found)}"


@dataclass(frozen=True)
class _ObservationPart:
    """One key of the observation (``None``: the whole box): its paths, space and image layout if any."""

    key: str | None
    paths: tuple[FieldPath, ...]
    space: gym.Space[Any]
    layout: ImageLayout | None

    @property
    def where(self) -> str:
        return "fields.observation" + ("" if self.key is None else f".{self.key}")

    def value(self, response: Any) -> np.ndarray:
        """This part of the observation in ``response``: a decoded image, or the paths' numbers."""
        if len(self.paths) == 1:
            found = self.paths[0].get(response)
            if _is_image_message(found):
                if self.layout is None:
                    raise ValueError(
                        f"{self.where}: {self.paths[0].text!r} is a camera image, but the space {self.space} is "
                        f"not an image space ({IMAGE_SPACE_RULE})"
                    )
                return decode_image(found, self.layout, f"{self.where} ({self.paths[0].text})")
        numbers = np.concatenate([self._numbers(path, response) for path in self.paths])
        expected = int(np.prod(self.space.shape or (1,)))
        if numbers.size != expected:
            raise ValueError(
                f"{self.where}: fields {[p.text for p in self.paths]} give {numbers.size} numbers; "
                f"the space {self.space} expects {expected}"
            )
        return numbers.astype(self.space.dtype).reshape(self.space.shape or ())

    def _numbers(self, path: FieldPath, response: Any) -> np.ndarray:
        found = path.get(response)
        try:
            if hasattr(found, "__dataclass_fields__"):
                raise TypeError(f"it is a message ({getattr(found, '__msgtype__', type(found).__name__)})")
            return np.asarray(found, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.where}: {path.text!r} is not a number or numeric array: {exc}") from None


def _is_image_message(value: Any) -> bool:
    return hasattr(value, "data") and (hasattr(value, "encoding") or hasattr(value, "format"))


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
        if action_space.type == "dict":
            raise ValueError(
                "action_space: dict spaces are for observations; SB3 acts in box, discrete, "
                "multi_discrete or multi_binary spaces"
            )
        self.observation_space = build_space(observation_space)
        self.action_space = build_space(action_space)
        self.fields = fields
        self._obs = self._observation_parts(fields, observation_space)
        self._action = fields.action.strip()
        self._step_constants: dict[str, Constant] = dict(fields.step_request)
        self._reset_constants = fields.reset_constants(reset_srv)
        request_dict({**self._step_constants, self._action: 0.0})  # bad paths fail here, not at the first step
        request_dict(self._reset_constants)
        self._reward = FieldPath.parse(fields.reward) if fields.reward else None
        self._terminated = [FieldPath.parse(path) for path in fields.terminated]
        self._truncated = [FieldPath.parse(path) for path in fields.truncated]
        self._image = FieldPath.parse(fields.image) if fields.image else None

    def _observation_parts(self, fields: FieldMapSpec, space: SpaceSpec) -> list[_ObservationPart]:
        problem = observation_keys_problem(fields, space)
        if problem is not None:
            raise ValueError(f"fields.observation: {problem}")
        by_key, whole = fields.observation_paths(), self.observation_space
        order: list[str | None] = list(whole.spaces) if isinstance(whole, spaces.Dict) else [None]  # the space's
        parts = []
        for key in order:
            if not by_key[key]:
                raise ValueError("fields.observation needs at least one response field path")
            sub = whole[key] if isinstance(whole, spaces.Dict) and key is not None else whole
            paths = tuple(FieldPath.parse(text) for text in by_key[key])
            parts.append(_ObservationPart(key, paths, sub, ImageLayout.of(sub)))
        return parts

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

    def observation(self, response: Any) -> Any:
        """The observation: the configured fields flattened into the box, or a dict of them per key
        (camera images decoded), checked against the observation space."""
        if self._obs[0].key is None:
            return self._obs[0].value(response)
        return {part.key: part.value(response) for part in self._obs}

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
