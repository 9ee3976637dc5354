"""Requests over one direct channel per worker (:mod:`ray_lab.workers.channel`): the default transport.

Set-up is one Ray actor call per worker (``open_channel``: the worker starts listening and says
where, the caller hands it a fresh random token), then every request of the vectorized env travels
as one frame on that worker's socket and the reply comes back the same way. Both ends block in the
kernel between calls: idle workers use no CPU, and a step costs two socket writes and two reads per
worker rather than a Ray task submission.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

import ray

from ray_lab.workers.channel import (
    DEFAULT_SEND_TIMEOUT_S,
    TOKEN_BYTES,
    ChannelAddress,
    ChannelClosedError,
    connect,
    recv_frame,
    send_frame,
)
from ray_lab.workers.errors import TransportError
from ray_lab.workers.transport import describe_workers, probe_busy_workers, timeout_error

__all__ = ["SocketTransport", "open_channels"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


def open_channels(
    actors: Sequence[Any], names: Sequence[str], timeout_s: float | None, reply_timeout_s: float | None = None
) -> list[socket.socket]:
    """Have every worker listen, then connect and authenticate to each; sockets in worker order.

    ``reply_timeout_s`` bounds each worker's send of a reply (default ``DEFAULT_SEND_TIMEOUT_S``): at
    least the step timeout, since the learner reads the workers' replies one after the other.

    Raises:
        TransportError: a worker could not open its channel, or it could not be reached (for example
            a firewall between nodes); the message names the worker and its address.
    """
    token = secrets.token_bytes(TOKEN_BYTES)
    node_id = ray.get_runtime_context().get_node_id()
    try:
        addresses: list[ChannelAddress] = ray.get(
            [actor.open_channel.remote(token, node_id, reply_timeout_s) for actor in actors], timeout=timeout_s
        )
    except Exception as exc:
        raise TransportError(f"env workers {list(names)} could not open their channels: {exc}") from exc
    sockets: list[socket.socket] = []
    try:
        for w, address in enumerate(addresses):
            try:
                sockets.append(connect(address, token, CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError) as exc:
                raise TransportError(
                    f"cannot reach {describe_workers(names, [w])} at {address}: {exc!r}. Across nodes the "
                    "channel is TCP on the worker node's address: open the nodes' ports to each other, or set "
                    "workers.transport: actor"
                ) from exc
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class SocketTransport:
    """One authenticated socket per worker; requests are written to all, then replies read in order."""

    name = "socket"

    def __init__(
        self,
        actors: Sequence[Any],
        names: Sequence[str],
        *,
        start_timeout_s: float | None,
        send_timeout_s: float | None = None,
    ) -> None:
        # a request's send is bounded by the step timeout (a worker that stops reading breaks its channel)
        self._send_timeout_s = DEFAULT_SEND_TIMEOUT_S if send_timeout_s is None else send_timeout_s
        self._actors = list(actors)
        self._names = list(names)
        reply_timeout_s = None if send_timeout_s is None else max(DEFAULT_SEND_TIMEOUT_S, send_timeout_s)
        self._sockets: list[socket.socket] = open_channels(self._actors, self._names, start_timeout_s, reply_timeout_s)
        self.broken: str | None = None

    def submit(self, messages: Sequence[bytes | None]) -> list[bool]:
        if self.broken:
            raise TransportError(f"the channels to the env workers are unusable: {self.broken}")
        sent: list[bool] = []
        for w, (sock, message) in enumerate(zip(self._sockets, messages, strict=True)):
            if message is None:
                sent.append(False)
                continue
            try:
                send_frame(sock, message, self._send_timeout_s)
            except ChannelClosedError as exc:
                self.broken = f"{describe_workers(self._names, [w])}: channel failed: {exc}"
                raise TransportError(self.broken) from exc
            sent.append(True)
        return sent

    def fetch(self, pending: list[bool], timeout_s: float | None, command: str) -> list[bytes | None]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        replies: list[bytes | None] = []
        for w, (sock, was_sent) in enumerate(zip(self._sockets, pending, strict=True)):
            if not was_sent:
                replies.append(None)
                continue
            try:
                replies.append(bytes(recv_frame(sock, deadline)))
            except TimeoutError:
                busy, detail = probe_busy_workers(self._actors)
                error = timeout_error(
                    self._names, busy or [w], command, float(timeout_s or 0.0), f" ({detail})" if detail else ""
                )
                self.broken = str(error)
                raise error from None
            except (ChannelClosedError, ValueError) as exc:
                self.broken = f"{describe_workers(self._names, [w])} failed during {command!r}: {exc}"
                raise TransportError(self.broken) from exc
        return replies

    def close(self) -> None:
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
