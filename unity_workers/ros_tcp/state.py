"""Thread-safe bookkeeping shared by the bridge and the Unity-like client: listeners and pending calls.

(The bounded topic cache lives in :mod:`.topics`; it is re-exported here.)
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import FIRST_SRV_ID
from .topics import TopicCache

__all__ = ["Listeners", "PendingCall", "PendingCalls", "TopicCache"]

logger = logging.getLogger("unity_workers.ros_tcp.state")


class Listeners:
    """Thread-safe list of callbacks, all called with the same arguments; a failing one is logged and skipped."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock = threading.Lock()
        self._callbacks: list[Callable[..., None]] = []

    def add(self, callback: Callable[..., None]) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it again (idempotent)."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def notify(self, *args: Any) -> None:
        """Call every callback with ``args`` on this thread."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(*args)
            except Exception:
                logger.exception("%s listener %r failed", self._what, callback)


@dataclass
class PendingCall:
    """One service call waiting for its response; ``owner`` identifies the connection it was sent on.

    ``sent_at`` is the ``time.monotonic()`` of the send (timeouts count from it).
    """

    srv_id: int
    service: str
    owner: object
    response_type: str | None
    done: threading.Event = field(default_factory=threading.Event)
    sent_at: float = field(default_factory=time.monotonic)
    result: Any = None
    error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        """Complete the call with a result or an error and wake its waiter."""
        self.result, self.error = result, error
        self.done.set()


class PendingCalls:
    """Service calls in flight, keyed by srv id (allocated from :data:`FIRST_SRV_ID` upwards)."""

    def __init__(self, first_id: int = FIRST_SRV_ID) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(first_id)
        self._calls: dict[int, PendingCall] = {}

    def add(self, service: str, owner: object, response_type: str | None) -> PendingCall:
        """Allocate the next srv id and register a pending call for it."""
        with self._lock:
            call = PendingCall(next(self._ids), service, owner, response_type)
            self._calls[call.srv_id] = call
            return call

    def pop(self, srv_id: int) -> PendingCall | None:
        """Remove and return the call with ``srv_id`` (None when unknown or already finished)."""
        with self._lock:
            return self._calls.pop(srv_id, None)

    def fail(self, owner: object | None, message: str) -> int:
        """Fail every call of ``owner`` (all calls when None) with ``ConnectionError``; return how many."""
        with self._lock:
            failed = [c for c in self._calls.values() if owner is None or c.owner is owner]
            for call in failed:
                del self._calls[call.srv_id]
        for call in failed:
            call.finish(error=ConnectionError(f"call {call.srv_id} to {call.service!r} failed: {message}"))
        return len(failed)
