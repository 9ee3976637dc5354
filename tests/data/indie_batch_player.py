"""An independent multi-agent test player: ``--agents N`` rovers served through one batch step and reset.

Like ``indie_player.py`` it shares no code with ray-lab (stdlib only, never unity_workers or ray_lab):
it speaks ROS-TCP over a plain socket and encodes/decodes its CDR by hand. It serves
``/<name>_<id>/step`` (indie_msgs/ActAll: ``gear`` + every rover's ``[dx, dy]``, agent-major) and
``/<name>_<id>/reset`` (indie_msgs/RestartSome: the ``agents`` to restart and one of ``seeds`` each),
and answers every rover's indie_msgs/Rover in ``states``, in agent order. Each rover is its own world:
a restart with seed ``s`` puts it at the same start whatever the other rovers do. Every request is
appended, decoded, as a JSON line to ``--record``. With ``RAY_LAB_ROS_TCP_TOKEN`` set, its first frame
is ``__ray_lab_token {"token": ...}``, as the bridge requires.

    python indie_batch_player.py --ros-ip 127.0.0.1 --ros-port 12345 --environment-id 0 --agents 3
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import sys
from typing import Any

import indie_player
from indie_player import arg, command, frame, read_frame

SPEED = 0.25  # distance per unit of action
MOVES = 6  # a rover is out of time after this many moves since its restart
HALF = 1.0  # a rover is done when it leaves the square |x|, |y| <= HALF


class CdrReader(indie_player.CdrReader):
    """indie_player's CDR reader, plus sequences of any element format."""

    def seq(self, fmt: str) -> list[Any]:
        return [self._take(fmt) for _ in range(self._take("I"))]


class CdrWriter(indie_player.CdrWriter):
    """indie_player's CDR writer, with its aligned write public."""

    def put(self, fmt: str, value: Any) -> None:
        self._put(fmt, value)


class Rover:
    """One agent's world: a point moved by ``SPEED * [dx, dy]`` per step (``gear`` is only shown, in ``vel[2]``)."""

    def __init__(self, agent: int) -> None:
        self.agent = agent
        self.px = self.py = 0.0
        self.vel = [0.0, 0.0, 0.0]
        self.moves = 0

    def restart(self, seed: int) -> None:
        gen = random.Random(seed if seed >= 0 else None)
        self.px, self.py = gen.uniform(-0.5, 0.5), gen.uniform(-0.5, 0.5)
        self.vel, self.moves = [0.0, 0.0, 0.0], 0

    def move(self, gear: int, dx: float, dy: float) -> None:
        self.px += SPEED * dx
        self.py += SPEED * dy
        self.vel = [dx, dy, float(gear)]
        self.moves += 1

    def write(self, out: CdrWriter) -> None:
        out.put("d", self.px)
        out.put("d", self.py)
        for v in self.vel:
            out.put("f", v)
        out.put("f", -math.hypot(self.px, self.py))
        out.put("?", max(abs(self.px), abs(self.py)) > HALF)
        out.put("?", self.moves >= MOVES)
        out.put("i", self.agent)


class Fleet:
    """Every rover of the player and its tick (batch calls answered)."""

    def __init__(self, agents: int) -> None:
        self.rovers = [Rover(i) for i in range(agents)]
        self.tick = 0

    def write_states(self, out: CdrWriter) -> None:
        out.put("I", len(self.rovers))
        for rover in self.rovers:
            rover.write(out)

    def reset(self, payload: bytes) -> tuple[dict[str, Any], bytes]:
        """Decode an indie_msgs/RestartSome request, restart the listed rovers, answer every state."""
        cdr = CdrReader(payload)
        request: dict[str, Any] = {"level": cdr.string(), "agents": cdr.seq("i"), "seeds": cdr.seq("q")}
        request["bytes_left"] = cdr.left()
        if len(request["seeds"]) != len(request["agents"]):
            raise ValueError(f"one seed per agent expected: {request}")
        for agent, seed in zip(request["agents"], request["seeds"], strict=True):
            self.rovers[agent].restart(seed)
        self.tick += 1
        out = CdrWriter()
        self.write_states(out)
        out.put("I", self.tick)
        return request, bytes(out.buf)

    def step(self, payload: bytes) -> tuple[dict[str, Any], bytes]:
        """Decode an indie_msgs/ActAll request, move every rover by its part of ``actions``, answer every state."""
        cdr = CdrReader(payload)
        request: dict[str, Any] = {"gear": cdr.u8(), "actions": cdr.seq("f")}
        request["bytes_left"] = cdr.left()
        actions = request["actions"]
        if len(actions) != 2 * len(self.rovers):
            raise ValueError(f"expected {2 * len(self.rovers)} action values (agent-major), got {len(actions)}")
        for i, rover in enumerate(self.rovers):
            rover.move(request["gear"], actions[2 * i], actions[2 * i + 1])
        self.tick += 1
        out = CdrWriter()
        out.put("I", self.tick)
        self.write_states(out)
        return request, bytes(out.buf)


def serve(sock: socket.socket, services: dict[str, str], fleet: Fleet, record: str) -> None:
    """Answer ``__request`` + request frames until the bridge hangs up."""
    while True:
        destination, payload = read_frame(sock)
        if destination != "__request":
            continue  # keepalives, __handshake, logs
        srv_id = json.loads(payload.rstrip(b"\x00").decode("utf-8"))["srv_id"]
        topic, request_bytes = read_frame(sock)
        kind = services[topic]
        request, response = (fleet.reset if kind == "reset" else fleet.step)(request_bytes)
        with open(record, "a", encoding="utf-8") as out:
            out.write(json.dumps({"service": kind, "request": request}) + "\n")
        sock.sendall(command("__response", {"srv_id": srv_id}) + frame(topic, response))


def main(argv: list[str]) -> int:
    """Other launcher arguments (-batchmode, -nographics, --time-scale, ...) are ignored."""
    host, port = arg(argv, "--ros-ip", "127.0.0.1"), int(arg(argv, "--ros-port", "10000"))
    prefix = f"/{arg(argv, '--name', 'indie')}_{arg(argv, '--environment-id', '0')}"
    record = arg(argv, "--record", "indie_batch_calls.jsonl")
    fleet = Fleet(int(arg(argv, "--agents", "1")))
    with open(arg(argv, "-logFile", "indie_batch_player.log"), "a", encoding="utf-8") as log:
        log.write(f"indie batch player of {len(fleet.rovers)} rovers connecting to {host}:{port}\n")
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
    for topic, message_name in (
        (f"{prefix}/step", "indie_msgs/ActAll"),
        (f"{prefix}/reset", "indie_msgs/RestartSome"),
    ):
        sock.sendall(command("__unity_service", {"topic": topic, "message_name": message_name}))
    try:
        serve(sock, services, fleet, record)
    except (EOFError, ConnectionError):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
