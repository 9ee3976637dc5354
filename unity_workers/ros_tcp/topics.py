"""`TopicCache`: the messages received per topic, bounded: the latest N (and at most a byte budget).

Each topic keeps its newest ``max_messages`` messages (:data:`DEFAULT_MAX_TOPIC_MESSAGES`), and no
more than ``max_bytes`` of their wire size (the newest message is always kept). Older ones are
dropped and counted (:meth:`TopicCache.dropped`); a topic's drops are logged at most once per
``log_interval_s``. Callbacks still see every message, as it arrives.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import topic_key

__all__ = ["DEFAULT_DROP_LOG_INTERVAL_S", "DEFAULT_MAX_TOPIC_MESSAGES", "TopicCache"]

logger = logging.getLogger("unity_workers.ros_tcp.topics")

DEFAULT_MAX_TOPIC_MESSAGES = 16
"""Messages kept per topic unless configured otherwise."""
DEFAULT_DROP_LOG_INTERVAL_S = 60.0
"""Shortest time between two drop log lines of one topic."""


@dataclass
class _Topic:
    """One topic's buffer: ``(message, wire bytes)`` oldest first, and its counters."""

    messages: deque[tuple[Any, int]] = field(default_factory=deque)
    buffered_bytes: int = 0
    count: int = 0
    dropped: int = 0
    logged_at: float = -math.inf
    callbacks: list[Callable[[Any], None]] = field(default_factory=list)


class TopicCache:
    """Recent messages and message count per topic, with waiting and per-topic callbacks (thread-safe)."""

    def __init__(
        self,
        max_messages: int = DEFAULT_MAX_TOPIC_MESSAGES,
        *,
        max_bytes: int | None = None,
        name: str = "ros-tcp",
        log_interval_s: float = DEFAULT_DROP_LOG_INTERVAL_S,
    ) -> None:
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError(f"max_messages (per topic) must be an int >= 1, got {max_messages!r}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes (per topic) must be >= 1 or None, got {max_bytes!r}")
        if not log_interval_s >= 0:
            raise ValueError(f"log_interval_s must be >= 0, got {log_interval_s!r}")
        self.max_messages, self.max_bytes, self.name = max_messages, max_bytes, name
        self._log_interval_s = log_interval_s
        self._cond = threading.Condition()
        self._topics: dict[str, _Topic] = {}

    def _topic(self, key: str) -> _Topic:
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = _Topic()
        return topic

    def put(self, topic: str, msg: Any, size: int = 0) -> None:
        """Keep ``msg`` (``size``: its wire bytes) as the newest on ``topic``, drop the oldest over the bounds.

        Then run the topic's callbacks on this thread (exceptions are logged).
        """
        key = topic_key(topic)
        with self._cond:
            entry = self._topic(key)
            entry.messages.append((msg, size))
            entry.buffered_bytes += size
            entry.count += 1
            dropped = self._trim(entry)
            log = dropped and time.monotonic() - entry.logged_at >= self._log_interval_s
            if log:
                entry.logged_at = time.monotonic()
            callbacks = list(entry.callbacks)
            self._cond.notify_all()
        if log:
            logger.info(
                "%s: topic %r dropped its oldest messages (%d so far of %d received; keeps the latest %d, %s bytes)",
                self.name, topic, entry.dropped, entry.count, self.max_messages, self.max_bytes or "any",
            )  # fmt: skip
        for callback in callbacks:
            try:
                callback(msg)
            except Exception:
                logger.exception("callback %r for topic %r failed", callback, topic)

    def _trim(self, entry: _Topic) -> int:
        """Drop the oldest messages over the count or byte bound (never the newest); how many."""
        dropped = 0
        over_bytes = self.max_bytes is not None and entry.buffered_bytes > self.max_bytes
        while len(entry.messages) > self.max_messages or (over_bytes and len(entry.messages) > 1):
            entry.buffered_bytes -= entry.messages.popleft()[1]
            dropped += 1
            over_bytes = self.max_bytes is not None and entry.buffered_bytes > self.max_bytes
        entry.dropped += dropped
        return dropped

    def latest(self, topic: str) -> Any | None:
        """The latest message on ``topic``, or None."""
        with self._cond:
            entry = self._topics.get(topic_key(topic))
            return entry.messages[-1][0] if entry is not None and entry.messages else None

    def history(self, topic: str) -> list[Any]:
        """The messages kept for ``topic``, oldest first (at most ``max_messages``)."""
        with self._cond:
            entry = self._topics.get(topic_key(topic))
            return [] if entry is None else [msg for msg, _ in entry.messages]

    def count(self, topic: str) -> int:
        """How many messages arrived on ``topic``."""
        with self._cond:
            return self._count(topic_key(topic))

    def dropped(self, topic: str) -> int:
        """How many messages of ``topic`` were dropped from its buffer (over the bounds)."""
        with self._cond:
            entry = self._topics.get(topic_key(topic))
            return 0 if entry is None else entry.dropped

    def wait(self, topic: str, timeout_s: float, after_count: int = 0) -> Any | None:
        """Wait until more than ``after_count`` messages arrived on ``topic``; the latest, or None on timeout."""
        key = topic_key(topic)
        with self._cond:
            if not self._cond.wait_for(lambda: self._count(key) > after_count, timeout_s):
                return None
            return self._topics[key].messages[-1][0]

    def _count(self, key: str) -> int:
        entry = self._topics.get(key)
        return 0 if entry is None else entry.count

    def add_callback(self, topic: str, callback: Callable[[Any], None]) -> None:
        """Run ``callback(msg)`` for each later message on ``topic`` (on the thread that received it)."""
        with self._cond:
            self._topic(topic_key(topic)).callbacks.append(callback)
