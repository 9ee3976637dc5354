"""Binary encoding of one worker's step result, and decoding of all workers' into VecEnv arrays.

Layout of an ``S`` reply for ``n`` envs (both sides know the observation layout, so no pickling
of arrays is needed)::

    b"S" | n: u32 | extra_len: u32 | obs bytes (each key in layout order, n rows)
         | rewards: n x f32 | dones: n x bool | truncated: n x bool | extra (pickle, optional)

``extra`` holds ``(infos, reset_infos)`` and is left out when every info dict is empty (apart from
``TimeLimit.truncated``, sent as the ``truncated`` array) and no env was reset — the common case.
"""

from __future__ import annotations

import math
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ray_lab.workers.obs_format import ObsFormat

_HEAD = struct.Struct("<II")
_START = 1 + _HEAD.size


@dataclass(frozen=True)
class StepResult:
    """What one worker returns for one vector step of its ``k`` environments.

    ``obs`` is stacked like a VecEnv observation (array, dict of arrays or tuple of arrays).
    ``infos`` is ``None`` when every info dict was empty apart from ``TimeLimit.truncated``,
    which is carried by ``truncated``. ``reset_infos`` maps the local index of each auto-reset
    env to its reset info.
    """

    obs: Any
    rewards: np.ndarray
    dones: np.ndarray
    truncated: np.ndarray
    infos: list[dict[str, Any]] | None
    reset_infos: dict[int, dict[str, Any]]


def encode_step(result: StepResult, fmt: ObsFormat) -> bytes:
    """Serialize ``result`` (worker side)."""
    n = len(result.rewards)
    extra = b""
    if result.infos is not None or result.reset_infos:
        extra = pickle.dumps((result.infos, result.reset_infos), protocol=5)
    parts = [b"S", _HEAD.pack(n, len(extra))]
    parts.extend(_obs_arrays(result.obs, fmt))
    parts.append(result.rewards.astype(np.float32, copy=False).tobytes())
    parts.append(result.dones.astype(bool, copy=False).tobytes())
    parts.append(result.truncated.astype(bool, copy=False).tobytes())
    parts.append(extra)
    return b"".join(parts)


def _obs_arrays(obs: Any, fmt: ObsFormat) -> list[bytes]:
    if fmt.kind == "array":
        return [np.ascontiguousarray(obs).tobytes()]
    return [np.ascontiguousarray(obs[key]).tobytes() for key in fmt.keys]


@dataclass
class DecodedSteps:
    """All workers' step results joined in env order (caller side)."""

    obs: Any
    rewards: np.ndarray
    dones: np.ndarray
    infos: list[dict[str, Any]]
    reset_infos: dict[int, dict[str, Any]]


class StepDecoder:
    """Decode the ``S`` replies of all workers straight into fresh VecEnv arrays."""

    def __init__(self, fmt: ObsFormat, counts: Sequence[int]) -> None:
        self.fmt = fmt
        self.counts = list(counts)
        self.total = sum(self.counts)
        self._row_sizes = {key: math.prod(fmt.shapes[key]) for key in fmt.keys}

    def decode(self, replies: Sequence[bytes]) -> DecodedSteps:
        fmt, total = self.fmt, self.total
        obs = {key: np.empty((total, *fmt.shapes[key]), dtype=fmt.dtypes[key]) for key in fmt.keys}
        rewards = np.empty(total, dtype=np.float32)
        dones = np.empty(total, dtype=bool)
        truncated = np.empty(total, dtype=bool)
        infos: list[dict[str, Any]] = []
        reset_infos: dict[int, dict[str, Any]] = {}
        start = 0
        for reply, expected in zip(replies, self.counts, strict=True):
            n, extra_len = _HEAD.unpack_from(reply, 1)
            if n != expected:
                raise ValueError(f"step reply holds {n} envs, expected {expected}")
            stop = start + n
            offset = _START
            for key in fmt.keys:
                count = n * self._row_sizes[key]
                dtype = fmt.dtypes[key]
                chunk = np.frombuffer(reply, dtype=dtype, count=count, offset=offset)
                obs[key][start:stop] = chunk.reshape((n, *fmt.shapes[key]))
                offset += count * dtype.itemsize
            rewards[start:stop] = np.frombuffer(reply, dtype=np.float32, count=n, offset=offset)
            offset += 4 * n
            dones[start:stop] = np.frombuffer(reply, dtype=bool, count=n, offset=offset)
            offset += n
            truncated[start:stop] = np.frombuffer(reply, dtype=bool, count=n, offset=offset)
            offset += n
            worker_infos: list[dict[str, Any]] | None = None
            if extra_len:
                worker_infos, worker_resets = pickle.loads(memoryview(reply)[offset : offset + extra_len])
                for local, info in worker_resets.items():
                    reset_infos[start + local] = info
            if worker_infos is None:
                worker_infos = [{} for _ in range(n)]
            infos.extend(worker_infos)
            start = stop
        for info, trunc in zip(infos, truncated.tolist(), strict=True):
            info["TimeLimit.truncated"] = trunc
        return DecodedSteps(fmt.wrap(obs), rewards, dones, infos, reset_infos)
