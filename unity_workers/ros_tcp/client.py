"""`UnityLikeClient`: the Unity (ROS-TCP-Connector) side of the protocol, in Python.

It connects to a ROS-TCP server (the :class:`~unity_workers.ros_tcp.bridge.RosTcpBridge` or a real
``ros_tcp_endpoint``), reads the handshake, registers the services it implements
(``__unity_service``) with handler callables, registers and publishes topics (``__publish``),
subscribes (``__subscribe``), answers ``__request`` with ``__response`` and sends ``__log`` lines.
With a per-launch token (given, or from ``RAY_LAB_ROS_TCP_TOKEN``) it sends ``__ray_lab_token`` first,
on every connection. The reference simulator and the tests use it as the Unity peer.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .admission import token_command, token_from_env
from .connection import FrameConnection
from .framing import (
    DEFAULT_MAX_DESTINATION_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    Frame,
    ProtocolError,
    decode_syscommand,
    encode_frame,
    encode_syscommand,
)
from .messages import MessageTypes
from .protocol import UNITY_LOG_LEVELS, parse_srv_id, topic_key
from .state import PendingCalls, TopicCache

__all__ = ["ServiceHandler", "UnityLikeClient"]

logger = logging.getLogger("unity_workers.ros_tcp.client")

ServiceHandler = Callable[[Any], Any]
"""Takes the deserialized request; returns a response message, a dict of its fields, or CDR bytes."""


class UnityLikeClient:
    """A Python stand-in for a Unity player's ``ROSConnection`` (TCP client, sync API, background reader)."""

    def __init__(
        self,
        host: str,
        port: int,
        types: MessageTypes | None = None,
        *,
        name: str = "unity-like-client",
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_destination_bytes: int = DEFAULT_MAX_DESTINATION_BYTES,
        token: str | None = None,
    ) -> None:
        self.host, self.port, self.name = host, port, name
        self.token = token if token is not None else token_from_env()  # the launcher's, when launched
        self.types = types if types is not None else MessageTypes()
        self._caps = {"max_payload_bytes": max_payload_bytes, "max_destination_bytes": max_destination_bytes}
        self._cond = threading.Condition()
        self._conn: FrameConnection | None = None
        self.handshake: dict[str, Any] | None = None
        self.first_frame: Frame | None = None
        self.topic_list: dict[str, Any] | None = None
        self._services: dict[str, tuple[str, str, ServiceHandler]] = {}  # key → (name, response type, handler)
        self._publishers: dict[str, tuple[str, str]] = {}  # key → (topic, type)
        self._subscriptions: dict[str, str] = {}  # key → type
        self._expect: tuple[str, int] | None = None  # ("__request" | "__response", srv_id) for the next frame
        self._ros_services: dict[str, tuple[str, str, str]] = {}  # key → (name, request type, response type)
        self._calls = PendingCalls(first_id=1)
        self._messages = TopicCache()
        self.served_ids: list[int] = []  # srv ids of the requests answered, in order
        self.close_reason: str | None = None

    # ------------------------------------------------------------------ connection
    def connect(self, timeout_s: float = 5.0) -> UnityLikeClient:
        """Connect, send the token (when there is one) and wait for the server's ``__handshake``; returns ``self``.

        Raises:
            ConnectionError: could not connect, or no handshake within ``timeout_s``.
        """
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout_s)
        except OSError as exc:
            raise ConnectionError(f"{self.name}: cannot connect to {self.host}:{self.port}: {exc!r}") from exc
        conn = FrameConnection(sock, self._on_frame, self._on_closed, name=self.name, **self._caps)
        with self._cond:
            self._conn = conn
        if self.token is not None:  # first, before anything else: the bridge serves nobody without it
            conn.send(token_command(self.token))
        conn.start()
        with self._cond:
            ok = self._cond.wait_for(lambda: self.handshake is not None or conn.closed, timeout_s)
        if not ok or self.handshake is None:
            conn.close("no handshake")
            raise ConnectionError(f"{self.name}: no __handshake from {self.host}:{self.port} within {timeout_s:g} s")
        return self

    @property
    def connected(self) -> bool:
        """Whether the connection is open."""
        return self._conn is not None and not self._conn.closed

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close("client closed")
            self._conn.join(2.0)

    def __enter__(self) -> UnityLikeClient:
        return self if self.connected else self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_closed(self, timeout_s: float) -> bool:
        """Wait until the server dropped (or we closed) the connection; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._conn is None or self._conn.closed, timeout_s)

    def _send(self, data: bytes) -> None:
        if self._conn is None:
            raise ConnectionError(f"{self.name} is not connected; call connect() first")
        self._conn.send(data)

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes (tests use it to send garbage)."""
        self._send(data)

    # ------------------------------------------------------------------ registrations and sends
    def implement_service(self, name: str, message_name: str, handler: ServiceHandler) -> None:
        """Register ``__unity_service`` for ``name`` and answer the server's calls with ``handler``."""
        _, response_type = self.types.resolve_service(message_name)
        with self._cond:
            self._services[topic_key(name)] = (name, response_type, handler)
        self._send(encode_syscommand("__unity_service", {"topic": name, "message_name": message_name}))

    def register_publisher(self, topic: str, message_name: str, queue_size: int = 10, latch: bool = False) -> None:
        """Register ``__publish`` for ``topic`` so that :meth:`publish` may send on it."""
        typename = self.types.resolve(message_name)
        with self._cond:
            self._publishers[topic_key(topic)] = (topic, typename)
        params = {"topic": topic, "message_name": message_name, "queue_size": queue_size, "latch": latch}
        self._send(encode_syscommand("__publish", params))

    def publish(self, topic: str, msg: Any) -> None:
        """Send ``msg`` (message, dict or CDR bytes) on a topic registered with :meth:`register_publisher`."""
        entry = self._publishers.get(topic_key(topic))
        if entry is None:
            raise LookupError(f"{self.name}: {topic!r} is not registered; call register_publisher() first")
        self._send(encode_frame(entry[0], self.types.to_cdr(msg, entry[1])))

    def subscribe(self, topic: str, message_name: str, callback: Callable[[Any], None] | None = None) -> None:
        """Send ``__subscribe`` for ``topic``; received messages go to :meth:`latest` and ``callback``."""
        typename = self.types.resolve(message_name)
        with self._cond:
            self._subscriptions[topic_key(topic)] = typename
        if callback is not None:
            self._messages.add_callback(topic, callback)
        self._send(encode_syscommand("__subscribe", {"topic": topic, "message_name": message_name}))

    def register_ros_service(self, name: str, message_name: str) -> None:
        """Send ``__ros_service``: this client will call ROS service ``name`` (served by the other side)."""
        request_type, response_type = self.types.resolve_service(message_name)
        with self._cond:
            self._ros_services[topic_key(name)] = (name, request_type, response_type)
        self._send(encode_syscommand("__ros_service", {"topic": name, "message_name": message_name}))

    def call_ros_service(self, name: str, request: Any, timeout_s: float = 5.0) -> Any:
        """Call a service registered with :meth:`register_ros_service`; returns the deserialized response.

        Raises:
            TimeoutError: no ``__response`` within ``timeout_s``.
            ConnectionError: the connection closed before the response.
        """
        entry = self._ros_services.get(topic_key(name))
        if entry is None:
            raise LookupError(f"{self.name}: {name!r} is not registered; call register_ros_service() first")
        call = self._calls.add(name, self, entry[2])
        payload = self.types.to_cdr(request, entry[1])
        try:
            self._send(encode_syscommand("__request", {"srv_id": call.srv_id}) + encode_frame(entry[0], payload))
        except ConnectionError:
            self._calls.pop(call.srv_id)
            raise
        if not call.done.wait(timeout_s):
            self._calls.pop(call.srv_id)
            raise TimeoutError(
                f"{self.name}: ROS service {name!r} did not answer call {call.srv_id} in {timeout_s:g} s"
            )
        if call.error is not None:
            raise call.error
        return call.result

    def log(self, text: str, level: str = "__log") -> None:
        """Send a ``__log`` (or ``__warn``/``__error``) line to the server."""
        if level not in UNITY_LOG_LEVELS:
            raise ValueError(f"level must be one of {sorted(UNITY_LOG_LEVELS)}, got {level!r}")
        self._send(encode_syscommand(level, {"text": text}))

    def request_topic_list(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """Send ``__topic_list`` and wait for the server's reply ``{"topics": [...], "types": [...]}``."""
        with self._cond:
            self.topic_list = None
        self._send(encode_syscommand("__topic_list", {}))
        with self._cond:
            if not self._cond.wait_for(lambda: self.topic_list is not None, timeout_s):
                raise TimeoutError(f"{self.name}: no __topic_list reply within {timeout_s:g} s")
            assert self.topic_list is not None
            return self.topic_list

    def latest(self, topic: str) -> Any | None:
        """The latest message received on a subscribed topic, or None."""
        return self._messages.latest(topic)

    def wait_for_message(self, topic: str, timeout_s: float, *, after_count: int = 0) -> Any | None:
        """Wait until more than ``after_count`` messages arrived on ``topic``; the latest (None on timeout)."""
        return self._messages.wait(topic, timeout_s, after_count)

    # ------------------------------------------------------------------ incoming frames (reader thread)
    def _on_closed(self, conn: FrameConnection, reason: str) -> None:
        with self._cond:
            self.close_reason = reason
            self._cond.notify_all()
        self._calls.fail(None, f"connection closed: {reason}")

    def _on_frame(self, conn: FrameConnection, frame: Frame) -> None:
        with self._cond:
            if self.first_frame is None:
                self.first_frame = frame
        if self._expect is not None:
            (command, srv_id), self._expect = self._expect, None
            if command == "__request":
                self._serve(conn, srv_id, frame)
            elif (call := self._calls.pop(srv_id)) is not None:
                call.finish(self.types.deserialize(frame.payload, call.response_type or ""))
        elif frame.is_keepalive:
            pass  # the server's keepalive or keepalive answer; nothing to do
        elif frame.is_syscommand:
            self._on_syscommand(frame.destination, decode_syscommand(frame.payload))
        else:
            typename = self._subscriptions.get(topic_key(frame.destination))
            if typename is None:
                logger.warning("%s: message on unsubscribed topic %r ignored", self.name, frame.destination)
                return
            self._messages.put(frame.destination, self.types.deserialize(frame.payload, typename))

    def _on_syscommand(self, command: str, params: dict[str, Any]) -> None:
        if command == "__handshake":
            with self._cond:
                self.handshake = params
                self._cond.notify_all()
        elif command in ("__request", "__response"):
            self._expect = (command, parse_srv_id(command, params))
        elif command == "__topic_list":
            with self._cond:
                self.topic_list = params
                self._cond.notify_all()
        elif command in UNITY_LOG_LEVELS:
            logger.log(UNITY_LOG_LEVELS[command], "%s: server says: %s", self.name, params.get("text"))
        else:
            logger.warning("%s: ignoring system command %s %r", self.name, command, params)

    def _serve(self, conn: FrameConnection, srv_id: int, frame: Frame) -> None:
        entry = self._services.get(topic_key(frame.destination))
        if entry is None:
            raise ProtocolError(f"request {srv_id} for {frame.destination!r}, which this client does not implement")
        name, response_type, handler = entry
        request_type = response_type.removesuffix("_Response") + "_Request"
        request = self.types.deserialize(frame.payload, request_type)
        try:
            response = handler(request)
        except Exception:
            logger.exception("%s: handler for %r failed on request %d; not answering", self.name, name, srv_id)
            return
        if isinstance(response, Mapping):
            response = self.types.build(response_type, response)
        payload = self.types.to_cdr(response, response_type)
        self.served_ids.append(srv_id)
        conn.send(encode_syscommand("__response", {"srv_id": srv_id}) + encode_frame(frame.destination, payload))
