"""Gymnasium envs backed by headless Unity players (or the reference simulator) over ROS-TCP.

Importing this package registers ``ray_lab/ReferenceNav-v0`` (:class:`UnityEnv` with the
reference simulator and :class:`NavAdapter`), so a config can say
``environment.id: "unity_workers.envs:ray_lab/ReferenceNav-v0"``.
"""

from __future__ import annotations

import gymnasium as gym

from .nav_adapter import NavAdapter
from .unity_env import DEFAULT_ADAPTER, StepAdapter, UnityEnv, load_adapter

__all__ = ["DEFAULT_ADAPTER", "REFERENCE_NAV_ID", "NavAdapter", "StepAdapter", "UnityEnv", "load_adapter"]

REFERENCE_NAV_ID = "ray_lab/ReferenceNav-v0"

if REFERENCE_NAV_ID not in gym.registry:
    gym.register(id=REFERENCE_NAV_ID, entry_point="unity_workers.envs.unity_env:UnityEnv")
