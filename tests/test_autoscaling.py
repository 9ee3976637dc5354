"""Autoscaling, end to end: a training that needs a GPU and `unity` slots the head lacks makes Ray's
autoscaler start worker nodes of the right types, trains to the end, and the idle nodes go away again.

The cluster is Ray's fake multi-node provider (`cluster/fake_multinode.yaml`): the real autoscaler, with
local raylet processes as nodes. The head is started with `ray start --head` in a session of its own
(`start_new_session`), and the autoscaler starts the fake nodes from inside that session, so every
process of this cluster (workers included) carries the head's session id: teardown kills exactly those
PIDs, plus anything whose command line names this test's temp dir. Never a bare `ray stop`.

The pytest process may hold a local Ray of its own (conftest's `ray_session`), so this test never calls
`ray.init`: a subprocess driver polls `ray.nodes()` and the training runs as `python -m ray_lab train`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FAKE_CLUSTER_CONFIG = REPO / "cluster" / "fake_multinode.yaml"
HEAD_START_TIMEOUT_S = 90.0
TRAIN_TIMEOUT_S = 150.0
SCALE_DOWN_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 0.5

# A driver that connects once and writes the cluster's nodes as a JSON line every POLL_INTERVAL_S.
NODE_POLLER = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
with open(sys.argv[2], "a") as out:
    while True:
        nodes = [
            {"alive": bool(n["Alive"]), "resources": n["Resources"], "head": "node:__internal_head__" in n["Resources"]}
            for n in ray.nodes()
        ]
        out.write(json.dumps({"t": time.time(), "nodes": nodes}) + "\\n")
        out.flush()
        time.sleep(float(sys.argv[3]))
"""


@dataclass
class FakeCluster:
    """A running fake autoscaling cluster: where it listens, where it keeps its files, how to reach it."""

    address: str
    temp_dir: Path
    env: dict[str, str]

    def monitor_log(self) -> str:
        """The autoscaler's log (launches and removals), for assertions and failure messages."""
        logs = sorted(self.temp_dir.glob("session_*/logs/monitor.log"))
        return logs[-1].read_text(errors="replace") if logs else "(no monitor.log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ray_cli() -> list[str]:
    ray_script = Path(sys.executable).with_name("ray")
    return [str(ray_script)] if ray_script.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
    )
    env.pop("RAY_ADDRESS", None)
    env.pop("WANDB_API_KEY", None)
    return env


def _our_pids(session_id: int, temp_dir: Path) -> list[int]:
    """Live (non-zombie) processes in the head's session, or naming our temp dir on their command line."""
    markers = (f"{temp_dir}/".encode(), f"{temp_dir}\0".encode())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
        if fields[0] != "Z" and (int(fields[3]) == session_id or any(m in cmdline for m in markers)):
            pids.append(int(entry.name))
    return pids


