"""Which worker owns which environment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnvAssignment:
    """Contiguous split of ``num_envs`` environments over workers of ``envs_per_worker`` each.

    Worker ``w`` owns global env indices ``[w * envs_per_worker, ...)``; the last worker may own
    fewer. With ``agents_per_instance`` k > 1 each simulator instance (player) serves k envs: a
    worker's envs are its players' agents, player by player (``envs_per_worker`` is a multiple of k).
    """

    num_envs: int
    envs_per_worker: int
    agents_per_instance: int = 1

    def __post_init__(self) -> None:
        if self.num_envs < 1 or self.envs_per_worker < 1 or self.agents_per_instance < 1:
            raise ValueError(
                f"need num_envs, envs_per_worker and agents_per_instance >= 1, got {self.num_envs}, "
                f"{self.envs_per_worker}, {self.agents_per_instance}"
            )
        k = self.agents_per_instance
        if self.envs_per_worker % k or self.num_envs % k:
            raise ValueError(
                f"with {k} agents per instance, num_envs ({self.num_envs}) and envs_per_worker "
                f"({self.envs_per_worker}) must be multiples of {k}"
            )

    @property
    def instances_per_worker(self) -> int:
        """Simulator instances (players) per worker."""
        return self.envs_per_worker // self.agents_per_instance

    def agent(self, index: int) -> tuple[int, int]:
        """``(instance, agent)`` of global env ``index``: its simulator's global index and its agent there."""
        return divmod(index, self.agents_per_instance)

    @property
    def num_workers(self) -> int:
        return -(-self.num_envs // self.envs_per_worker)

    def slot(self, index: int) -> tuple[int, int]:
        """``(worker, slot in that worker)`` of global env ``index``."""
        worker, slot = divmod(index, self.envs_per_worker)
        return worker, slot

    def slots(self) -> list[tuple[int, int]]:
        """``(worker, slot)`` of every env, in global order."""
        return [self.slot(index) for index in range(self.num_envs)]

    def env_range(self, worker: int) -> range:
        """Global env indices owned by ``worker``."""
        start = worker * self.envs_per_worker
        return range(start, min(start + self.envs_per_worker, self.num_envs))

    def normalize(self, indices: Iterable[int]) -> list[int]:
        """Validate indices (negative ones count from the end) and make them non-negative."""
        result: list[int] = []
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, int | np.integer):
                raise TypeError(f"env indices must be ints, got {index!r}")
            if not -self.num_envs <= index < self.num_envs:
                raise IndexError(f"env index {index} out of range for {self.num_envs} envs")
            result.append(int(index) % self.num_envs)
        return result

    def group(self, indices: list[int]) -> dict[int, list[int]]:
        """Map worker -> local indices, keeping the requested order within each worker."""
        groups: dict[int, list[int]] = {}
        for index in indices:
            worker, local = self.slot(index)
            groups.setdefault(worker, []).append(local)
        return groups

    def scatter_order(self, indices: list[int]) -> list[tuple[int, int]]:
        """For each requested index, ``(worker, position in that worker's reply)``."""
        seen: dict[int, int] = {}
        order: list[tuple[int, int]] = []
        for index in indices:
            worker, _ = self.slot(index)
            position = seen.get(worker, 0)
            seen[worker] = position + 1
            order.append((worker, position))
        return order
