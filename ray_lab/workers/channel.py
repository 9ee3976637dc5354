"""A direct byte channel between a ``RayVecEnv`` and one env worker: length-prefixed frames on a socket.

Both ends block in the kernel while they wait (``recv``), so an idle worker and an idle learner use
no CPU, unlike a Ray Compiled Graph, whose channel readers poll (see ``docs/benchmarks.md``). On the
caller's own node the socket is a Unix socket in a private (0700) folder; across nodes it is TCP on
the worker node's Ray address.

The worker only serves a client that proves it holds the channel's token: the first
:data:`TOKEN_BYTES` bytes of a connection must equal the random token the caller handed the worker
through a Ray actor call. Nothing a connection sends before that is parsed or unpickled; a wrong
token closes the connection. Frames are ``<8-byte little-endian length><payload>``. Every send is
bounded (:func:`send_frame`): the caller's request with its step timeout, a worker's reply with
:data:`DEFAULT_SEND_TIMEOUT_S`; a peer that stops reading so breaks the channel instead of hanging.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import socket
import struct
import time
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ACK",
    "DEFAULT_SEND_TIMEOUT_S",
    "LOST_PEER_S",
    "TOKEN_BYTES",
    "ChannelAddress",
    "ChannelClosedError",
    "connect",
    "recv_exact",
    "recv_frame",
    "send_frame",
    "tune_tcp",
]

TOKEN_BYTES = 32
ACK = b"RAYLAB-CHANNEL-1"
"""What the worker answers to a good token (also the protocol version)."""
_HEAD = struct.Struct("<Q")
_SMALL_FRAME = 64 * 1024
MAX_FRAME_BYTES = 1 << 36
"""Largest frame accepted (64 GiB): a longer length prefix means a corrupt stream."""
DEFAULT_SEND_TIMEOUT_S = 600.0
"""Bound of a frame's send when the caller has no timeout of its own (e.g. a worker's reply)."""


LOST_PEER_S = 6
"""A TCP channel whose peer stops answering at all (its node lost, powered off or cut off) fails after
about this many seconds, even while it waits for a long step: keepalive probes every second after 2 s
idle, 3 unanswered end it. On the learner's side, a request left unacknowledged ends it after the same
time (Linux `TCP_USER_TIMEOUT`). Workers do not set that: it also counts time spent behind a full
receive window, and a worker's large reply may wait while the learner reads another worker's."""


def tune_tcp(sock: socket.socket, *, requests: bool = False) -> None:
    """No Nagle delay, and a lost peer detected in about :data:`LOST_PEER_S` (options Linux lacks are skipped).

    ``requests``: this end sends the small requests (the learner), so unacknowledged data also ends it.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 2), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    if requests and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, LOST_PEER_S * 1000)


class ChannelClosedError(ConnectionError):
    """The peer closed the channel (EOF) or the socket failed."""


@dataclass(frozen=True)
class ChannelAddress:
    """Where a worker's channel listens: a Unix socket path, or a TCP host and port."""

    family: Literal["unix", "tcp"]
    location: str
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.location}" if self.family == "unix" else f"tcp:{self.location}:{self.port}"


def _peer(sock: socket.socket) -> str:
    try:
        name = sock.getpeername()
    except OSError:
        return "the peer"
    if isinstance(name, bytes):
        name = name.decode("utf-8", errors="replace")
    return f"unix:{name or '?'}" if isinstance(name, str) else "%s:%s" % name[:2]  # noqa: UP031


def send_frame(sock: socket.socket, payload: bytes, timeout_s: float = DEFAULT_SEND_TIMEOUT_S) -> None:
    """Send one frame (the length prefix and ``payload``) within ``timeout_s``.

    Only for a socket that one thread uses at a time (its timeout is set here). Raises
    :class:`ChannelClosedError` when the send fails or times out (a partial frame may have gone out,
    so the channel is unusable either way).
    """
    head = _HEAD.pack(len(payload))
    deadline = time.monotonic() + timeout_s
    try:
        for part in (head + payload,) if len(payload) <= _SMALL_FRAME else (head, payload):
            _set_deadline(sock, deadline)
            sock.sendall(part)
    except TimeoutError as exc:
        raise ChannelClosedError(
            f"send to {_peer(sock)} timed out after {timeout_s:g} s (the peer is not reading; "
            f"frame of {len(payload)} bytes)"
        ) from exc
    except OSError as exc:
        raise ChannelClosedError(f"sending {len(payload)} bytes failed: {exc!r}") from exc


def _set_deadline(sock: socket.socket, deadline: float | None) -> None:
    if deadline is None:
        sock.settimeout(None)
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    sock.settimeout(remaining)


def recv_exact(sock: socket.socket, size: int, deadline: float | None = None) -> bytearray:
    """Exactly ``size`` bytes; ``TimeoutError`` after ``deadline`` (monotonic), ChannelClosedError on EOF."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        _set_deadline(sock, deadline)
        try:
            count = sock.recv_into(view[received:])
        except TimeoutError as exc:
            if exc.errno == errno.ETIMEDOUT:  # the kernel gave up on the peer (keepalive): not our deadline
                raise ChannelClosedError(f"the peer stopped answering (lost node?) after {received} bytes") from exc
            raise
        except OSError as exc:
            raise ChannelClosedError(f"receiving failed after {received} of {size} bytes: {exc!r}") from exc
        if count == 0:
            raise ChannelClosedError(f"the peer closed the channel after {received} of {size} bytes")
        received += count
    return buffer


def recv_frame(sock: socket.socket, deadline: float | None = None) -> bytearray:
    """One frame's payload; errors as :func:`recv_exact`, ``ValueError`` for an impossible length."""
    (size,) = _HEAD.unpack(recv_exact(sock, _HEAD.size, deadline))
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"frame length {size} exceeds the limit of {MAX_FRAME_BYTES} bytes (corrupt stream)")
    return recv_exact(sock, size, deadline)


def connect(address: ChannelAddress, token: bytes, timeout_s: float) -> socket.socket:
    """Connect to a worker's channel and authenticate with ``token``; a blocking socket on success.

    Raises:
        ConnectionError: refused, unreachable, or the worker did not accept the token.
        TimeoutError: no connection and acknowledgement within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    if address.family == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: str | tuple[str, int] = address.location
    else:
        sock = socket.socket(socket.AF_INET6 if ":" in address.location else socket.AF_INET, socket.SOCK_STREAM)
        target = (address.location, address.port)
    try:
        sock.settimeout(timeout_s)
        sock.connect(target)
        if address.family == "tcp":
            tune_tcp(sock, requests=True)
        sock.sendall(token)
        if not hmac.compare_digest(bytes(recv_exact(sock, len(ACK), deadline)), ACK):
            raise ConnectionError(f"the worker at {address} answered the handshake with an unknown protocol")
        sock.settimeout(None)
        return sock
    except BaseException:
        with contextlib.suppress(OSError):
            sock.close()
        raise
