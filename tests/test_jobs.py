"""`ray job submit` and `ray-lab submit` against a real head node started with `ray start --head` in a temp dir."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = "configs/cartpole_ppo.yaml"
SHORT = [
    "training.use_wandb=false",
    "training.training.total_timesteps=1024",
    "training.training.log_points=0",
    "training.training.eval.num_evals=1",
    "training.training.eval.num_episodes=2",
    "workers.num_workers=1",
    "workers.envs_per_worker=2",
    "learner.num_cpus=0.5",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _our_pids(marker: str) -> list[int]:
    """Processes whose command line names our temp dir (raylet, GCS, dashboard, workers of this head)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="module")
def head() -> Iterator[tuple[str, dict[str, str]]]:
    """A head node on loopback in its own temp dir and process group; every process of it is killed after."""
    temp_dir = tempfile.mkdtemp(prefix="rl_j_", dir="/tmp")
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (conftest, for multi-node test clusters) keeps a head's job agent
    # from registering, so the job API would never accept a job: leave it out for this head.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", WANDB_MODE="offline")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the job's `python` is this venv's
    dashboard = free_port()
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address=127.0.0.1"]
    cmd += [f"--port={free_port()}", f"--temp-dir={temp_dir}", "--num-cpus=2", "--disable-usage-stats"]
    cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}"]
    # Fixed default ports would collide with any other Ray on this machine (the agent then never registers).
    for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port"):
        cmd.append(f"--{flag}={free_port()}")
    cmd += [f"--metrics-export-port={free_port()}", f"--ray-client-server-port={free_port()}"]
    start = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, start_new_session=True)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _our_pids(temp_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(1.0)
        subprocess.run(["rm", "-rf", temp_dir], check=False)


def ray_lab(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode not in (0, 2):
        print(result.stdout[-4000:], result.stderr[-4000:])
    return result


def sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def job_count(address: str, env: dict[str, str]) -> int:
    code = f"from ray.job_submission import JobSubmissionClient as C; print(len(C({address!r}).list_jobs()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip().splitlines()[-1])


def test_ray_lab_submit_follows_a_training_to_success(head: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    address, env = head
    out = tmp_path / "out"
    result = ray_lab(
        [
            "submit",
            "--address",
            address,
            "--config",
            CARTPOLE,
            "--follow",
            *sets([*SHORT, f"experiment.output_dir={out}"]),
        ],
        env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Submitted train job" in result.stdout and f"{address}/#/jobs/" in result.stdout
    assert "training finished" in result.stdout  # the job's own logs, streamed
    (run,) = (out / "CartPole-v1" / "ppo").iterdir()
    assert (run / "model.zip").is_file() and json.loads((run / "summary.json").read_text())["timesteps"] >= 1024


def test_ray_lab_submit_exits_nonzero_when_the_job_fails(head: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    address, env = head
    missing = tmp_path / "no_such_model.zip"  # valid config, but the job's own check fails on the cluster
    args = sets([*SHORT, f"experiment.output_dir={tmp_path / 'out'}", f"training.pretrained_model={missing}"])
    result = ray_lab(["submit", "--address", address, "--config", CARTPOLE, "--follow", *args], env)
    assert result.returncode == 1
    assert "FAILED" in result.stderr and "pretrained_model" in result.stdout


def test_bad_config_is_rejected_before_submission(head: tuple[str, dict[str, str]]) -> None:
    address, env = head
    before = job_count(address, env)
    started = time.monotonic()
    result = ray_lab(["submit", "--address", address, "--config", CARTPOLE, "--set", "workers.num_workers=0"], env)
    assert result.returncode == 2 and "workers.num_workers" in result.stderr
    assert time.monotonic() - started < 30 and job_count(address, env) == before


def test_plain_ray_job_submit_runs_a_training(head: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    address, env = head
    out = tmp_path / "out"
    entry = ["python", "-m", "ray_lab", "train", "--config", CARTPOLE, *sets([*SHORT, f"experiment.output_dir={out}"])]
    cmd = [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", address, "--working-dir", "."]
    result = subprocess.run([*cmd, "--", *entry], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "succeeded" in (result.stdout + result.stderr).lower()
    (run,) = (out / "CartPole-v1" / "ppo").iterdir()
    assert (run / "model.zip").is_file()


def test_relative_output_dir_on_a_cluster_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray_lab.cli.ray_connect import storage_warning

    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert "/shared/experiments" in (storage_warning("experiments") or "")
    assert storage_warning("/shared/experiments") is None
    monkeypatch.delenv("RAY_ADDRESS")
    assert storage_warning("experiments") is None  # a local run: the folder is right here
