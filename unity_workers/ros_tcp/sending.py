"""`send_all`: write bytes to a socket within a deadline, without touching the socket's timeout.

A :class:`~unity_workers.ros_tcp.connection.FrameConnection` has a reader thread blocked in ``recv``
on the same socket, so a send cannot use ``settimeout`` (Python sockets have one timeout for both
directions). Instead each ``send`` is non-blocking for that call only (``MSG_DONTWAIT``) and the
thread waits for the socket to become writable with ``poll`` until the deadline. A peer that stops
reading (a frozen player whose buffers are full) so fails the send after ``timeout_s`` instead of
hanging the caller; the caller then closes the connection, since part of a frame may have gone out.

The timeout rule has one owner, :func:`send_timeout`: a write on behalf of a call (a step or reset
request) is bounded by that call's ``timeout_s``; every other write (keepalive answers, publishes,
log lines, responses) by the connection's ``send_timeout_s``, :data:`DEFAULT_SEND_TIMEOUT_S` unless
the owner of the bridge sets it (a Unity session sets it to ``step_timeout_s``).
"""

from __future__ import annotations

import math
import select
import socket
import time

__all__ = ["DEFAULT_SEND_TIMEOUT_S", "SendTimeoutError", "check_send_timeout", "send_all", "send_timeout"]

DEFAULT_SEND_TIMEOUT_S = 10.0
"""Longest a write may wait for a peer that does not read, when nobody gives a timeout."""

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_WRITABLE = select.POLLOUT | select.POLLERR | select.POLLHUP


class SendTimeoutError(ConnectionError):
    """A send did not complete within its timeout: the peer is not reading (the connection is unusable)."""


def check_send_timeout(value: float, name: str = "send_timeout_s") -> float:
    """``value`` as a float; ``ValueError`` unless it is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def send_timeout(call_timeout_s: float | None, connection_timeout_s: float) -> float:
    """The bound of one write: the call's own timeout when it has one, else the connection's."""
    return check_send_timeout(connection_timeout_s if call_timeout_s is None else call_timeout_s, "timeout_s")


def _wait_writable(sock: socket.socket, deadline: float) -> bool:
    """Wait until ``sock`` accepts more data (or has failed); False when ``deadline`` passed first."""
    poller = select.poll()
    poller.register(sock.fileno(), _WRITABLE)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if poller.poll(max(1, math.ceil(remaining * 1000))):
            return True


def send_all(
    sock: socket.socket, data: bytes, timeout_s: float, peer: str = "the peer", *, deadline: float | None = None
) -> None:
    """Send all of ``data`` within ``timeout_s`` seconds (the socket may be blocking and read elsewhere).

    ``deadline`` (``time.monotonic()``), when given, replaces ``now + timeout_s`` (the caller's clock
    started earlier, e.g. while it waited for a lock).

    Raises:
        SendTimeoutError: not all bytes went out in time (some may have: close the connection).
        OSError: the send failed (connection reset, closed socket, ...).
    """
    timeout = check_send_timeout(timeout_s, "timeout_s")
    deadline = time.monotonic() + timeout if deadline is None else deadline
    view = memoryview(data)
    sent = 0
    while sent < len(view):
        try:
            sent += sock.send(view[sent:], _DONTWAIT)
            continue
        except (BlockingIOError, InterruptedError, TimeoutError):  # full buffer (TimeoutError: a socket with a timeout)
            pass
        if not _wait_writable(sock, deadline):
            raise SendTimeoutError(
                f"send to {peer} timed out after {timeout:g} s (the peer is not reading; "
                f"{sent} of {len(view)} bytes sent)"
            )
