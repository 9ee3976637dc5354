"""The service half of :class:`~unity_workers.ros_tcp.bridge.RosTcpBridge`: calls both ways.

Python calls the services Unity implements (``__request``/``__response``, ids from 1001, with
timeouts; several may be in flight), and answers the ROS services Unity calls with the handlers
given to :meth:`ServiceCalls.provide_service`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .framing import Frame, ProtocolError, encode_frame
from .protocol import PlayerLink, command_to_unity, topic_key
from .server import BridgeServer
from .state import PendingCall

__all__ = ["ServiceCalls"]

logger = logging.getLogger("unity_workers.ros_tcp.bridge")


class ServiceCalls(BridgeServer):
    """Calls to the services Unity implements, and answers to the ROS services Unity calls."""

    def _on_response(self, link: PlayerLink, srv_id: int, frame: Frame) -> None:
        pending = self._pending.pop(srv_id)
        if pending is None:
            logger.warning("%s: response for unknown or expired srv_id %d (%s)", self.name, srv_id, frame.destination)
            return
        rtype = pending.response_type
        try:
            pending.finish(frame.payload if rtype is None else self.types.deserialize(frame.payload, rtype))
        except ValueError as exc:
            pending.finish(error=ProtocolError(f"bad response to call {srv_id} ({pending.service!r}): {exc}"))
            raise

    def _on_unity_request(self, link: PlayerLink, srv_id: int, frame: Frame) -> None:
        reg = link.regs["ros_services"].get(topic_key(frame.destination))
        handler = self._handlers.get(topic_key(frame.destination))
        if reg is None or handler is None:
            text = f"{self.name}: Unity called {frame.destination!r} (srv_id {srv_id}); no handler provided"
            logger.error("%s", text)
            link.conn.send(command_to_unity("__error", {"text": text}))
            return
        request = self.types.deserialize(frame.payload, reg.types[0])
        try:
            response = handler(request)
            if isinstance(response, Mapping):
                response = self.types.build(reg.types[1], response)
            payload = self.types.serialize(response, reg.types[1])
        except Exception:
            logger.exception("%s: handler for %r failed (srv_id %d)", self.name, frame.destination, srv_id)
            return
        reply = command_to_unity("__response", {"srv_id": srv_id}) + encode_frame(frame.destination, payload)
        link.conn.send(reply)

    def wait_for_service(self, name: str, timeout_s: float) -> bool:
        """Wait until the connected Unity registered service ``name`` with ``__unity_service``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._reg("unity_services", name) is not None, timeout_s)

    def registered_services(self) -> dict[str, str]:
        """Services the connected Unity implements: name → ``message_name``."""
        return self._table("unity_services")

    def call_unity_service(self, name: str, request: Any, timeout_s: float = 10.0, *, raw: bool = False) -> Any:
        """Call a service Unity implements and wait for its response (send, then :meth:`wait_response`).

        ``request`` may be CDR bytes, a message object or a dict (built with the request type).
        Returns the deserialized response, or its CDR bytes when ``raw`` is true.

        Raises:
            TimeoutError: no response within ``timeout_s`` (names the service, timeout and srv id).
            ConnectionError: no client, or the connection dropped before the response.
            LookupError: the connected Unity did not register ``name``.
        """
        return self.wait_response(self.send_unity_request(name, request, raw=raw, timeout_s=timeout_s), timeout_s)

    def send_unity_request(
        self, name: str, request: Any, *, raw: bool = False, timeout_s: float | None = None
    ) -> PendingCall:
        """Send a request to a service Unity implements and return at once (collect it with :meth:`wait_response`).

        Several calls may be in flight together, each with its own srv id. The call's clock starts
        before the send, which ``timeout_s`` (the call's timeout; default ``send_timeout_s``) bounds.

        Raises:
            ConnectionError: no client is connected (or the send failed).
            LookupError: the connected Unity did not register ``name``.
        """
        with self._cond:
            link, reg = self._link, self._reg("unity_services", name)
            if link is None:
                raise ConnectionError(f"cannot call {name!r}: no Unity client is connected to {self.name}")
            if reg is None:
                known = sorted(self.registered_services())
                raise LookupError(f"Unity did not register service {name!r}; registered: {known}")
            pending = self._pending.add(name, link.conn, None if raw else reg.types[1])
            srv_id = pending.srv_id
        try:
            payload = self.types.to_cdr(request, reg.types[0])
            data = command_to_unity("__request", {"srv_id": srv_id}) + encode_frame(reg.topic, payload)
            pending.sent_at = time.monotonic()
            link.conn.send(data, timeout_s)
        except BaseException:
            self._pending.pop(srv_id)
            raise
        return pending

    def wait_response(self, pending: PendingCall, timeout_s: float) -> Any:
        """Wait for the response to a call of :meth:`send_unity_request`; ``timeout_s`` counts from its send.

        Raises:
            TimeoutError: no response within ``timeout_s`` of the send (names the service, timeout and srv id).
            ConnectionError: the connection dropped (or the bridge closed) before the response.
        """
        remaining = max(0.0, pending.sent_at + timeout_s - time.monotonic())
        if not pending.done.wait(remaining):
            self._pending.pop(pending.srv_id)
            raise TimeoutError(
                f"Unity service {pending.service!r} did not answer call {pending.srv_id} within {timeout_s:g} s"
            )
        if pending.error is not None:
            raise pending.error
        took = time.monotonic() - pending.sent_at
        logger.debug("%s: call %d to %r took %.4f s", self.name, pending.srv_id, pending.service, took)
        return pending.result

    def provide_service(self, name: str, handler: Callable[[Any], Any]) -> None:
        """Answer Unity's calls to ROS service ``name`` (registered by Unity with ``__ros_service``)."""
        with self._cond:
            self._handlers[topic_key(name)] = handler
