"""What a :class:`~unity_workers.envs.UnityEnv` has in flight between a ``*_send`` and its collection."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["InFlight", "Phase", "same_action"]


class Phase(Enum):
    """Nothing in flight, a step (``step_send``) or a reset (``reset_send``)."""

    IDLE = "idle"
    STEP_SENT = "step"
    RESET_SENT = "reset"


def same_action(action: Any, sent: Any) -> bool:
    """Whether ``action`` is (or equals) the action sent: a guard against collecting a step for another action."""
    if action is sent:
        return True
    try:
        return bool(np.array_equal(np.asarray(action), np.asarray(sent)))
    except (TypeError, ValueError):
        return False


@dataclass
class InFlight:
    """The env's request in flight: its phase, what was sent (action or seed) and a fault of the send."""

    worker_index: int
    phase: Phase = Phase.IDLE
    sent: Any = None
    fault: BaseException | None = None

    def start(self, phase: Phase, sent: Any, fault: BaseException | None) -> None:
        """Record a send (``fault``: the send failed with a fault, handled when collecting)."""
        self.phase, self.sent, self.fault = phase, sent, fault

    def take(self) -> BaseException | None:
        """Back to idle; returns the fault of the send, if any."""
        fault = self.fault
        self.phase, self.sent, self.fault = Phase.IDLE, None, None
        return fault

    def expect_idle(self, call: str) -> None:
        """Raise ``RuntimeError`` when something is in flight (``call`` is the caller's name)."""
        if self.phase is not Phase.IDLE:
            raise RuntimeError(
                f"worker {self.worker_index}: {call}() while a {self.phase.value} is in flight "
                f"(sent: {self.sent!r}); collect it with step()/reset() first"
            )

    def check_step(self, action: Any) -> None:
        """Raise ``RuntimeError`` unless the step in flight was sent with ``action``."""
        if self.phase is Phase.RESET_SENT:
            raise RuntimeError(
                f"worker {self.worker_index}: step({action!r}) while a reset is in flight "
                f"(reset_send(seed={self.sent!r})); collect it with reset() first"
            )
        if not same_action(action, self.sent):
            raise RuntimeError(
                f"worker {self.worker_index}: step({action!r}) does not match the action in flight "
                f"(step_send({self.sent!r}))"
            )

    def check_reset(self, seed: int | None) -> None:
        """Raise ``RuntimeError`` unless the reset in flight was sent with ``seed``."""
        if seed != self.sent:
            raise RuntimeError(
                f"worker {self.worker_index}: reset(seed={seed!r}) does not match the reset in flight "
                f"(reset_send(seed={self.sent!r}))"
            )
