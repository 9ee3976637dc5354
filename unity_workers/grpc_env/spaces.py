"""gymnasium spaces <-> ``Space`` messages, and action checks on both ends of the wire.

Supported: ``Box``, ``Discrete``, ``MultiDiscrete`` and ``MultiBinary`` (what Stable-Baselines3
trains on without wrappers). Messages from the network are checked before any space is built:
a bad one raises ``ValueError`` naming the field and its value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from . import ray_lab_env_pb2 as pb
from .tensors import from_tensor, to_tensor

__all__ = ["action_to_array", "check_action", "space_from_proto", "space_to_proto"]

_INTEGER_KINDS = "iub"


def space_to_proto(space: spaces.Space[Any]) -> pb.Space:
    """``space`` as a ``Space`` message; raises ``ValueError`` for space types the protocol lacks."""
    if isinstance(space, spaces.Box):
        box = pb.Box(
            dtype=space.low.dtype.name, shape=space.shape, low=to_tensor(space.low), high=to_tensor(space.high)
        )
        return pb.Space(box=box)
    if isinstance(space, spaces.Discrete):
        return pb.Space(discrete=pb.Discrete(n=int(space.n), start=int(space.start)))
    if isinstance(space, spaces.MultiDiscrete):
        multi = pb.MultiDiscrete(nvec=to_tensor(space.nvec), start=to_tensor(space.start))
        return pb.Space(multi_discrete=multi)
    if isinstance(space, spaces.MultiBinary):
        return pb.Space(multi_binary=pb.MultiBinary(shape=space.shape))
    raise ValueError(
        f"the gRPC env protocol supports Box, Discrete, MultiDiscrete and MultiBinary spaces, got {space!r}"
    )


def _box(msg: pb.Box, what: str) -> spaces.Box:
    low, high = from_tensor(msg.low, f"{what}.box.low"), from_tensor(msg.high, f"{what}.box.high")
    shape = tuple(int(dim) for dim in msg.shape)
    for name, bound in (("low", low), ("high", high)):
        if bound.shape != shape or bound.dtype.name != msg.dtype:
            raise ValueError(
                f"{what}.box.{name} is {bound.dtype.name} shape {list(bound.shape)}, "
                f"expected the box's {msg.dtype[:40]!r} shape {list(shape)}"
            )
    return spaces.Box(low=low, high=high, shape=shape, dtype=low.dtype.type)


def _multi_discrete(msg: pb.MultiDiscrete, what: str) -> spaces.MultiDiscrete:
    nvec = from_tensor(msg.nvec, f"{what}.multi_discrete.nvec")
    start = from_tensor(msg.start, f"{what}.multi_discrete.start")
    if nvec.dtype.kind not in "iu" or start.dtype != nvec.dtype or start.shape != nvec.shape:
        raise ValueError(
            f"{what}.multi_discrete: nvec and start must be integer tensors of one dtype and shape, got "
            f"{nvec.dtype.name} {list(nvec.shape)} and {start.dtype.name} {list(start.shape)}"
        )
    if nvec.size == 0 or not np.all(nvec > 0):
        raise ValueError(f"{what}.multi_discrete.nvec must be non-empty and > 0, got {nvec.tolist()}")
    return spaces.MultiDiscrete(nvec, dtype=nvec.dtype.type, start=start)


def space_from_proto(msg: pb.Space, what: str = "space") -> spaces.Space[Any]:
    """The gymnasium space of ``msg``; raises ``ValueError`` (naming ``what``) when it is malformed."""
    kind = msg.WhichOneof("kind")
    try:
        if kind == "box":
            return _box(msg.box, what)
        if kind == "discrete":
            if msg.discrete.n < 1:
                raise ValueError(f"{what}.discrete.n must be >= 1, got {msg.discrete.n}")
            return spaces.Discrete(int(msg.discrete.n), start=int(msg.discrete.start))
        if kind == "multi_discrete":
            return _multi_discrete(msg.multi_discrete, what)
        if kind == "multi_binary":
            shape = [int(dim) for dim in msg.multi_binary.shape]
            if not shape or min(shape) < 1:
                raise ValueError(f"{what}.multi_binary.shape must be non-empty with dims >= 1, got {shape}")
            return spaces.MultiBinary(shape)
    except (TypeError, AssertionError) as exc:  # gymnasium's own checks, for anything missed above
        raise ValueError(f"{what}: invalid {kind} space: {exc}") from exc
    raise ValueError(f"{what}: no space given (expected one of box, discrete, multi_discrete, multi_binary)")


def action_to_array(space: spaces.Space[Any], action: Any) -> np.ndarray:
    """Client side: ``action`` as an array of the space's shape and dtype (size-preserving reshapes only).

    Raises:
        ValueError: the action does not have as many elements as the space, or is not integral for an
            integer space.
    """
    arr = np.asarray(action)
    shape = tuple(space.shape or ())
    if arr.shape != shape:
        if arr.size != math.prod(shape):
            raise ValueError(f"action of shape {list(arr.shape)} does not fit the action space {space}")
        arr = arr.reshape(shape)
    dtype = np.dtype(space.dtype)
    if dtype.kind in _INTEGER_KINDS and arr.dtype.kind not in _INTEGER_KINDS:
        raise ValueError(f"action must hold integers for {space}, got {arr.dtype.name} {arr.tolist()}")
    return arr.astype(dtype, copy=False)


def check_action(space: spaces.Space[Any], action: np.ndarray) -> Any:
    """Server side: the value to hand to ``env.step`` for a decoded ``action``, after checking it fits.

    Box actions must have the box's shape and a castable dtype (bounds are the env's business);
    discrete actions must be integers inside the space. A ``Discrete`` action is returned as an ``int``.

    Raises:
        ValueError: with the action's shape, dtype or values and the space.
    """
    shape = tuple(space.shape or ())
    if action.shape != shape:
        raise ValueError(f"action shape {list(action.shape)} does not match the action space {space}")
    dtype = np.dtype(space.dtype)
    if isinstance(space, spaces.Box):
        if not np.can_cast(action.dtype, dtype, casting="same_kind"):
            raise ValueError(f"action dtype {action.dtype.name} cannot be cast to the action space dtype {dtype.name}")
        return action.astype(dtype, copy=False)
    if action.dtype.kind not in _INTEGER_KINDS:
        raise ValueError(f"action must hold integers for {space}, got {action.dtype.name} {action.tolist()}")
    value: Any = int(action) if isinstance(space, spaces.Discrete) else action
    if not space.contains(value):
        raise ValueError(f"action {np.asarray(value).tolist()} is outside the action space {space}")
    return value if isinstance(value, int) else action.astype(dtype)
