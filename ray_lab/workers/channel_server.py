"""The worker's end of its direct channel: one thread that accepts one client and serves its frames.

The thread blocks in ``accept``/``recv`` while nothing comes, so an idle worker sleeps. Each frame
is one request of :mod:`ray_lab.workers.protocol`, answered by the worker's ``handle`` on this
thread, so that every env is only ever touched from here while a channel is in use. A client that
does not send the channel's token first is dropped before anything it sent is parsed; a client that
disconnects frees the channel for the next one (the caller's transport after a recovery).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable

from ray_lab.workers.channel import (
    ACK,
    DEFAULT_SEND_TIMEOUT_S,
    TOKEN_BYTES,
    ChannelAddress,
    ChannelClosedError,
    recv_exact,
    recv_frame,
    send_frame,
    tune_tcp,
)

__all__ = ["ChannelServer"]

logger = logging.getLogger(__name__)

_HANDSHAKE_TIMEOUT_S = 10.0
CHANNEL_DIR_ENV = "RAY_LAB_CHANNEL_DIR"
"""Environment variable of the worker: the folder that holds its Unix socket's private folder."""


class ChannelServer:
    """Serves ``handler(request) -> reply`` to one authenticated client at a time, on a daemon thread.

    :param handler: the worker's request handler (never raises; failures are replies).
    :param label: names the thread and log lines (e.g. ``"train worker 1"``).
    """

    def __init__(self, handler: Callable[[bytes], bytes], label: str, reply_timeout_s: float | None = None) -> None:
        self._handler = handler
        self._label = label
        self._reply_timeout_s = DEFAULT_SEND_TIMEOUT_S if reply_timeout_s is None else reply_timeout_s
        self._listener: socket.socket | None = None
        self._folder: str | None = None
        self._token = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.address: ChannelAddress | None = None

    def open(self, token: bytes, same_node: bool, host: str) -> ChannelAddress:
        """Listen (a Unix socket when the client is on this node, else TCP on ``host``) and start serving.

        Opening again replaces the token and returns the same address.
        """
        if not isinstance(token, bytes) or len(token) != TOKEN_BYTES:
            raise ValueError(f"the channel token must be {TOKEN_BYTES} bytes, got {type(token).__name__}")
        self._token = token
        if self.address is not None:
            return self.address
        if same_node:
            # mode 0700: only this user connects; RAY_LAB_CHANNEL_DIR picks the parent (default: the temp dir)
            self._folder = tempfile.mkdtemp(prefix="ray_lab_ch_", dir=os.environ.get(CHANNEL_DIR_ENV) or None)
            path = os.path.join(self._folder, "worker.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            self.address = ChannelAddress("unix", path)
        else:
            listener = socket.create_server((host, 0), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
            self.address = ChannelAddress("tcp", host, int(listener.getsockname()[1]))
        listener.listen(1)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name=f"ray-lab-channel-{self._label}", daemon=True)
        self._thread.start()
        return self.address

    def close(self) -> None:
        """Stop accepting and remove the socket file; idempotent. A client mid-request is cut off."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ the thread
    def _serve(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            with conn:
                if self._authenticate(conn):
                    self._serve_client(conn)

    def _authenticate(self, conn: socket.socket) -> bool:
        try:
            conn.settimeout(_HANDSHAKE_TIMEOUT_S)
            offered = bytes(recv_exact(conn, TOKEN_BYTES))
        except (OSError, TimeoutError) as exc:
            logger.warning("[%s] channel: a client left before the handshake: %s", self._label, exc)
            return False
        if not hmac.compare_digest(offered, self._token):
            logger.warning("[%s] channel: refused a client with a wrong token", self._label)
            return False
        conn.settimeout(None)
        if conn.family != socket.AF_UNIX:
            tune_tcp(conn)
        try:
            conn.sendall(ACK)
        except OSError:
            return False
        return True

    def _serve_client(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                request = recv_frame(conn)
            except (ChannelClosedError, ValueError) as exc:
                logger.debug("[%s] channel client gone: %s", self._label, exc)
                return
            try:
                send_frame(conn, self._handler(bytes(request)), self._reply_timeout_s)
            except ChannelClosedError as exc:
                logger.debug("[%s] channel client gone while replying: %s", self._label, exc)
                return
