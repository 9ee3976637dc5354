"""Going on after an env worker's actor died (its node was removed or crashed) and Ray restarted it.

Ray restarts a dead worker actor (``WorkerOptions.max_restarts``), on another node when its own is
gone (its placement-group bundle is rescheduled first); the restarted actor rebuilds its envs. The
vector step that was in flight is lost, so every episode ends there as truncated, with
``info["worker_restarted"] = True``, and the envs start new episodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

logger = logging.getLogger(__name__)

__all__ = ["obs_at", "restarted_step", "wait_until_alive"]

_POLL_S = 1.0


def wait_until_alive(actors: Sequence[Any], names: Sequence[str], timeout_s: float) -> bool:
    """Wait until every actor answers a status probe; False when one is dead for good or the time is up."""
    deadline = time.monotonic() + timeout_s
    waiting = list(range(len(actors)))
    while waiting and time.monotonic() < deadline:
        still = []
        for w in waiting:
            try:
                ray.get(actors[w].status.remote(), timeout=_POLL_S)
            except ActorDiedError:
                logger.error("env worker %s is dead and will not be restarted", names[w])
                return False
            except (GetTimeoutError, RayActorError):  # restarting (or its node is still being replaced)
                still.append(w)
        waiting = still
        if waiting:
            time.sleep(_POLL_S)
    return not waiting


def obs_at(obs: Any, index: int) -> Any:
    """The observation of env ``index`` in a vector observation (array, dict or tuple of arrays)."""
    if isinstance(obs, dict):
        return {key: value[index] for key, value in obs.items()}
    if isinstance(obs, tuple):
        return tuple(value[index] for value in obs)
    return obs[index]


def restarted_step(last_obs: Any, new_obs: Any, num_envs: int) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
    """The step result after a recovery: every episode truncated at its last observation, new ones started."""
    infos = [
        {"TimeLimit.truncated": True, "terminal_observation": obs_at(last_obs, i), "worker_restarted": True}
        for i in range(num_envs)
    ]
    return new_obs, np.zeros(num_envs, dtype=np.float32), np.ones(num_envs, dtype=bool), infos
