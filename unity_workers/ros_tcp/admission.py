"""Per-launch token admission for the ROS-TCP bridge: a new connection must prove the token first.

The launcher creates a fresh random token per player start (:func:`new_token`) and hands it to the
bridge and, through the environment variable :data:`TOKEN_ENV`, to the player. Right after it connects
the player sends the system command ``__ray_lab_token {"token": "..."}``. Until it does, its
connection is *pending*: :class:`Admission` reads it on its own thread, outside the bridge, so the
connected player is never touched. Keepalives are skipped and other frames (ROS-TCP-Connector sends its
registrations before anything queued) are held, within small limits, and handed over with the socket
once the token matches (:func:`hmac.compare_digest`). A wrong or missing token, a deadline passed
(:data:`TOKEN_DEADLINE_S`), bytes that are not frames or too much data closes that connection with a
warning naming the peer. Nothing read here is evaluated: frames, then JSON only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable

from unity_workers.launch_tokens import TokenScheme, tokens_match

from .framing import Frame, ProtocolError, decode_syscommand, encode_syscommand

__all__ = [
    "MAX_PENDING",
    "TOKEN_COMMAND",
    "TOKEN_DEADLINE_S",
    "TOKEN_ENV",
    "TOKEN_SCHEME",
    "Admission",
    "Refused",
    "new_token",
    "token_command",
    "token_from_env",
]

logger = logging.getLogger("unity_workers.ros_tcp.bridge")

TOKEN_SCHEME = TokenScheme(env_var="RAY_LAB_ROS_TCP_TOKEN", nbytes=32)
"""The bridge's launch tokens: 64 hex digits, handed over in :data:`TOKEN_ENV`."""
TOKEN_ENV = TOKEN_SCHEME.env_var
"""The environment variable that hands a player its bridge's per-launch token."""
TOKEN_COMMAND = "__ray_lab_token"
"""The system command that carries the token: ``__ray_lab_token {"token": "<hex>"}``."""
TOKEN_DEADLINE_S = 5.0
"""How long a new connection may take to send the token, from its accept."""
MAX_PENDING = 16
"""Connections waiting for their token at once; more are refused at once."""
MAX_EARLY_FRAMES = 256
"""Frames held from a pending connection (registrations sent before the token)."""
MAX_EARLY_BYTES = 1024 * 1024
"""Bytes held from a pending connection, all frames together."""
_MAX_DESTINATION = 1024
_MAX_PAYLOAD = 64 * 1024
_U32 = struct.Struct("<I")

AdmitCallback = Callable[[socket.socket, list[Frame]], None]
"""Takes the admitted socket and the frames it sent before the token, in order."""


class Refused(Exception):
    """A pending connection did not prove the token; the message says why."""


new_token = TOKEN_SCHEME.new_token
"""A fresh random token for one player start (64 hex digits)."""
token_from_env = TOKEN_SCHEME.token_from_env
"""The token in :data:`TOKEN_ENV` of ``environ`` (default ``os.environ``), or None when unset or empty."""


def token_command(token: str) -> bytes:
    """The whole ``__ray_lab_token`` frame a client sends right after connecting."""
    return encode_syscommand(TOKEN_COMMAND, {"token": token})


def token_matches(frame: Frame, token: str) -> bool:
    """Whether ``frame`` (a ``__ray_lab_token`` command) carries ``token``; compared in constant time."""
    try:
        offered = decode_syscommand(frame.payload).get("token")
    except ProtocolError as exc:
        raise Refused(f"unreadable {TOKEN_COMMAND}: {exc}") from None
    if not isinstance(offered, str):
        raise Refused(f"{TOKEN_COMMAND} needs a string 'token', got {type(offered).__name__}")
    return tokens_match(offered, token)


def _read_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise Refused("closed the connection before sending the token")
        data += chunk
    return bytes(data)


