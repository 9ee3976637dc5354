"""An independent test player: its own srv package (indie_interfaces/indie_msgs) and its own CDR code.

It shares no code with ray-lab's bridge (stdlib only, never unity_workers or ray_lab): it speaks ROS-TCP
over a plain socket like a Unity player with ROS-TCP-Connector would, and encodes/decodes its CDR
messages by hand. It serves ``/<name>_<id>/step`` (indie_msgs/Act) and ``/<name>_<id>/reset``
(indie_msgs/Restart), and appends every request it receives, decoded, as a JSON line to ``--record``.
When launched with a per-launch token in ``RAY_LAB_ROS_TCP_TOKEN``, its first frame is
``__ray_lab_token {"token": ...}``, as the bridge requires.

    python indie_player.py --ros-ip 127.0.0.1 --ros-port 12345 --environment-id 0 --record calls.jsonl
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import struct
import sys
from typing import Any


class CdrReader:
    """Little-endian CDR with the 4-byte encapsulation header; alignment counts from after the header."""

    def __init__(self, data: bytes) -> None:
        if data[:4] != b"\x00\x01\x00\x00":
            raise ValueError(f"expected CDR header 00 01 00 00, got {data[:4].hex(' ')}")
        self.data, self.pos = data, 4

    def _take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self.pos += -(self.pos - 4) % size
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return value

    def u8(self) -> int:
        return int(self._take("B"))

    def boolean(self) -> bool:
        return bool(self._take("?"))

    def i16(self) -> int:
        return int(self._take("h"))

    def i32(self) -> int:
        return int(self._take("i"))

    def f32_seq(self) -> list[float]:
        return [float(self._take("f")) for _ in range(self._take("I"))]

    def string(self) -> str:
        n = self._take("I")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.rstrip(b"\x00").decode("utf-8")

    def left(self) -> int:
        return len(self.data) - self.pos


class CdrWriter:
    """The writing side of :class:`CdrReader`."""

    def __init__(self) -> None:
        self.buf = bytearray(b"\x00\x01\x00\x00")

    def _put(self, fmt: str, value: Any) -> None:
        size = struct.calcsize(fmt)
        self.buf += b"\x00" * (-(len(self.buf) - 4) % size)
        self.buf += struct.pack("<" + fmt, value)

    def f64(self, value: float) -> None:
        self._put("d", value)

    def f32(self, value: float) -> None:
        self._put("f", value)

    def u32(self, value: int) -> None:
        self._put("I", value)

    def boolean(self, value: bool) -> None:
        self._put("?", value)

    def string(self, value: str) -> None:
        raw = value.encode("utf-8") + b"\x00"
        self.u32(len(raw))
        self.buf += raw


class Box:
    """The simulated world: a point pushed around a square box."""

    def __init__(self) -> None:
        self.px = self.py = 0.0
        self.vel = [0.0, 0.0, 0.0]
        self.tick, self.half, self.level = 0, 1.0, ""

    def restart(self, level: str, rng: int, hard: bool, lives: int) -> None:
        gen = random.Random(rng if rng >= 0 else None)
        self.half = 0.5 if hard else 1.0
        self.px, self.py = gen.uniform(-0.3, 0.3), gen.uniform(-0.3, 0.3)
        self.vel, self.tick, self.level = [0.0, 0.0, float(lives)], 0, level

    def act(self, gear: int, thrust: list[float]) -> None:
        dx, dy = [*thrust, 0.0, 0.0][:2]
        self.px += 0.1 * gear * dx
        self.py += 0.1 * gear * dy
        self.vel = [dx, dy, float(gear)]
        self.tick += 1

    def write_body(self, out: CdrWriter) -> None:
        out.f64(self.px)
        out.f64(self.py)
        for v in self.vel:
            out.f32(v)


def answer_reset(box: Box, payload: bytes) -> tuple[dict[str, Any], bytes]:
    """Decode an indie_msgs/Restart request, restart, encode the response."""
    cdr = CdrReader(payload)
    level, rng, hard, lives = cdr.string(), cdr.i32(), cdr.boolean(), cdr.i16()
    request = {"level": level, "rng": rng, "rules": {"hard": hard, "lives": lives}, "bytes_left": cdr.left()}
    box.restart(level, rng, hard, lives)
    out = CdrWriter()
    box.write_body(out)
    out.u32(box.tick)
    return request, bytes(out.buf)


def answer_step(box: Box, payload: bytes) -> tuple[dict[str, Any], bytes]:
    """Decode an indie_msgs/Act request, move, encode the response."""
    cdr = CdrReader(payload)
    request: dict[str, Any] = {"gear": cdr.u8(), "thrust": cdr.f32_seq()}
    request["bytes_left"] = cdr.left()
    box.act(request["gear"], request["thrust"])
    out = CdrWriter()
    box.write_body(out)
    out.f32(-math.hypot(box.px, box.py))
    out.boolean(max(abs(box.px), abs(box.py)) > box.half)
    out.boolean(box.tick >= 25)
    out.string(f"{box.level}#{box.tick}")
    return request, bytes(out.buf)


def frame(destination: str, payload: bytes) -> bytes:
    dest = destination.encode("utf-8")
    return struct.pack("<I", len(dest)) + dest + struct.pack("<I", len(payload)) + payload


def command(name: str, params: dict[str, Any]) -> bytes:
    return frame(name, json.dumps(params).encode("utf-8") + b"\x00")  # Unity appends a NUL


def read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the bridge closed the connection")
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[str, bytes]:
    (n,) = struct.unpack("<I", read_exact(sock, 4))
    destination = read_exact(sock, n).rstrip(b"\x00").decode("utf-8")
    (m,) = struct.unpack("<I", read_exact(sock, 4))
    return destination, read_exact(sock, m)


def arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def serve(sock: socket.socket, services: dict[str, str], record: str) -> None:
    """Answer ``__request`` + request frames until the bridge hangs up."""
    box = Box()
    while True:
        destination, payload = read_frame(sock)
        if destination != "__request":
            continue  # keepalives, __handshake, logs
        srv_id = json.loads(payload.rstrip(b"\x00").decode("utf-8"))["srv_id"]
        topic, request_bytes = read_frame(sock)
        kind = services[topic]
        request, response = (answer_reset if kind == "reset" else answer_step)(box, request_bytes)
        with open(record, "a", encoding="utf-8") as out:
            out.write(json.dumps({"service": kind, "request": request}) + "\n")
        sock.sendall(command("__response", {"srv_id": srv_id}) + frame(topic, response))


def main(argv: list[str]) -> int:
    host, port = arg(argv, "--ros-ip", "127.0.0.1"), int(arg(argv, "--ros-port", "10000"))
    prefix = f"/{arg(argv, '--name', 'indie')}_{arg(argv, '--environment-id', '0')}"
    record = arg(argv, "--record", "indie_calls.jsonl")
    with open(arg(argv, "-logFile", "indie_player.log"), "a", encoding="utf-8") as log:
        log.write(f"indie player connecting to {host}:{port}\n")
    sock = socket.create_connection((host, port), timeout=60)
    sock.settimeout(None)
    token = os.environ.get("RAY_LAB_ROS_TCP_TOKEN", "")
    if token:  # before anything else: the bridge neither answers nor serves a connection without it
        sock.sendall(command("__ray_lab_token", {"token": token}))
    first = read_frame(sock)
    if first != ("", b""):
        raise SystemExit(f"expected the 8 zero bytes first, got {first!r}")
    while read_frame(sock)[0] != "__handshake":
        pass
    services = {f"{prefix}/step": "step", f"{prefix}/reset": "reset"}
    for topic, message_name in ((f"{prefix}/step", "indie_msgs/Act"), (f"{prefix}/reset", "indie_msgs/Restart")):
        sock.sendall(command("__unity_service", {"topic": topic, "message_name": message_name}))
    try:
        serve(sock, services, record)
    except (EOFError, ConnectionError):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
