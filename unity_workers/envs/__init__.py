"""Gymnasium envs backed by simulator processes: Unity players over ROS-TCP, or gRPC env servers.

Importing this package registers ``ray_lab/ReferenceNav-v0`` (:class:`UnityEnv` with the
reference simulator and :class:`NavAdapter`), so a config can say
``environment.id: "unity_workers.envs:ray_lab/ReferenceNav-v0"``; ``environment.unity`` builds a
:class:`UnityEnv` from a :class:`~unity_workers.spec.UnitySpec` directly.
"""

from __future__ import annotations

import gymnasium as gym

from unity_workers.session import SimSession, SimSessionFactory

from .adapters import DEFAULT_ADAPTER, StepAdapter, load_adapter, make_adapter
from .fields import FieldAdapter, FieldPath
from .nav_adapter import NavAdapter
from .unity_env import RestartQuotaError, UnityEnv

__all__ = [
    "DEFAULT_ADAPTER",
    "REFERENCE_NAV_ID",
    "FieldAdapter",
    "FieldPath",
    "NavAdapter",
    "RestartQuotaError",
    "SimSession",
    "SimSessionFactory",
    "StepAdapter",
    "UnityEnv",
    "load_adapter",
    "make_adapter",
]

REFERENCE_NAV_ID = "ray_lab/ReferenceNav-v0"

if REFERENCE_NAV_ID not in gym.registry:
    gym.register(id=REFERENCE_NAV_ID, entry_point="unity_workers.envs.unity_env:UnityEnv")
