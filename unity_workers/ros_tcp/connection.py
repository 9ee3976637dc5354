"""One framed TCP connection with a reader thread; shared by the bridge (server) and the Unity-like client.

The reader thread feeds received bytes to a :class:`~unity_workers.ros_tcp.framing.FrameReader` and
hands each frame to a callback. Any exception from decoding or from the callback drops the
connection with a logged error; ``on_closed`` then runs exactly once, with the reason. Every send
is bounded (:mod:`~unity_workers.ros_tcp.sending`): one that a peer does not read in time closes the
connection with :class:`~unity_workers.ros_tcp.sending.SendTimeoutError`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable

from .framing import DEFAULT_MAX_DESTINATION_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, Frame, FrameReader, encode_frame
from .sending import DEFAULT_SEND_TIMEOUT_S, SendTimeoutError, check_send_timeout, send_all, send_timeout

__all__ = ["FrameConnection"]

logger = logging.getLogger("unity_workers.ros_tcp.connection")

_RECV_BYTES = 256 * 1024


class FrameConnection:
    """A connected socket speaking ROS-TCP frames; thread-safe sends, one background reader."""

    def __init__(
        self,
        sock: socket.socket,
        on_frame: Callable[[FrameConnection, Frame], None],
        on_closed: Callable[[FrameConnection, str], None],
        *,
        name: str = "ros-tcp",
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_destination_bytes: int = DEFAULT_MAX_DESTINATION_BYTES,
        send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S,
    ) -> None:
        self.send_timeout_s = check_send_timeout(send_timeout_s)
        sock.settimeout(None)
        with contextlib.suppress(OSError):  # not a TCP socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._on_frame = on_frame
        self._on_closed = on_closed
        self._reader = FrameReader(max_payload_bytes, max_destination_bytes)
        self._send_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed = False
        self.close_reason: str | None = None
        self.name = name
        try:
            self.peer = "%s:%s" % sock.getpeername()[:2]  # noqa: UP031
        except OSError:
            self.peer = "?"
        self._thread = threading.Thread(target=self._run, name=f"{name}-reader", daemon=True)

    @property
    def closed(self) -> bool:
        """True once the connection was closed (by either side)."""
        return self._closed

    def start(self) -> None:
        """Start the reader thread."""
        self._thread.start()

    def send(self, data: bytes, timeout_s: float | None = None) -> None:
        """Send raw bytes (one or more whole frames) atomically with respect to other senders.

        The send (waiting for other senders included) is bounded by ``timeout_s``, by default the
        connection's ``send_timeout_s`` (:func:`~unity_workers.ros_tcp.sending.send_timeout`).

        Raises:
            SendTimeoutError: the peer did not read the bytes in time (the connection is then closed).
            ConnectionError: the connection is closed or the send failed (the connection is then closed).
        """
        if self._closed:
            raise ConnectionError(f"{self.name} connection to {self.peer} is closed ({self.close_reason})")
        timeout = send_timeout(timeout_s, self.send_timeout_s)
        deadline = time.monotonic() + timeout
        try:
            if not self._send_lock.acquire(timeout=timeout):
                raise SendTimeoutError(
                    f"send to {self.peer} timed out after {timeout:g} s "
                    "(the peer is not reading: an earlier send is stuck)"
                )
            try:
                send_all(self._sock, data, timeout, self.peer, deadline=deadline)
            finally:
                self._send_lock.release()
        except SendTimeoutError as exc:
            self.close(str(exc))
            raise SendTimeoutError(f"{self.name}: {exc}") from exc
        except OSError as exc:
            self.close(f"send failed: {exc!r}")
            raise ConnectionError(f"{self.name} send to {self.peer} failed: {exc!r}") from exc

    def send_frame(self, destination: str, payload: bytes = b"", timeout_s: float | None = None) -> None:
        """Send one frame (bounded like :meth:`send`)."""
        self.send(encode_frame(destination, payload), timeout_s)

    def close(self, reason: str = "closed locally") -> None:
        """Close the socket (idempotent); runs ``on_closed(self, reason)`` the first time."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self.close_reason = reason
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self._on_closed(self, reason)
        except Exception:
            logger.exception("%s: on_closed callback failed", self.name)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the reader thread to end (no-op from the reader thread itself)."""
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        reason = "peer closed the connection"
        try:
            while not self._closed:
                data = self._sock.recv(_RECV_BYTES)
                if not data:
                    break
                for frame in self._reader.feed(data):
                    if self._closed:
                        break
                    self._on_frame(self, frame)
        except OSError as exc:
            reason = f"socket error: {exc!r}"
        except Exception as exc:
            reason = f"dropped after {type(exc).__name__}: {exc}"
            if not self._closed:
                logger.error("%s: dropping connection from %s: %s", self.name, self.peer, reason)
        self.close(reason)
