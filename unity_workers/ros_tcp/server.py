"""The connection side of :class:`~unity_workers.ros_tcp.bridge.RosTcpBridge`: listen, admit, handshake, dispatch.

:class:`BridgeServer` owns the bridge's state and its lifecycle: it accepts one Unity client at a time
(through :mod:`.admission` when given a token), confirms it with a keepalive and the ``__handshake``,
routes the frames it sends (system commands and registrations here; service traffic to
:mod:`.service_calls`, topic messages to :mod:`.topic_traffic`) and fails pending calls when it goes.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any, Self

from .admission import TOKEN_COMMAND, TOKEN_DEADLINE_S, Admission
from .connection import FrameConnection
from .framing import (
    DEFAULT_MAX_DESTINATION_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    KEEPALIVE_FRAME,
    Frame,
    ProtocolError,
    decode_syscommand,
)
from .messages import MessageTypes
from .protocol import (
    HANDSHAKE,
    REGISTRATIONS,
    REMOVALS,
    UNITY_LOG_LEVELS,
    PlayerLink,
    Registration,
    command_to_unity,
    parse_registration,
    parse_srv_id,
    topic_key,
)
from .sending import DEFAULT_SEND_TIMEOUT_S, check_send_timeout
from .state import Listeners, PendingCalls
from .topics import DEFAULT_MAX_TOPIC_MESSAGES, TopicCache

__all__ = ["BridgeServer"]

logger = logging.getLogger("unity_workers.ros_tcp.bridge")
unity_logger = logging.getLogger("unity_workers.ros_tcp.unity")


class BridgeServer:
    """State, lifecycle and frame routing of the bridge; the service and topic halves handle their frames."""

    def __init__(
        self,
        types: MessageTypes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str = "ros-tcp-bridge",
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_destination_bytes: int = DEFAULT_MAX_DESTINATION_BYTES,
        send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S,
        max_topic_messages: int = DEFAULT_MAX_TOPIC_MESSAGES,
        token: str | None = None,
        token_deadline_s: float = TOKEN_DEADLINE_S,
    ) -> None:
        self.types = types if types is not None else MessageTypes()
        self._admission = (
            None if token is None else Admission(token, self._adopt, name=name, deadline_s=token_deadline_s)
        )
        self.host, self._requested_port, self.name = host, port, name
        self._caps = {"max_payload_bytes": max_payload_bytes, "max_destination_bytes": max_destination_bytes}
        self._send_timeout_s = check_send_timeout(send_timeout_s)  # bounds every write but a call's own
        self._cond = threading.Condition(threading.RLock())
        self._link: PlayerLink | None = None
        self._pending = PendingCalls()
        self._topics = TopicCache(max_topic_messages, max_bytes=max_payload_bytes, name=name)
        self._handlers: dict[str, Callable[[Any], Any]] = {}
        self._registration_listeners = Listeners("registration")
        self._raw_listeners = Listeners("raw message")
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Bind and start accepting in a background thread; returns ``self``. Calling it twice is a no-op."""
        if self._stop.is_set():
            raise RuntimeError(f"{self.name} was closed; create a new bridge")
        if self._listener is not None:
            return self
        listener = socket.create_server((self.host, self._requested_port), reuse_port=False)
        listener.settimeout(0.1)
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        self._accept_thread.start()
        logger.info("%s listening on %s:%d", self.name, self.host, self.port)
        return self

    @property
    def port(self) -> int:
        """The bound TCP port (the free one picked when constructed with ``port=0``)."""
        if self._listener is None:
            raise RuntimeError(f"{self.name} is not started; call start() first")
        return int(self._listener.getsockname()[1])

    @property
    def connected(self) -> bool:
        """Whether a Unity client is connected now."""
        with self._cond:
            return self._link is not None

    def close(self) -> None:
        """Stop accepting, drop the client, fail pending calls. Idempotent."""
        self._stop.set()
        if self._listener is not None:  # stop accepting first: a client that reconnects now is refused,
            self._listener.close()  # never adopted by this closing bridge
        if self._admission is not None:
            self._admission.close()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join(2.0)
        with self._cond:
            link, self._link = self._link, None
        if link is not None:
            link.conn.close("bridge closed")
            link.conn.join(2.0)
        self._pending.fail(None, f"{self.name} closed")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if self._stop.is_set():  # accepted while closing: refuse it so the client retries elsewhere
                sock.close()
                break
            if self._admission is not None:
                self._admission.submit(sock)  # served by _adopt once it proved the token
            else:
                self._adopt(sock, [])

    def _adopt(self, sock: socket.socket, early: list[Frame]) -> None:
        """Serve ``sock`` as the client, replacing the old one; ``early``: frames it sent before its token."""
        with self._cond:
            if self._stop.is_set():  # admitted while closing: refuse it so the client retries elsewhere
                sock.close()
                return
            conn = FrameConnection(
                sock, self._on_frame, self._on_closed, name=self.name, send_timeout_s=self._send_timeout_s, **self._caps
            )
            old, self._link = self._link, PlayerLink(conn)
        if old is not None:
            old.conn.close(f"replaced by a new connection from {conn.peer}")
        try:  # like ros_tcp_endpoint: 8 zero bytes confirm the connection, then the handshake
            conn.send(KEEPALIVE_FRAME + command_to_unity("__handshake", HANDSHAKE))
            for frame in early:  # in order, before the reader thread starts
                self._on_frame(conn, frame)
        except ConnectionError:
            return
        except Exception as exc:  # a bad early frame drops the client, as on its reader thread
            logger.error("%s: dropping connection from %s: %s", self.name, conn.peer, exc)
            conn.close(f"dropped after {type(exc).__name__}: {exc}")
            return
        logger.info("%s: Unity client connected from %s", self.name, conn.peer)
        conn.start()
        with self._cond:
            self._cond.notify_all()

    def _on_closed(self, conn: FrameConnection, reason: str) -> None:
        with self._cond:
            if self._link is not None and self._link.conn is conn:
                self._link = None
            self._cond.notify_all()
        logger.info("%s: connection from %s closed: %s", self.name, conn.peer, reason)
        self._pending.fail(conn, f"connection to Unity at {conn.peer} closed: {reason}")

    # ------------------------------------------------------------------ incoming frames (reader thread)
    def _on_frame(self, conn: FrameConnection, frame: Frame) -> None:
        with self._cond:
            link = self._link if self._link is not None and self._link.conn is conn else None
        if link is None:
            return
        if link.expect is not None:
            (command, srv_id), link.expect = link.expect, None
            if command == "__response":
                self._on_response(link, srv_id, frame)
            else:
                self._on_unity_request(link, srv_id, frame)
        elif frame.is_keepalive:
            conn.send(KEEPALIVE_FRAME)
        elif frame.is_syscommand:
            self._on_syscommand(link, frame.destination, decode_syscommand(frame.payload))
        else:
            self._on_message(link, frame)

    def _on_syscommand(self, link: PlayerLink, command: str, params: dict[str, Any]) -> None:
        if command in UNITY_LOG_LEVELS:
            text = params.get("text")
            if not isinstance(text, str):
                raise ProtocolError(f"{command} needs a string 'text', got {params!r}")
            unity_logger.log(UNITY_LOG_LEVELS[command], "%s", text)
        elif command in REGISTRATIONS:
            reg = parse_registration(command, params, self.types)
            with self._cond:
                link.regs[REGISTRATIONS[command]][topic_key(reg.topic)] = reg
                self._cond.notify_all()
            logger.debug("%s: %s %s (%s)", self.name, command, reg.topic, reg.message_name)
            self._registration_listeners.notify(REGISTRATIONS[command], reg)
        elif command in REMOVALS:
            if not isinstance(topic := params.get("topic"), str):
                raise ProtocolError(f"{command} needs a string 'topic', got {params!r}")
            with self._cond:
                link.regs[REMOVALS[command]].pop(topic_key(topic), None)
        elif command in ("__request", "__response"):
            link.expect = (command, parse_srv_id(command, params))
        elif command == "__topic_list":
            regs = [r for table in link.regs.values() for r in table.values()]
            reply = {"topics": [r.topic for r in regs], "types": [r.message_name for r in regs]}
            link.conn.send(command_to_unity("__topic_list", reply))
        elif command not in ("__handshake", TOKEN_COMMAND):  # a repeated token is harmless
            logger.warning("%s: ignoring unsupported system command %s %r", self.name, command, params)

    # ------------------------------------------------------------------ handled by the service and topic halves
    def _on_response(self, link: PlayerLink, srv_id: int, frame: Frame) -> None:
        raise NotImplementedError

    def _on_unity_request(self, link: PlayerLink, srv_id: int, frame: Frame) -> None:
        raise NotImplementedError

    def _on_message(self, link: PlayerLink, frame: Frame) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ client and registrations
    def wait_for_client(self, timeout_s: float) -> bool:
        """Wait until a Unity client is connected; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._link is not None, timeout_s)

    def _table(self, table: str) -> dict[str, str]:
        with self._cond:
            return self._link.table(table) if self._link else {}

    def _reg(self, table: str, name: str) -> Registration | None:
        return self._link.lookup(table, name) if self._link else None

    def add_registration_listener(
        self, listener: Callable[[str, Registration], None], *, replay: bool = True
    ) -> Callable[[], None]:
        """Call ``listener(table, registration)`` (reader thread) for each registration Unity sends.

        ``table`` is ``"publishers"``, ``"subscribers"``, ``"unity_services"`` or ``"ros_services"``;
        a reconnecting Unity registers again. With ``replay`` the current client's registrations are
        passed to ``listener`` first, on this thread. Returns a function that removes the listener.
        """
        with self._cond:
            remove = self._registration_listeners.add(listener)
            current = [(t, r) for t, regs in self._link.regs.items() for r in regs.values()] if self._link else []
        for table, reg in current if replay else ():
            listener(table, reg)
        return remove
