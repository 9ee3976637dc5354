"""numpy arrays <-> ``Tensor`` messages, checked strictly; ``info`` dicts <-> the reply maps.

Nothing is pickled or evaluated: a tensor is a dtype name from :data:`DTYPES`, a shape and exactly
``product(shape) * itemsize`` bytes; anything else raises ``ValueError`` saying what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import ray_lab_env_pb2 as pb

__all__ = ["DTYPES", "MAX_NDIM", "from_tensor", "info_from_maps", "info_to_maps", "to_tensor"]

DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64"}
)
"""The dtype names a ``Tensor`` may carry (numpy names)."""
MAX_NDIM = 32
"""At most this many dimensions (numpy allows 64)."""


def _short(text: str, limit: int = 40) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters (error messages quote network input)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _dtype(name: str) -> np.dtype[Any]:
    if name not in DTYPES:
        raise ValueError(f"unsupported tensor dtype {_short(name)}; expected one of {sorted(DTYPES)}")
    return np.dtype(name).newbyteorder("<")


def to_tensor(array: Any) -> pb.Tensor:
    """``array`` (anything ``numpy.asarray`` takes) as a ``Tensor``; raises ``ValueError`` for other dtypes."""
    arr = np.asarray(array)
    if arr.ndim > MAX_NDIM:
        raise ValueError(f"tensor has {arr.ndim} dimensions, at most {MAX_NDIM} are allowed")
    little = _dtype(arr.dtype.name)
    return pb.Tensor(dtype=arr.dtype.name, shape=arr.shape, data=arr.astype(little, copy=False).tobytes())


def from_tensor(tensor: pb.Tensor, what: str = "tensor") -> np.ndarray:
    """A new, writable, native-order array from ``tensor``, after checking dtype, shape and data size.

    ``what`` names the tensor in error messages (``"action"``, ``"observation"``...).

    Raises:
        ValueError: unknown dtype, negative or too many dimensions, a data size that does not match
            the shape, or bool bytes other than 0 and 1.
    """
    try:
        dtype = _dtype(tensor.dtype)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    shape = tuple(int(dim) for dim in tensor.shape)
    if len(shape) > MAX_NDIM:
        raise ValueError(f"{what}: {len(shape)} dimensions, at most {MAX_NDIM} are allowed")
    if any(dim < 0 for dim in shape):
        raise ValueError(f"{what}: negative dimension in shape {list(shape)}")
    expected = math.prod(shape) * dtype.itemsize
    if len(tensor.data) != expected:
        raise ValueError(
            f"{what}: expected {expected} bytes for {tensor.dtype} shape {list(shape)}, got {len(tensor.data)}"
        )
    if dtype.kind == "b" and expected and np.frombuffer(tensor.data, dtype=np.uint8).max() > 1:
        raise ValueError(f"{what}: bool tensor holds bytes other than 0 and 1")
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def info_to_maps(info: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Split a gymnasium ``info`` dict into the protocol's number and text maps.

    Numbers, bools and one-element numeric arrays go to the first map (as float), strings to the
    second; other values (nested dicts, arrays, objects) and non-string keys are left out.
    """
    numbers: dict[str, float] = {}
    texts: dict[str, str] = {}
    for key, value in info.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, str):
            texts[key] = value
        elif isinstance(value, bool | int | float | np.bool_ | np.number):
            numbers[key] = float(value)
        elif isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
            numbers[key] = float(value.reshape(()))
    return numbers, texts


def info_from_maps(numbers: Mapping[str, float], texts: Mapping[str, str]) -> dict[str, Any]:
    """The ``info`` dict of a reply: its number map then its text map, as plain Python values."""
    info: dict[str, Any] = {key: float(value) for key, value in numbers.items()}
    info.update((key, str(value)) for key, value in texts.items())
    return info
