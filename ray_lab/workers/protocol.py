"""Wire format between :class:`~ray_lab.workers.RayVecEnv` and its env workers.

Every request and reply is one ``bytes`` object: Ray channels pass ``bytes`` through without
running Ray's own serializer, which is the cheapest path through a Compiled Graph. The first byte
says what follows:

* ``A`` — step request, actions as a raw numpy buffer (dtype, shape, bytes; no pickle);
* ``P`` — step request, actions pickled (lists, object arrays);
* ``C`` — any other command, cloudpickled ``(command, payload)`` (wrapper classes, callables and
  values from ``__main__`` survive);
* ``S`` — step reply, see :mod:`ray_lab.workers.step_codec`;
* ``R`` — other reply, cloudpickled value;
* ``F`` — failure, a pickled :class:`~ray_lab.workers.errors.RemoteFailure`.
"""

from __future__ import annotations

import pickle
import struct
from enum import StrEnum
from typing import Any

import numpy as np
from ray import cloudpickle

from ray_lab.workers.errors import RemoteFailure

_PROTOCOL = 5
_ARRAY_HEAD = struct.Struct("<BB")  # dtype-string length, ndim


class Command(StrEnum):
    """Commands understood by :class:`~ray_lab.workers.EnvWorker`."""

    NOOP = "noop"
    STEP = "step"
    RESET = "reset"
    SET_RESET_ARGS = "set_reset_args"
    GET_ATTR = "get_attr"
    SET_ATTR = "set_attr"
    ENV_METHOD = "env_method"
    IS_WRAPPED = "is_wrapped"
    RENDER = "render"
    CLOSE = "close"


def encode_actions(actions: Any) -> bytes:
    """A step request for one worker's slice of the actions."""
    if isinstance(actions, np.ndarray) and not actions.dtype.hasobject:
        dtype = actions.dtype.str.encode()
        head = _ARRAY_HEAD.pack(len(dtype), actions.ndim)
        shape = struct.pack(f"<{actions.ndim}q", *actions.shape)
        return b"".join((b"A", head, dtype, shape, np.ascontiguousarray(actions).tobytes()))
    return b"P" + pickle.dumps(actions, protocol=_PROTOCOL)


def _decode_actions(message: bytes) -> np.ndarray:
    dtype_len, ndim = _ARRAY_HEAD.unpack_from(message, 1)
    offset = 1 + _ARRAY_HEAD.size
    dtype = np.dtype(message[offset : offset + dtype_len].decode())
    offset += dtype_len
    shape = struct.unpack_from(f"<{ndim}q", message, offset)
    offset += 8 * ndim
    # Copy: frombuffer views of bytes are read-only and an env may modify its action in place.
    return np.frombuffer(message, dtype=dtype, offset=offset).reshape(shape).copy()


def encode_request(command: Command, payload: Any = None) -> bytes:
    """Serialize a request (``step`` payloads go through :func:`encode_actions`)."""
    if command is Command.STEP:
        return encode_actions(payload)
    return b"C" + cloudpickle.dumps((command.value, payload), protocol=_PROTOCOL)


def decode_request(message: bytes) -> tuple[Command, Any]:
    """Inverse of :func:`encode_request`."""
    tag = message[:1]
    if tag == b"A":
        return Command.STEP, _decode_actions(message)
    if tag == b"P":
        return Command.STEP, pickle.loads(memoryview(message)[1:])
    if tag == b"C":
        name, payload = pickle.loads(memoryview(message)[1:])
        return Command(name), payload
    raise ValueError(f"unknown request tag {tag!r} (message of {len(message)} bytes)")


def encode_reply(value: Any) -> bytes:
    """Serialize a successful reply to a command other than ``step``."""
    return b"R" + cloudpickle.dumps(value, protocol=_PROTOCOL)


def encode_failure(failure: RemoteFailure) -> bytes:
    """Serialize a failed reply."""
    return b"F" + pickle.dumps(failure, protocol=_PROTOCOL)


def is_step_request(message: bytes) -> bool:
    """Whether a request is a ``step`` (the hot path)."""
    return message[:1] in (b"A", b"P")


def is_failure(message: bytes) -> bool:
    """Whether a reply carries a :class:`RemoteFailure`."""
    return message[:1] == b"F"


def decode_reply(message: bytes) -> tuple[bool, Any]:
    """Return ``(ok, value)`` of an ``R``/``F`` reply; ``value`` is a RemoteFailure when not ok."""
    tag = message[:1]
    if tag == b"R":
        return True, pickle.loads(memoryview(message)[1:])
    if tag == b"F":
        return False, pickle.loads(memoryview(message)[1:])
    raise ValueError(f"unexpected reply tag {tag!r} (message of {len(message)} bytes)")


NOOP_REQUEST = encode_request(Command.NOOP)
