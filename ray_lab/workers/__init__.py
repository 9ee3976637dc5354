"""Env workers: Ray actors that own environments, and the SB3 ``VecEnv`` over them.

Public API::

    from ray_lab.workers import RayVecEnv, WorkerOptions, worker_bundles, EnvWorker, WorkerError

Names are imported lazily so that a worker process, which imports this package to load
:class:`EnvWorker`, does not import Stable-Baselines3 (and torch) unless an env needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ray_lab.workers.env_worker import EnvWorker, EnvWorkerActor
    from ray_lab.workers.errors import TransportError, VecEnvStateError, WorkerError, WorkerTimeoutError
    from ray_lab.workers.options import WorkerOptions, worker_bundles
    from ray_lab.workers.ray_vec_env import RayVecEnv
    from ray_lab.workers.state import AsyncState

_EXPORTS = {
    "AsyncState": "ray_lab.workers.state",
    "EnvWorker": "ray_lab.workers.env_worker",
    "EnvWorkerActor": "ray_lab.workers.env_worker",
    "RayVecEnv": "ray_lab.workers.ray_vec_env",
    "TransportError": "ray_lab.workers.errors",
    "VecEnvStateError": "ray_lab.workers.errors",
    "WorkerError": "ray_lab.workers.errors",
    "WorkerOptions": "ray_lab.workers.options",
    "WorkerTimeoutError": "ray_lab.workers.errors",
    "worker_bundles": "ray_lab.workers.options",
}

__all__ = [
    "AsyncState",
    "EnvWorker",
    "EnvWorkerActor",
    "RayVecEnv",
    "TransportError",
    "VecEnvStateError",
    "WorkerError",
    "WorkerOptions",
    "WorkerTimeoutError",
    "worker_bundles",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ray_lab.workers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
