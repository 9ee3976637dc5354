"""Shared by the ROS-TCP bridge tests: the step service's message types and a polling wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from unity_workers.ros_tcp import MessageTypes

STEP = "/env_0/step"
STEP_TYPE = "interfaces_pkg/EnvironmentStep"
STEP_SRV = "float32[] action\n---\nfloat32[] state\nfloat32 reward\nbool terminated\n"


def step_types(root: Path) -> MessageTypes:
    """The types of package ``interfaces_pkg`` with only its step service (:data:`STEP_SRV`), written under ``root``."""
    (root / "interfaces_pkg" / "srv").mkdir(parents=True)
    (root / "interfaces_pkg" / "srv" / "EnvironmentStep.srv").write_text(STEP_SRV)
    return MessageTypes(root)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether ``predicate`` holds within ``timeout_s`` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