def _kill_cluster(session_id: int, temp_dir: Path) -> None:
    """SIGTERM every process of this cluster, then SIGKILL what is still alive after a grace period."""
    for sig, grace_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for pid in _our_pids(session_id, temp_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while _our_pids(session_id, temp_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _our_pids(session_id, temp_dir):
            return
    leftover = _our_pids(session_id, temp_dir)
    assert not leftover, f"processes of the fake cluster survived SIGKILL: {leftover}"


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    temp_dir = Path(tempfile.mkdtemp(prefix="rl_as_", dir="/tmp"))
    port = _free_port()
    config = yaml.safe_load(FAKE_CLUSTER_CONFIG.read_text())
    config["provider"]["gcs_address"] = f"127.0.0.1:{port}"  # where the fake nodes join
    autoscaling_config = temp_dir / "fake_multinode.yaml"
    autoscaling_config.write_text(yaml.safe_dump(config))
    head = config["available_node_types"]["ray.head.default"]["resources"]
    env = _base_env()
    head_env = {**env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    command = [
        *_ray_cli(),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        f"--temp-dir={temp_dir}",
        f"--autoscaling-config={autoscaling_config}",
        f"--num-cpus={head['CPU']}",
        f"--num-gpus={head['GPU']}",
        "--object-store-memory=100000000",
        "--include-dashboard=false",
        "--disable-usage-stats",
        # The defaults of these are fixed ports another cluster on this machine may hold.
        f"--dashboard-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
    ]
    # Its own session: the daemons `ray start` leaves behind, and the fake nodes the autoscaler starts,
    # all keep this session id, which is how teardown finds them.
    head_process = subprocess.Popen(
        command, env=head_env, cwd=temp_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        try:
            output, _ = head_process.communicate(timeout=HEAD_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            head_process.kill()
            output, _ = head_process.communicate()
        assert head_process.returncode == 0, f"ray start --head failed:\n{output.decode(errors='replace')[-4000:]}"
        yield FakeCluster(address=f"127.0.0.1:{port}", temp_dir=temp_dir, env=env)
    finally:
        try:
            _kill_cluster(head_process.pid, temp_dir)
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _training_config(output_dir: Path) -> dict[str, Any]:
    """A short CartPole PPO run that needs 1 GPU (learner) and 3 `unity` slots (2 train + 1 eval worker)."""
    return {
        "experiment": {"name": "autoscale", "output_dir": str(output_dir)},
        "environment": {"id": "CartPole-v1"},
        "training": {
            "algorithm": "ppo",
            "use_wandb": False,
            "algorithm_parameters": {"policy": "MlpPolicy", "n_steps": 64, "batch_size": 64, "n_epochs": 2},
            "architecture": {"net_arch": [32]},
            "training": {
                "total_timesteps": 2048,
                "device": "cpu",  # the fake node's GPU is logical: reserve it, but train on the CPU
                "log_points": 0,
                "eval": {"num_episodes": 2, "num_evals": 1},
            },
        },
        "workers": {"num_workers": 2, "envs_per_worker": 4, "eval_envs_per_worker": 2, "resources": {"unity": 1}},
        # Long enough for the autoscaler to start both nodes, instead of failing on the head's resources.
        "learner": {"num_gpus": 1, "placement_timeout_s": 120},
    }


def _read_samples(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # the last line may be half-written


def _alive_workers(sample: dict[str, Any], resource: str | None = None) -> int:
    """Alive non-head nodes in one sample, optionally only those advertising `resource`."""
    return sum(
        1
        for node in sample["nodes"]
        if node["alive"] and not node["head"] and (resource is None or node["resources"].get(resource, 0) > 0)
    )


def _first_seen(samples: list[dict[str, Any]], resource: str) -> float:
    """When a worker node advertising `resource` was first seen alive (inf: never)."""
    return min((s["t"] for s in samples if _alive_workers(s, resource)), default=float("inf"))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.timeout(420)
def test_training_scales_gpu_and_unity_nodes_up_then_down(fake_cluster: FakeCluster) -> None:
    train_yaml = fake_cluster.temp_dir / "train.yaml"
    output_dir = fake_cluster.temp_dir / "runs"
    train_yaml.write_text(yaml.safe_dump(_training_config(output_dir)))
    samples_path = fake_cluster.temp_dir / "nodes.jsonl"
    poller = subprocess.Popen(
        [sys.executable, "-c", NODE_POLLER, fake_cluster.address, str(samples_path), str(POLL_INTERVAL_S)],
        env=fake_cluster.env,
        cwd=fake_cluster.temp_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _read_samples(samples_path):
            assert poller.poll() is None, "the node poller could not connect to the fake cluster"
            assert time.monotonic() < deadline, "the node poller wrote nothing within 60 s"
            time.sleep(0.2)
        assert _alive_workers(_read_samples(samples_path)[-1]) == 0, "worker nodes before any demand"

        started_at = time.time()
        try:
            train = subprocess.run(
                [sys.executable, "-m", "ray_lab", "train", "--config", str(train_yaml)],
                env={**fake_cluster.env, "RAY_ADDRESS": fake_cluster.address},
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=TRAIN_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            pytest.fail(
                f"training did not finish within {TRAIN_TIMEOUT_S:g} s:\n{output[-4000:]}\n"
                f"--- monitor.log ---\n{fake_cluster.monitor_log()[-3000:]}"
            )
        trained_at = time.time()
        assert train.returncode == 0, (
            f"training failed (exit {train.returncode}):\n{train.stdout[-4000:]}\n{train.stderr[-4000:]}\n"
            f"--- monitor.log ---\n{fake_cluster.monitor_log()[-3000:]}"
        )
        models = list(output_dir.glob("CartPole-v1/ppo/autoscale_*/model.zip"))
        assert len(models) == 1, f"expected one run folder with model.zip under {output_dir}: {models}"

        samples = _read_samples(samples_path)
        joined = {name: _first_seen(samples, name) - started_at for name in ("GPU", "unity")}
        assert joined["GPU"] < float("inf"), "no node with a GPU joined"
        assert joined["unity"] < float("inf"), "no node with `unity` joined"
        assert max(_alive_workers(s) for s in samples) <= 3, "more nodes than the config's max_workers"

        # Scale-down: the idle worker nodes are terminated after idle_timeout_minutes.
        deadline = time.monotonic() + SCALE_DOWN_TIMEOUT_S
        while True:
            after = [s for s in _read_samples(samples_path) if s["t"] > trained_at]
            if after and _alive_workers(after[-1]) == 0:
                break
            assert poller.poll() is None, "the node poller died"
            assert time.monotonic() < deadline, (
                f"worker nodes still alive {SCALE_DOWN_TIMEOUT_S:g} s after training "
                f"({_alive_workers(after[-1]) if after else '?'} alive)\n"
                f"--- monitor.log ---\n{fake_cluster.monitor_log()[-3000:]}"
            )
            time.sleep(POLL_INTERVAL_S)
        scale_down_s = time.time() - trained_at
        # The monitor writes its event summary ("Adding ...", "Removing ...") on its next update, seconds
        # after the nodes changed: wait for it rather than read the log once.
        expected = []
        for node_type in ("gpu_learner", "simulator"):
            expected.append(rf"Adding \d+ node\(s\) of type {node_type}\.|Launching \d+ nodes, type {node_type}\.")
            expected.append(rf"Removing \d+ nodes of type {node_type} \(idle\)")
        deadline = time.monotonic() + 60
        missing = expected
        while missing and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            monitor_log = fake_cluster.monitor_log()
            missing = [pattern for pattern in expected if not re.search(pattern, monitor_log)]
        assert not missing, f"the monitor log lacks {missing}:\n{fake_cluster.monitor_log()[-3000:]}"
        print(
            f"GPU node up {joined['GPU']:.1f} s and unity node up {joined['unity']:.1f} s after the training started; "
            f"training done after {trained_at - started_at:.1f} s; workers gone {scale_down_s:.1f} s after that"
        )
    finally:
        _stop(poller)
