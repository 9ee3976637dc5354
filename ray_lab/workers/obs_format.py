"""Stack per-env observations into VecEnv form, and join the stacks of several workers.

A VecEnv observation is an array with the env index first; for a ``Dict`` space a dict of such
arrays, for a ``Tuple`` space a tuple of them (the layout of SB3's ``DummyVecEnv``). Values are
cast to the sub-space dtype, as ``DummyVecEnv`` does with its buffers.

Kept free of Stable-Baselines3 imports: workers import this module and SB3 pulls in torch.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces


@dataclass(frozen=True)
class ObsFormat:
    """Keys, shapes and dtypes of an observation space (``None`` key for unstructured spaces)."""

    kind: str  # "dict", "tuple" or "array"
    keys: tuple[Hashable, ...]
    shapes: dict[Hashable, tuple[int, ...]]
    dtypes: dict[Hashable, np.dtype]

    @classmethod
    def from_space(cls, space: spaces.Space) -> ObsFormat:
        """Describe ``space``; nested Dict/Tuple spaces are rejected like SB3 does."""
        subspaces: dict[Hashable, spaces.Space]
        if isinstance(space, spaces.Dict):
            kind, subspaces = "dict", {key: sub for key, sub in space.spaces.items()}
        elif isinstance(space, spaces.Tuple):
            kind, subspaces = "tuple", dict(enumerate(space.spaces))
        else:
            kind, subspaces = "array", {None: space}
        for key, sub in subspaces.items():
            if isinstance(sub, spaces.Dict | spaces.Tuple) or (kind == "array" and hasattr(sub, "spaces")):
                raise ValueError(f"nested observation spaces are not supported (like in SB3): key {key!r} is {sub}")
            if sub.shape is None or sub.dtype is None:
                raise ValueError(f"observation sub-space {key!r} has no fixed shape/dtype: {sub}")
        return cls(
            kind=kind,
            keys=tuple(subspaces),
            shapes={k: tuple(s.shape) for k, s in subspaces.items()},  # type: ignore[arg-type]
            dtypes={k: np.dtype(s.dtype) for k, s in subspaces.items()},
        )

    def stack(self, observations: Sequence[Any]) -> Any:
        """Stack single-env observations (worker side)."""
        n = len(observations)
        buffers = {key: np.empty((n, *self.shapes[key]), dtype=self.dtypes[key]) for key in self.keys}
        for i, obs in enumerate(observations):
            if self.kind == "array":
                buffers[None][i] = obs
            else:
                for key in self.keys:
                    buffers[key][i] = obs[key]
        return self.wrap(buffers)

    def concatenate(self, stacks: Sequence[Any]) -> Any:
        """Join the stacked observations of several workers along the env axis (caller side)."""
        if len(stacks) == 1:
            return stacks[0]
        if self.kind == "array":
            return np.concatenate(stacks, axis=0)
        buffers = {key: np.concatenate([stack[key] for stack in stacks], axis=0) for key in self.keys}
        return self.wrap(buffers)

    def wrap(self, buffers: dict[Hashable, np.ndarray]) -> Any:
        """Dict of per-key arrays -> VecEnv observation (dict, tuple or plain array)."""
        if self.kind == "dict":
            return buffers
        if self.kind == "tuple":
            return tuple(buffers[key] for key in self.keys)
        return buffers[None]
