"""ROS-TCP frame encoding and decoding (both directions of the Unity ROS-TCP-Connector protocol).

Every frame on the wire is::

    uint32 LE  N      length of the destination
    N bytes           UTF-8 destination (topic, service or "__command"); trailing NULs are stripped
    uint32 LE  M      length of the payload
    M bytes           payload

An empty destination is a keepalive. System commands (destinations starting with ``__``) carry
UTF-8 JSON followed by one trailing NUL. Nothing read here is ever evaluated or unpickled: payloads
stay bytes, and system-command payloads go through :func:`json.loads` only.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_MAX_DESTINATION_BYTES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "KEEPALIVE_FRAME",
    "Frame",
    "FrameReader",
    "ProtocolError",
    "decode_syscommand",
    "encode_frame",
    "encode_syscommand",
    "is_syscommand",
    "syscommand_payload",
]

DEFAULT_MAX_DESTINATION_BYTES = 1024
"""Largest destination (topic/service/command name) accepted, in bytes."""

DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""Largest payload accepted, in bytes (16 MiB: room for camera images, small enough to refuse garbage)."""

_U32 = struct.Struct("<I")


class ProtocolError(ValueError):
    """The peer sent bytes that do not follow the ROS-TCP protocol (the connection should be dropped)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its destination (NULs stripped) and its raw payload."""

    destination: str
    payload: bytes

    @property
    def is_keepalive(self) -> bool:
        """True for the empty-destination keepalive frame."""
        return self.destination == ""

    @property
    def is_syscommand(self) -> bool:
        """True when the destination is a system command (``__xxx``)."""
        return is_syscommand(self.destination)


def is_syscommand(destination: str) -> bool:
    """Whether ``destination`` names a system command rather than a topic or service."""
    return destination.startswith("__")


def encode_frame(destination: str, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """Encode one frame: length-prefixed UTF-8 destination, then length-prefixed payload."""
    dest = destination.encode("utf-8")
    body = bytes(payload)
    return b"".join((_U32.pack(len(dest)), dest, _U32.pack(len(body)), body))


KEEPALIVE_FRAME = encode_frame("", b"")
"""The keepalive frame: eight zero bytes."""


def syscommand_payload(params: Mapping[str, Any] | None = None, *, trailing_nul: bool = True) -> bytes:
    """The payload of a system command: compact UTF-8 JSON of ``params``, plus one trailing NUL by default.

    Unity (ROS-TCP-Connector) appends the NUL to the commands it sends and the endpoint drops it;
    ``ros_tcp_endpoint`` sends its own commands to Unity as bare JSON (``trailing_nul=False``).
    """
    text = json.dumps(dict(params or {}), separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + (b"\x00" if trailing_nul else b"")


def encode_syscommand(name: str, params: Mapping[str, Any] | None = None, *, trailing_nul: bool = True) -> bytes:
    """Encode a whole system-command frame, e.g. ``encode_syscommand("__subscribe", {...})``."""
    if not is_syscommand(name):
        raise ValueError(f"system command names start with '__', got {name!r}")
    return encode_frame(name, syscommand_payload(params, trailing_nul=trailing_nul))


def decode_syscommand(payload: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode a system-command payload (JSON object, optionally followed by NULs) into a dict.

    Raises:
        ProtocolError: the payload is not UTF-8, not JSON, or not a JSON object.
    """
    raw = bytes(payload).rstrip(b"\x00")
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"system-command payload is not UTF-8: {exc} (first bytes {raw[:32]!r})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ProtocolError(f"system-command payload is not valid JSON: {exc} (text {text[:80]!r})") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"system-command payload must be a JSON object, got {type(value).__name__}: {text[:80]!r}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


class FrameReader:
    """Incremental frame decoder: feed it bytes as they arrive, get whole frames back.

    Lengths are checked against the caps as soon as their 4 bytes arrive, so a hostile length never
    causes an allocation of the claimed size. After a :class:`ProtocolError` the reader is unusable
    (the stream position is lost); drop the connection.
    """

    def __init__(
        self,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_destination_bytes: int = DEFAULT_MAX_DESTINATION_BYTES,
    ) -> None:
        if max_payload_bytes < 0 or max_destination_bytes < 0:
            raise ValueError(f"caps must be >= 0, got payload {max_payload_bytes}, destination {max_destination_bytes}")
        self.max_payload_bytes = max_payload_bytes
        self.max_destination_bytes = max_destination_bytes
        self._buffer = bytearray()
        self._destination: str | None = None
        self._failed: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data`` to the stream and return every frame it completes (possibly none).

        Raises:
            ProtocolError: a length exceeds its cap or a destination is not valid UTF-8.
        """
        if self._failed is not None:
            raise ProtocolError(f"reader already failed: {self._failed}")
        self._buffer += data
        frames: list[Frame] = []
        try:
            while True:
                frame = self._next()
                if frame is None:
                    return frames
                frames.append(frame)
        except ProtocolError as exc:
            self._failed = exc
            self._buffer.clear()
            raise

    def _next(self) -> Frame | None:
        buf = self._buffer
        if self._destination is None:
            if len(buf) < 4:
                return None
            (n,) = _U32.unpack_from(buf, 0)
            if n > self.max_destination_bytes:
                raise ProtocolError(f"destination length {n} exceeds the cap of {self.max_destination_bytes} bytes")
            if len(buf) < 4 + n:
                return None
            raw = bytes(buf[4 : 4 + n]).rstrip(b"\x00")
            try:
                self._destination = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"destination is not valid UTF-8: {exc} (bytes {raw[:32]!r})") from None
            del buf[: 4 + n]
        if len(buf) < 4:
            return None
        (m,) = _U32.unpack_from(buf, 0)
        if m > self.max_payload_bytes:
            raise ProtocolError(
                f"payload length {m} for destination {self._destination!r} exceeds the cap of "
                f"{self.max_payload_bytes} bytes"
            )
        if len(buf) < 4 + m:
            return None
        frame = Frame(self._destination, bytes(buf[4 : 4 + m]))
        del buf[: 4 + m]
        self._destination = None
        return frame
