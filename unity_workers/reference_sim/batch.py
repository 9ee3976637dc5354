"""Requests of the batch services (``--agents N``, N >= 2), checked before anything changes.

``EnvironmentStepBatch`` carries every agent's action, agent-major; ``EnvironmentResetBatch`` lists
the agents to reset (empty: all), one seed per listed agent (or none) and agent-major parameter
rows. Malformed requests come back as an error line (the caller answers the unchanged states and
logs it), never as an exception, so a bad request cannot crash the player.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .params import parameter_rows

__all__ = ["ResetPlan", "plan_reset", "split_actions"]


def split_actions(actions: Sequence[float] | np.ndarray, n_agents: int, size: int = 2) -> np.ndarray | str:
    """``actions`` as an ``(n_agents, size)`` float64 array, or the error when the length is wrong."""
    flat = np.asarray(actions, dtype=np.float64).reshape(-1)
    if flat.size != n_agents * size:
        return f"expected {n_agents * size} action numbers ({n_agents} agents x {size}), got {flat.size}"
    return flat.reshape(n_agents, size)


@dataclass(frozen=True)
class ResetPlan:
    """What a batch reset does: the agents to reset, their seeds (None: no seed) and parameters."""

    agents: list[int]
    seeds: list[int | None]
    parameters: list[dict[str, float]]
    errors: list[str]  # reported, yet the reset goes ahead (ignored parameters)


def _agents(requested: Sequence[int], n_agents: int) -> list[int] | str:
    """The agents a reset names (all for an empty list), or the error for bad or repeated indices."""
    agents = [int(i) for i in requested] or list(range(n_agents))
    bad = [i for i in agents if not 0 <= i < n_agents]
    if bad or len(set(agents)) != len(agents):
        return f"agents must be distinct indices in 0..{n_agents - 1}, got {agents}"
    return agents


def plan_reset(request: Any, n_agents: int) -> ResetPlan | str:
    """The :class:`ResetPlan` of an ``EnvironmentResetBatch`` request, or the error that rejects it whole
    (bad agent indices, or not one seed per reset agent). Malformed parameters only drop the parameters."""
    agents = _agents(list(request.agents), n_agents)
    if isinstance(agents, str):
        return agents
    raw_seeds = [int(s) for s in request.seeds]
    if raw_seeds and len(raw_seeds) != len(agents):
        return f"expected {len(agents)} seeds (one per reset agent) or none, got {len(raw_seeds)}"
    seeds: list[int | None] = [s if s >= 0 else None for s in raw_seeds] or [None] * len(agents)
    parameters, errors = parameter_rows(list(request.parameter_names), list(request.parameter_values), len(agents))
    return ResetPlan(agents=agents, seeds=seeds, parameters=parameters, errors=errors)
