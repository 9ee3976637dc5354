"""Thread-safe bookkeeping shared by the bridge and the Unity-like client: topic caches and pending calls."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import FIRST_SRV_ID, topic_key

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


class TopicCache:
    """Latest message and message count per topic, with waiting and per-topic callbacks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest: dict[str, Any] = {}
        self._counts: dict[str, int] = defaultdict(int)
        self._callbacks: dict[str, list[Callable[[Any], None]]] = defaultdict(list)

    def put(self, topic: str, msg: Any) -> None:
        """Record ``msg`` as the latest on ``topic`` and run its callbacks (exceptions are logged)."""
        key = topic_key(topic)
        with self._cond:
            self._latest[key] = msg
            self._counts[key] += 1
            callbacks = list(self._callbacks.get(key, ()))
            self._cond.notify_all()
        for callback in callbacks:
            try:
                callback(msg)
            except Exception:
                logger.exception("callback %r for topic %r failed", callback, topic)

    def latest(self, topic: str) -> Any | None:
        """The latest message on ``topic``, or None."""
        with self._cond:
            return self._latest.get(topic_key(topic))

    def count(self, topic: str) -> int:
        """How many messages arrived on ``topic``."""
        with self._cond:
            return self._counts.get(topic_key(topic), 0)

    def wait(self, topic: str, timeout_s: float, after_count: int = 0) -> Any | None:
        """Wait until more than ``after_count`` messages arrived on ``topic``; the latest, or None on timeout."""
        key = topic_key(topic)
        with self._cond:
            if not self._cond.wait_for(lambda: self._counts.get(key, 0) > after_count, timeout_s):
                return None
            return self._latest.get(key)

    def add_callback(self, topic: str, callback: Callable[[Any], None]) -> None:
        """Run ``callback(msg)`` for each later message on ``topic`` (on the thread that received it)."""
        with self._cond:
            self._callbacks[topic_key(topic)].append(callback)


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
