"""Ctrl-C and SIGTERM during a training: both stop it after the current step and save the model.

`ray job stop`, Kubernetes and Slurm end a job with SIGTERM (then SIGKILL after a grace period:
3 s for `ray job stop` unless `RAY_JOB_STOP_WAIT_TIME_S` says more, 30 s on Kubernetes). While a
training runs, SIGTERM raises :class:`TerminationRequested` in the main thread, a `KeyboardInterrupt`,
so the driver takes the same path as for Ctrl-C. A second signal aborts the wait, as a second Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["TerminationRequested", "sigterm_as_interrupt", "stop_message"]


class TerminationRequested(KeyboardInterrupt):
    """SIGTERM arrived while training: stop after the current step and save, as for Ctrl-C."""


def _raise_termination(signum: int, frame: FrameType | None) -> None:
    raise TerminationRequested(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`TerminationRequested` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_termination)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_message(interrupt: KeyboardInterrupt) -> str:
    """What the console says when a training is asked to stop."""
    if isinstance(interrupt, TerminationRequested):
        return "\nTerminated (SIGTERM): stopping after the current step and saving the model and a checkpoint."
    return "\nInterrupted: stopping after the current step and saving the model (Ctrl-C again to abort)."
