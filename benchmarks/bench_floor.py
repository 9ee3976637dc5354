"""The machine's floor for benchmark B: how close to the ideal any Python client can come.

Benchmark B asks RayVecEnv to step 16 simulator processes that each take 10 ms per step at
>= 90 % of the ideal (1,600 steps/s). This script measures what is left of that budget before
ray-lab does anything: it drives echo players with the least Python a correct ROS-TCP client
can run per env step, and nothing else (no Ray, no VecEnv bookkeeping, no timeouts, no field
mapping).

Per vector step the client sends each player a ``__request {"srv_id"}`` frame and the CDR request
(ROS-TCP framing, ``shared/reference/ros_tcp_protocol.md``), then collects every ``__response``
and CDR reply with one selector, decodes the state with numpy, and fills the observation batch.
A player answers ``--latency-ms`` after the request arrived, like ``reference_sim --light``.

Layouts:
- ``1 client``: the whole batch in one process;
- ``driver + 2 workers``: RayVecEnv's default shape for 16 sims (2 workers x 8). The driver
  wakes both worker processes over a socketpair, each steps its 8 players, and the driver waits
  for both, as a synchronous vector step does.

Players are minimal Python loops, or a 40-line C program when a C compiler (``cc``) is found.
Linux only (``fork``, ``/proc``). Run from the repository root::

    .venv/bin/python benchmarks/bench_floor.py --latency-ms 10 --players 16 --steps 400 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STATE_SIZE = 12
CDR_HEADER = b"\x00\x01\x00\x00"
C_PLAYER = r"""
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int put(char*p,const char*d,uint32_t dn,const char*pl,uint32_t pn){
  memcpy(p,&dn,4);memcpy(p+4,d,dn);memcpy(p+4+dn,&pn,4);memcpy(p+8+dn,pl,pn);return 8+dn+pn;}
int main(int argc,char**argv){
  double lat=atof(argv[1])/1000; static char buf[1<<16], out[512]; size_t have=0;
  const char*cmd="{\"srv_id\":1001}"; char cdr[8+4*12+5]={0,1,0,0,12,0,0,0};
  int n=put(out,"__response",10,cmd,strlen(cmd)); n+=put(out+n,"/nav_0/step",11,cdr,sizeof cdr);
  for(;;){ssize_t r=recv(3,buf+have,sizeof buf-have,0); if(r<=0) return 0; double t=now(); have+=r;
    for(;;){uint32_t dn,pn; if(have<4) break; memcpy(&dn,buf,4); if(have<8+dn) break;
      memcpy(&pn,buf+4+dn,4); size_t len=8+dn+pn; if(have<len) break;
      int service=!(dn>=2&&buf[4]=='_'&&buf[5]=='_'); memmove(buf,buf+len,have-len); have-=len;
      if(!service) continue;
      double rem=t+lat-now();
      if(rem>0){struct timespec ts={(time_t)rem,(long)((rem-(time_t)rem)*1e9)}; nanosleep(&ts,0);}
      send(3,out,n,0);}}}
