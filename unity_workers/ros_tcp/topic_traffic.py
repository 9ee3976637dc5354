"""The topic half of :class:`~unity_workers.ros_tcp.bridge.RosTcpBridge`: what Unity publishes, and publishing to it.

Messages Unity publishes are deserialized, passed to raw listeners and kept in the bounded
:class:`~unity_workers.ros_tcp.topics.TopicCache`; :meth:`TopicTraffic.publish` sends to the topics
Unity subscribed to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .framing import Frame, encode_frame
from .protocol import PlayerLink, Registration, command_to_unity, topic_key
from .server import BridgeServer
from .topics import TopicCache

__all__ = ["TopicTraffic"]

logger = logging.getLogger("unity_workers.ros_tcp.bridge")


class TopicTraffic(BridgeServer):
    """Topic messages both ways: Unity's publications (cached, with listeners) and publishing to its subscriptions."""

    def _on_message(self, link: PlayerLink, frame: Frame) -> None:
        reg = link.regs["publishers"].get(topic_key(frame.destination))
        if reg is None:
            text = f"{self.name}: not registered to publish topic {frame.destination!r}; message ignored"
            logger.warning("%s", text)
            link.conn.send(command_to_unity("__error", {"text": text}))
            return
        msg = self.types.deserialize(frame.payload, reg.types[0])  # malformed CDR drops the client, unforwarded
        if self._raw_listeners:
            self._raw_listeners.notify(reg, frame.payload)
        self._topics.put(reg.topic, msg, len(frame.payload))

    # ------------------------------------------------------------------ public API
    def subscriptions(self) -> dict[str, str]:
        """Topics the connected Unity subscribed to (``publish`` targets): topic → ``message_name``."""
        return self._table("subscribers")

    def publications(self) -> dict[str, str]:
        """Topics the connected Unity publishes: topic → ``message_name``."""
        return self._table("publishers")

    def publish(self, topic: str, msg: Any) -> None:
        """Send ``msg`` (bytes, message or dict) to a topic the connected Unity subscribed to."""
        with self._cond:
            link, reg = self._link, self._reg("subscribers", topic)
        if link is None:
            raise ConnectionError(f"cannot publish to {topic!r}: no Unity client is connected to {self.name}")
        if reg is None:
            raise LookupError(f"Unity did not subscribe to {topic!r}; subscribed: {sorted(self.subscriptions())}")
        link.conn.send(encode_frame(reg.topic, self.types.to_cdr(msg, reg.types[0])))

    def latest(self, topic: str) -> Any | None:
        """The latest message Unity published on ``topic`` (kept across reconnects), or None."""
        return self._topics.latest(topic)

    @property
    def topics(self) -> TopicCache:
        """The bounded per-topic buffers (``history``, ``dropped``, ...) of what Unity published."""
        return self._topics

    def message_count(self, topic: str) -> int:
        """How many messages arrived on ``topic`` since the bridge started."""
        return self._topics.count(topic)

    def wait_for_message(self, topic: str, timeout_s: float, *, after_count: int = 0) -> Any | None:
        """Wait until more than ``after_count`` messages arrived on ``topic``; the latest (None on timeout)."""
        return self._topics.wait(topic, timeout_s, after_count)

    def add_callback(self, topic: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback(msg)`` (on the reader thread) for every message Unity publishes on ``topic``."""
        self._topics.add_callback(topic, callback)

    def add_raw_listener(self, listener: Callable[[Registration, bytes], None]) -> Callable[[], None]:
        """Call ``listener(registration, cdr_bytes)`` (reader thread) for every message Unity publishes.

        The bytes are the CDR payload exactly as received, after it deserialized cleanly. Returns a
        function that removes the listener.
        """
        return self._raw_listeners.add(listener)
