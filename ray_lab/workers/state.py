"""Lifecycle state of a :class:`~ray_lab.workers.RayVecEnv`."""

from __future__ import annotations

from enum import Enum


class AsyncState(Enum):
    """Where a vectorized env stands between calls.

    ``DEFAULT``: idle, any call allowed. ``WAITING_STEP``: ``step_async`` was sent, only
    ``step_wait``, ``reset`` (which discards the step) and ``close`` are allowed. ``FAILED``: a
    timeout or broken channel left the workers in an unknown state, only ``close`` is allowed.
    ``CLOSED``: nothing but ``close`` (a no-op) is allowed.
    """

    DEFAULT = "default"
    WAITING_STEP = "waiting_step"
    FAILED = "failed"
    CLOSED = "closed"
