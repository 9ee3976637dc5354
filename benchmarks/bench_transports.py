"""Per-step round trip of the two env transports against the reference simulator (one process each).

- ROS-TCP: a :class:`~unity_workers.ros_tcp.RosTcpBridge` calls ``/nav_0/step`` on the simulator
  (which connected to it as Unity does); one step is what ``UnityEnv`` does on this path:
  ``NavAdapter.make_step_request`` + ``call_unity_service`` + ``NavAdapter.observation``/``reward``.
  The simulator also publishes its ``LaserScan`` before each answer, as the real path does.
- gRPC: :meth:`~unity_workers.grpc_env.GrpcSession.step` against the simulator started with
  ``--protocol grpc`` (observation and reward are computed in the simulator).

Both simulators run headless (``-batchmode -nographics``) with the same seeded random actions; an
episode that ends is reset outside the timed calls. The transports alternate in ``--rounds``
rounds so that load changes on the machine hit both alike. A third row times an empty ``Spec`` call
on the gRPC simulator: the gRPC runtime's own floor. Run (from the repository root)::

    .venv/bin/python benchmarks/bench_transports.py --steps 2000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from unity_workers.envs.nav_adapter import NavAdapter
from unity_workers.grpc_env import DEFAULT_MAX_MESSAGE_BYTES, GrpcSession, GrpcSessionFactory
from unity_workers.grpc_env import ray_lab_env_pb2 as pb
from unity_workers.grpc_env import ray_lab_env_pb2_grpc as pb_grpc
from unity_workers.grpc_env.protocol import channel_options
from unity_workers.launcher import PlayerOptions, UnityProcess
from unity_workers.reference_sim import INTERFACES_DIR
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge

SIM = (sys.executable, "-m", "unity_workers.reference_sim")
STEP, RESET = "/nav_0/step", "/nav_0/reset"
FLOOR = "gRPC empty call (Spec), for reference"


class RosTcpPath:
    """The ROS-TCP transport: bridge + simulator process, stepped as UnityEnv does."""

    def __init__(self, log_dir: Path) -> None:
        self.adapter = NavAdapter()
        self.bridge = RosTcpBridge(MessageTypes(INTERFACES_DIR), name="bench-bridge").start()
        options = PlayerOptions(command=SIM, log_dir=log_dir, worker_index=0, extra_args=("--seed", "0"))
        self.process = UnityProcess(options).start(self.bridge.port)
        self.process.wait_connected(lambda: self.bridge.connected, 30)
        for service in (STEP, RESET):
            if not self.bridge.wait_for_service(service, 10):
                raise TimeoutError(f"the simulator did not register {service}")
        self.previous: Any = None

    def reset(self, seed: int) -> None:
        self.previous = self.bridge.call_unity_service(RESET, self.adapter.make_reset_request(seed), 10)

    def step(self, action: np.ndarray) -> bool:
        response = self.bridge.call_unity_service(STEP, self.adapter.make_step_request(action), 10)
        self.adapter.reward(response, self.previous)
        self.adapter.observation(response)
        self.previous = response
        return self.adapter.terminated(response) or self.adapter.truncated(response)

    def close(self) -> None:
        self.process.close()
        self.bridge.close()


class GrpcPath:
    """The gRPC transport: GrpcSession + simulator process serving ``--protocol grpc``."""

    def __init__(self, log_dir: Path) -> None:
        self.session: GrpcSession = GrpcSessionFactory().open(1)
        args = (*self.session.player_args, "--seed", "0")
        options = PlayerOptions(command=SIM, log_dir=log_dir, worker_index=1, extra_args=args)
        self.process = UnityProcess(options).start(self.session.port)
        self.session.wait_ready(self.process, 30)
        self.channel = grpc.insecure_channel(self.session.address, options=channel_options(DEFAULT_MAX_MESSAGE_BYTES))
        self.stub = pb_grpc.EnvServiceStub(self.channel)

    def reset(self, seed: int) -> None:
        self.session.reset(seed, 10)

    def step(self, action: np.ndarray) -> bool:
        _, _, terminated, truncated, _ = self.session.step(action, 10)
        return terminated or truncated

    def close(self) -> None:
        self.channel.close()
        self.session.close()
        self.process.close()


class GrpcFloor:
    """An empty ``Spec`` call on the gRPC simulator: the gRPC runtime's own round trip, for reference."""

    def __init__(self, grpc_path: GrpcPath) -> None:
        self.stub = grpc_path.stub

    def reset(self, seed: int) -> None:
        pass

    def step(self, action: np.ndarray) -> bool:
        self.stub.Spec(pb.SpecRequest(), timeout=10)
        return False

    def close(self) -> None:
        pass


def run(path: RosTcpPath | GrpcPath | GrpcFloor, actions: np.ndarray, seed: int) -> list[int]:
    """Step through ``actions``; the duration of each step call in nanoseconds (resets not timed)."""
    durations = []
    path.reset(seed)
    for action in actions:
        start = time.perf_counter_ns()
        done = path.step(action)
        durations.append(time.perf_counter_ns() - start)
        if done:
            seed += 1
            path.reset(seed)
    return durations


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return platform.processor() or "unknown"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return names[0] if names else "unknown"


def table(results: dict[str, list[int]]) -> str:
    """The markdown table: median, p90 and p99 in microseconds, steps/s and ratios to ROS-TCP."""
    rows = [
        "| transport | median (µs) | p90 (µs) | p99 (µs) | steps/s | median vs ROS-TCP |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base = statistics.median(results["ROS-TCP"])
    for name, samples in results.items():
        us = np.asarray(samples) / 1000.0
        median, p90, p99 = (float(np.percentile(us, q)) for q in (50, 90, 99))
        rate = len(samples) / (sum(samples) / 1e9)
        rows.append(
            f"| {name} | {median:,.0f} | {p90:,.0f} | {p99:,.0f} | {rate:,.0f} | {median * 1000.0 / base:.2f}x |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per transport (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed steps per transport first")
    parser.add_argument("--rounds", type=int, default=4, help="alternate the transports this many times")
    ns = parser.parse_args()
    if ns.steps < ns.rounds or ns.rounds < 1 or ns.warmup < 0:
        parser.error(f"need --steps >= --rounds >= 1 and --warmup >= 0, got {ns.steps}, {ns.rounds}, {ns.warmup}")
    rng = np.random.default_rng(0)
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, {platform.platform()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench_transports_") as tmp:
        paths: dict[str, RosTcpPath | GrpcPath | GrpcFloor] = {}
        results: dict[str, list[int]] = {"ROS-TCP": [], "gRPC": [], FLOOR: []}
        try:
            paths["ROS-TCP"] = RosTcpPath(Path(tmp))
            paths["gRPC"] = grpc_path = GrpcPath(Path(tmp))
            paths[FLOOR] = GrpcFloor(grpc_path)
            warm = rng.uniform(-1, 1, size=(ns.warmup, 2)).astype(np.float32)
            for path in paths.values():
                run(path, warm, seed=10_000)
            per_round = ns.steps // ns.rounds
            for index in range(ns.rounds):
                actions = rng.uniform(-1, 1, size=(per_round, 2)).astype(np.float32)
                for name, path in paths.items():
                    results[name] += run(path, actions, seed=index * 1000)
        finally:
            for path in paths.values():
                path.close()
    print(f"{len(results['gRPC'])} timed steps per transport after {ns.warmup} warm-up steps, {ns.rounds} rounds\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