"""


@dataclass
class Outcome:
    """One timed window: wall time per vector step and CPU per env step, by role."""

    step_ms: float
    client_us: float
    player_us: float


def frame(destination: bytes, payload: bytes) -> bytes:
    return struct.pack("<I", len(destination)) + destination + struct.pack("<I", len(payload)) + payload


def take_frames(buf: bytearray) -> list[tuple[bytes, bytes]]:
    """Remove and return the complete frames at the start of ``buf``."""
    frames = []
    while len(buf) >= 4:
        dn = struct.unpack_from("<I", buf, 0)[0]
        if len(buf) < 8 + dn:
            break
        pn = struct.unpack_from("<I", buf, 4 + dn)[0]
        if len(buf) < 8 + dn + pn:
            break
        frames.append((bytes(buf[4 : 4 + dn]), bytes(buf[8 + dn : 8 + dn + pn])))
        del buf[: 8 + dn + pn]
    return frames


def python_player(sock: socket.socket, latency_s: float) -> None:
    """Answer each service request ``latency_s`` after it arrived with a fixed state (never returns)."""
    state = struct.pack("<I", STATE_SIZE) + np.zeros(STATE_SIZE, np.float32).tobytes() + struct.pack("<f?", 0.0, False)
    buf = bytearray()
    while data := sock.recv(65536):
        arrived = time.monotonic()
        buf += data
        for destination, payload in take_frames(buf):
            if destination.startswith(b"__"):
                srv_id = json.loads(payload.rstrip(b"\0"))["srv_id"]
                continue
            time.sleep(max(0.0, arrived + latency_s - time.monotonic()))
            answer = json.dumps({"srv_id": srv_id}).encode() + b"\0"
            sock.sendall(frame(b"__response", answer) + frame(destination, CDR_HEADER + state))
    os._exit(0)


def spawn_player(latency_s: float, c_binary: Path | None) -> tuple[int, socket.socket]:
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        if c_binary is not None:
            os.dup2(theirs.fileno(), 3)
            os.execv(str(c_binary), [str(c_binary), str(latency_s * 1000)])
        python_player(theirs, latency_s)
    theirs.close()
    return pid, ours


class Client:
    """The least a correct ROS-TCP client does per vector step over its players."""

    def __init__(self, socks: list[socket.socket], first: int) -> None:
        self.socks = socks
        self.services = [f"/nav_{first + i}/step".encode() for i in range(len(socks))]
        self.buffers = [bytearray() for _ in socks]
        self.selector = selectors.DefaultSelector()
        for i, sock in enumerate(socks):
            self.selector.register(sock, selectors.EVENT_READ, i)
        self.srv_id = 1000
        self.actions = np.random.default_rng(0).random((len(socks), 2), dtype=np.float32)

    def step(self) -> np.ndarray:
        for i, sock in enumerate(self.socks):
            self.srv_id += 1
            request = json.dumps({"srv_id": self.srv_id}).encode() + b"\0"
            cdr = CDR_HEADER + struct.pack("<I", 2) + self.actions[i].tobytes()
            sock.sendall(frame(b"__request", request) + frame(self.services[i], cdr))
        obs = np.empty((len(self.socks), STATE_SIZE), np.float32)
        rewards = np.empty(len(self.socks), np.float32)
        infos: list[dict[str, object]] = [{} for _ in self.socks]
        left = len(self.socks)
        while left:
            for key, _ in self.selector.select():
                i = key.data
                self.buffers[i] += self.socks[i].recv(65536)
                for destination, payload in take_frames(self.buffers[i]):
                    if destination == b"__response":
                        infos[i]["srv_id"] = json.loads(payload.rstrip(b"\0"))["srv_id"]
                        continue
                    n = struct.unpack_from("<I", payload, 4)[0]
                    obs[i] = np.frombuffer(payload, np.float32, n, 8)
                    rewards[i], infos[i]["terminated"] = struct.unpack_from("<f?", payload, 8 + 4 * n)
                    left -= 1
        return obs


def worker_process(link: socket.socket, client: Client) -> None:
    """Step ``client`` once per byte from the driver, answer one byte; exit when the driver closes."""
    while link.recv(1):
        client.step()
        link.sendall(b"d")
    os._exit(0)


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Layout:
    """Running players and clients; ``step()`` is one synchronous vector step."""

    player_pids: list[int]
    client_pids: list[int]
    links: list[socket.socket]
    local: Client | None

    def step(self) -> None:
        if self.local is not None:
            self.local.step()
            return
        for link in self.links:
            link.sendall(b"s")
        for link in self.links:
            link.recv(1)

    def close(self) -> None:
        for sock in [*self.links, *(self.local.socks if self.local else [])]:
            sock.close()
        for pid in [*self.client_pids, *self.player_pids]:
            if pid == os.getpid():
                continue  # the driver is the client in the 1-client layout
            os.kill(pid, 15)
            os.waitpid(pid, 0)


def start(players: int, workers: int, latency_s: float, c_binary: Path | None) -> Layout:
    spawned = [spawn_player(latency_s, c_binary) for _ in range(players)]
    pids, socks = [p for p, _ in spawned], [s for _, s in spawned]
    if workers == 0:
        return Layout(pids, [os.getpid()], [], Client(socks, 0))
    share, links, client_pids = players // workers, [], []
    for w in range(workers):
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            mine = socks[w * share : (w + 1) * share]
            worker_process(theirs, Client(mine, w * share))
        theirs.close()
        links.append(ours)
        client_pids.append(pid)
    for sock in socks:
        sock.close()
    return Layout(pids, [os.getpid(), *client_pids], links, None)


def measure(layout: Layout, steps: int, players: int) -> Outcome:
    for _ in range(20):
        layout.step()
    clients0, players0, t0 = cpu_seconds(layout.client_pids), cpu_seconds(layout.player_pids), time.perf_counter()
    for _ in range(steps):
        layout.step()
    wall = time.perf_counter() - t0
    client_cpu = cpu_seconds(layout.client_pids) - clients0
    player_cpu = cpu_seconds(layout.player_pids) - players0
    return Outcome(1e3 * wall / steps, 1e6 * client_cpu / steps / players, 1e6 * player_cpu / steps / players)


def compile_c_player(folder: Path) -> Path | None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print("no C compiler (cc) found: the C-player rows are skipped", file=sys.stderr)
        return None
    source, binary = folder / "echo_player.c", folder / "echo_player"
    source.write_text(C_PLAYER)
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def run_row(args: argparse.Namespace, workers: int, c_binary: Path | None) -> dict[str, float | str]:
    """Time one layout; print its Markdown row (or, with ``--json``, a ``RESULT {json}`` line)."""
    latency_s = args.latency_ms / 1000
    layout = start(args.players, workers, latency_s, c_binary)
    try:
        outcomes = [measure(layout, args.steps, args.players) for _ in range(args.repeats)]
    finally:
        layout.close()
    step_ms = statistics.median(o.step_ms for o in outcomes)
    row: dict[str, float | str] = {
        "players": "C" if c_binary else "Python",
        "layout": "1 client" if workers == 0 else f"driver + {workers} workers",
        "step_ms": round(step_ms, 3),
        "steps_per_s": round(args.players * 1000 / step_ms, 1),
        "of_ideal": round(args.latency_ms / step_ms, 4),
        "client_us": round(statistics.median(o.client_us for o in outcomes)),
        "player_us": round(statistics.median(o.player_us for o in outcomes)),
    }
    if args.json:
        print("RESULT " + json.dumps(row), flush=True)
    else:
        print(
            f"| {row['players']} players | {row['layout']} | {step_ms:.3f} ms | {100 * float(row['of_ideal']):.1f} % "
            f"| {row['client_us']} µs | {row['player_us']} µs |",
            flush=True,
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=10.0, help="each player's step time")
    parser.add_argument("--players", type=int, default=16, help="simulator processes (even)")
    parser.add_argument("--steps", type=int, default=400, help="vector steps per timed window")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows per row (the median is shown)")
    parser.add_argument("--workers-only", action="store_true", help="only the driver + 2 workers layout")
    parser.add_argument("--json", action="store_true", help="print each row as a RESULT {json} line")
    args = parser.parse_args()
    if args.players < 2 or args.players % 2:
        parser.error(f"--players must be an even number >= 2, got {args.players}")
    if not args.json:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load}")
        print(f"ideal: {args.latency_ms:g} ms per vector step ({args.players} x {1000 / args.latency_ms:g} steps/s)")
        print("| players | layout | per vector step | of ideal | client CPU per env step | player CPU per step |")
        print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="ray_lab_floor_") as folder:
        c_binary = compile_c_player(Path(folder))
        for binary in [None, c_binary] if c_binary else [None]:
            for workers in (2,) if args.workers_only else (0, 2):
                run_row(args, workers, binary)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
