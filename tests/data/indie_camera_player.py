"""An independent test player with cameras: indie_msgs/Peek (step) and indie_msgs/Wake (reset).

Like ``indie_player.py`` (whose CDR and ROS-TCP framing it reuses) it shares no code with ray-lab: stdlib
only, its own CDR encoding of ``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage``, and its own
PNG encoder (zlib). Every response carries two camera frames of the point body's box:

- ``eye``: a raw ``bgr8`` Image, ``EYE_W`` x ``EYE_H``, rows padded to a multiple of 4 bytes; pixel
  ``(y, x)`` is RGB :func:`eye_pixel`.
- ``snapshot``: a ``png`` CompressedImage, grey, ``SNAP_W`` x ``SNAP_H``; pixel ``(y, x)`` is :func:`snap_pixel`.

    python indie_camera_player.py --ros-ip 127.0.0.1 --ros-port 12345 --environment-id 0
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import sys
import zlib
from typing import Any

from indie_player import Box, CdrReader, CdrWriter, arg, command, frame, read_frame

EYE_W, EYE_H = 6, 4
SNAP_W, SNAP_H = 5, 3


def eye_pixel(x: int, y: int, tick: int, px: float) -> tuple[int, int, int]:
    """The RGB of the eye's pixel (x, y) at ``tick`` with the body at ``px``."""
    return (x * 40 + tick) % 256, (y * 60) % 256, int((px + 1.0) * 100) % 256


def snap_pixel(x: int, y: int, tick: int) -> int:
    """The grey level of the snapshot's pixel (x, y) at ``tick``."""
    return (x * 50 + y * 20 + tick * 7) % 256


def png_grey(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit greyscale PNG (filter 0 on every row)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class CameraWriter(CdrWriter):
    """CDR writing plus what images need: u8, i32, byte sequences and a std_msgs/Header."""

    def u8(self, value: int) -> None:
        self._put("B", value)

    def i32(self, value: int) -> None:
        self._put("i", value)

    def byte_seq(self, data: bytes) -> None:
        self.u32(len(data))
        self.buf += data

    def header(self, tick: int, frame_id: str) -> None:
        self.i32(tick)  # stamp.sec
        self.u32(0)  # stamp.nanosec
        self.string(frame_id)


def write_eye(out: CameraWriter, box: Box) -> None:
    """``sensor_msgs/Image``: bgr8, each row padded with 0xEE bytes to a multiple of 4."""
    step = (EYE_W * 3 + 3) // 4 * 4
    data = bytearray()
    for y in range(EYE_H):
        for x in range(EYE_W):
            r, g, b = eye_pixel(x, y, box.tick, box.px)
            data += bytes((b, g, r))
        data += b"\xee" * (step - EYE_W * 3)
    out.header(box.tick, "eye")
    out.u32(EYE_H)
    out.u32(EYE_W)
    out.string("bgr8")
    out.u8(0)
    out.u32(step)
    out.byte_seq(bytes(data))


def write_snapshot(out: CameraWriter, box: Box) -> None:
    """``sensor_msgs/CompressedImage``: a grey png."""
    rows = [bytes(snap_pixel(x, y, box.tick) for x in range(SNAP_W)) for y in range(SNAP_H)]
    out.header(box.tick, "snapshot")
    out.string("png")
    out.byte_seq(png_grey(SNAP_W, SNAP_H, rows))


def answer(box: Box, kind: str, payload: bytes) -> bytes:
    """Decode a Wake or Peek request, act, encode the response."""
    cdr = CdrReader(payload)
    if kind == "reset":
        box.restart("", cdr.i32(), False, 1)
    else:
        box.act(1, cdr.f32_seq())
    out = CameraWriter()
    box.write_body(out)
    write_eye(out, box)
    write_snapshot(out, box)
    if kind == "step":
        out.f32(-math.hypot(box.px, box.py))
        out.boolean(max(abs(box.px), abs(box.py)) > box.half)
    return bytes(out.buf)


def serve(sock: socket.socket, services: dict[str, str]) -> None:
    """Answer ``__request`` + request frames until the bridge hangs up."""
    box = Box()
    while True:
        destination, payload = read_frame(sock)
        if destination != "__request":
            continue  # keepalives, __handshake, logs
        srv_id = json.loads(payload.rstrip(b"\x00").decode("utf-8"))["srv_id"]
        topic, request_bytes = read_frame(sock)
        response = answer(box, services[topic], request_bytes)
        sock.sendall(command("__response", {"srv_id": srv_id}) + frame(topic, response))


def main(argv: list[str]) -> int:
    host, port = arg(argv, "--ros-ip", "127.0.0.1"), int(arg(argv, "--ros-port", "10000"))
    prefix = f"/{arg(argv, '--name', 'indie')}_{arg(argv, '--environment-id', '0')}"
    sock = socket.create_connection((host, port), timeout=60)
    sock.settimeout(None)
    token = os.environ.get("RAY_LAB_ROS_TCP_TOKEN", "")
    if token:
        sock.sendall(command("__ray_lab_token", {"token": token}))
    while read_frame(sock)[0] != "__handshake":
        pass
    services: dict[str, Any] = {f"{prefix}/step": "step", f"{prefix}/reset": "reset"}
    for topic, message_name in ((f"{prefix}/step", "indie_msgs/Peek"), (f"{prefix}/reset", "indie_msgs/Wake")):
        sock.sendall(command("__unity_service", {"topic": topic, "message_name": message_name}))
    try:
        serve(sock, services)
    except (EOFError, ConnectionError):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