def read_frame(sock: socket.socket, deadline: float) -> Frame:
    """Read exactly one frame (never more bytes) with small caps, by ``deadline`` (monotonic)."""
    (n,) = _U32.unpack(_read_exact(sock, 4, deadline))
    if n > _MAX_DESTINATION:
        raise Refused(f"destination length {n} exceeds {_MAX_DESTINATION} bytes before the token")
    raw = _read_exact(sock, n, deadline).rstrip(b"\x00")
    try:
        destination = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"destination is not UTF-8 (bytes {raw[:32]!r})") from None
    (m,) = _U32.unpack(_read_exact(sock, 4, deadline))
    if m > _MAX_PAYLOAD:
        raise Refused(f"payload length {m} for {destination!r} exceeds {_MAX_PAYLOAD} bytes before the token")
    return Frame(destination, _read_exact(sock, m, deadline))


def await_token(sock: socket.socket, token: str, deadline_s: float) -> list[Frame]:
    """Read ``sock`` until it proves ``token``; the non-keepalive frames before it, in order.

    Raises:
        Refused: wrong or malformed token, no token within ``deadline_s``, closed, or too much data.
    """
    deadline = time.monotonic() + deadline_s
    early: list[Frame] = []
    held = 0
    try:
        while True:
            frame = read_frame(sock, deadline)
            if frame.destination == TOKEN_COMMAND:
                if token_matches(frame, token):
                    return early
                raise Refused("wrong token")
            if frame.is_keepalive:
                continue
            held += len(frame.destination) + len(frame.payload)
            early.append(frame)
            if len(early) > MAX_EARLY_FRAMES or held > MAX_EARLY_BYTES:
                raise Refused(f"sent {len(early)} frames ({held} bytes) without the token")
    except TimeoutError:
        raise Refused(f"no token within {deadline_s:g} s") from None
    except OSError as exc:
        raise Refused(f"socket error before the token: {exc!r}") from None


class Admission:
    """Holds new connections of one bridge until they prove its token; admitted ones go to ``on_admitted``."""

    def __init__(
        self,
        token: str,
        on_admitted: AdmitCallback,
        *,
        name: str = "ros-tcp-bridge",
        deadline_s: float = TOKEN_DEADLINE_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"the bridge token must be a non-empty string, got {token!r}")
        if not deadline_s > 0 or max_pending < 1:
            raise ValueError(f"need deadline_s > 0 and max_pending >= 1, got {deadline_s!r}, {max_pending!r}")
        self._token, self._on_admitted, self.name = token, on_admitted, name
        self.deadline_s, self.max_pending = deadline_s, max_pending
        self._lock = threading.Lock()
        self._pending: set[socket.socket] = set()
        self._closed = False
        self.refused = 0  # connections refused so far

    def submit(self, sock: socket.socket) -> None:
        """Start checking the token of a just-accepted ``sock`` on its own thread (refused when too many wait)."""
        peer = _peer(sock)
        with self._lock:
            full = self._closed or len(self._pending) >= self.max_pending
            if not full:
                self._pending.add(sock)
        if full:
            self._refuse(sock, peer, f"{self.max_pending} connections already wait for their token")
            return
        thread = threading.Thread(target=self._check, args=(sock, peer), name=f"{self.name}-admit", daemon=True)
        thread.start()

    def close(self) -> None:
        """Refuse every pending connection (their threads end at once); later submits are refused."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        for sock in pending:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _check(self, sock: socket.socket, peer: str) -> None:
        try:
            early = await_token(sock, self._token, self.deadline_s)
        except Refused as exc:
            self._refuse(sock, peer, str(exc))
            return
        except Exception as exc:  # never expected; still refused, never served
            self._refuse(sock, peer, f"{type(exc).__name__}: {exc}")
            return
        finally:
            with self._lock:
                self._pending.discard(sock)
        logger.debug("%s: %s proved the token", self.name, peer)
        try:
            self._on_admitted(sock, early)
        except Exception:
            logger.exception("%s: adopting the connection from %s failed", self.name, peer)
            sock.close()

    def _refuse(self, sock: socket.socket, peer: str, reason: str) -> None:
        self.refused += 1
        if self._closed:
            logger.debug("%s: dropped the pending connection from %s: bridge closed", self.name, peer)
        else:
            logger.warning(
                "%s: refused a connection from %s: %s (the connected player is kept)", self.name, peer, reason
            )
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _peer(sock: socket.socket) -> str:
    try:
        return "%s:%s" % sock.getpeername()[:2]  # noqa: UP031
    except OSError:
        return "?"
