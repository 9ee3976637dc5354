"""No simulator outlives its worker: real reference-sim players, real Ray actors, real signals.

Processes are found as descendants of the worker (or launcher) process this test started, through
``/proc``: a player's guard is a child of the worker, the player a child of its guard.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from ray_lab.envs.factory import EnvFactory, UnityPlacement
from ray_lab.workers import RayVecEnv
from ray_lab.workers.errors import WorkerError, WorkerTimeoutError
from ray_lab.workers.options import WorkerOptions
from unity_workers.launcher import LaunchConfigError, PlayerOptions, UnityProcess
from unity_workers.spec import UnitySpec

ACTION = np.array([0.5, 0.2], dtype=np.float32)
GONE_WITHIN_S = 15.0  # guard poll (0.2 s) + SIGTERM grace (2 s), with room for a loaded 2-core machine


def _stat_fields(pid: int) -> list[str] | None:
    """``state ppid pgrp ...`` of ``pid`` from ``/proc/<pid>/stat``; None when it does not exist."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie)."""
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def descendants(root: int) -> set[int]:
    """The live descendants of ``root`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_gone(pids: set[int], timeout_s: float = GONE_WITHIN_S) -> set[int]:
    """Wait until every pid is gone; the ones still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = {pid for pid in pids if not gone(pid)}
        if not left:
            return left
        time.sleep(0.1)
    return {pid for pid in pids if not gone(pid)}


def kill_leftovers(pids: set[int]) -> None:
    """Test clean-up: SIGKILL the processes this test started that are still running."""
    for pid in pids:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def factories(log_dir: Path, k: int, extra: list[str], **spec: Any) -> list[EnvFactory]:
    """``k`` factories of UnityEnvs on light reference sims in one worker, with ``extra`` player args."""
    unity = UnitySpec(extra_args=["--light", *extra], connect_timeout_s=30, ros2_graph="off", **spec)
    return [
        EnvFactory("ReferenceNav", unity=unity, placement=UnityPlacement(0, j, j, log_dir=str(log_dir)))
        for j in range(k)
    ]


def worker_pid(venv: RayVecEnv) -> int:
    return int(ray.get(venv.workers[0].status.remote(), timeout=30)["pid"])


@pytest.fixture
def pools() -> Iterator[list[tuple[RayVecEnv, set[int]]]]:
    """Pools to close after the test, each with the pids it started (killed if still running)."""
    made: list[tuple[RayVecEnv, set[int]]] = []
    yield made
    for venv, pids in made:
        venv.close()
        kill_leftovers(pids)


def start_pool(
    pools: list[tuple[RayVecEnv, set[int]]], unity: list[EnvFactory], options: WorkerOptions
) -> tuple[RayVecEnv, int, set[int]]:
    """A reset pool of ``unity``, its worker's pid and the processes below it then (closed with ``pools``)."""
    venv = RayVecEnv(unity, options)
    pid = worker_pid(venv)
    started = descendants(pid)
    pools.append((venv, started))
    venv.reset()
    return venv, pid, started


LAUNCHER = """\
import sys, time
from pathlib import Path
from unity_workers.launcher import PlayerOptions, UnityProcess
child = "import time; time.sleep(120)"
player = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', %r]); time.sleep(120)" % child
opts = PlayerOptions(command=[sys.executable, "-c", player], log_dir=Path(sys.argv[1]), worker_index=0)
process = UnityProcess(opts).start(1)
print(process.pid, process.pgid, flush=True)
time.sleep(120)
"""


def test_a_player_ends_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LAUNCHER), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    started: set[int] = set()
    try:
        assert launcher.stdout is not None
        player_pid, pgid = (int(word) for word in launcher.stdout.readline().split())
        deadline = time.monotonic() + 20
        while len(started) < 3 and time.monotonic() < deadline:  # guard, player, the player's child
            started = descendants(launcher.pid)
            time.sleep(0.05)
        assert player_pid in started and pgid in started and len(started) == 3, started
        assert os.getpgid(player_pid) == pgid != os.getpgid(launcher.pid)
        launcher.kill()
        launcher.wait()
        assert wait_gone(started) == set()
    finally:
        launcher.kill()
        launcher.wait()
        kill_leftovers(started)


@pytest.mark.usefixtures("ray_session")
def test_players_exit_when_their_worker_is_killed(tmp_path: Path, pools: list[Any]) -> None:
    options = WorkerOptions(envs_per_worker=2, max_restarts=0, transport="actor", step_timeout_s=60)
    venv, pid, started = start_pool(pools, factories(tmp_path, 2, []), options)
    venv.step(np.stack([ACTION, ACTION]))
    assert len(started) == 4, started  # a guard and a player per env
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(started) == set()


@pytest.mark.usefixtures("ray_session")
def test_a_spent_restart_quota_leaves_no_player_behind(tmp_path: Path, pools: list[Any]) -> None:
    unity = factories(tmp_path, 1, ["--hang-after-steps", "2"], step_timeout_s=0.5, max_restarts=1)
    venv, pid, seen = start_pool(pools, unity, WorkerOptions(envs_per_worker=1, max_restarts=0, step_timeout_s=60))
    with pytest.raises(WorkerError, match="restart quota exceeded") as info:
        for _ in range(20):
            seen |= descendants(pid)
            venv.step(np.stack([ACTION]))
    assert "max_restarts=1" in str(info.value)
    assert len(seen) >= 4, seen  # two starts, each a guard and a player
    assert wait_gone(seen) == set() and descendants(pid) == set()
    venv.close()
    assert wait_gone({pid}) == set()


@pytest.mark.usefixtures("ray_session")
def test_closing_a_failed_pool_ends_its_players(tmp_path: Path, pools: list[Any]) -> None:
    unity = factories(tmp_path, 2, ["--hang-after-steps", "1"], step_timeout_s=60, max_restarts=0)
    # The step timeout fails the frozen step; 5 s, so that a step before the freeze never hits it on a loaded machine.
    venv, pid, started = start_pool(pools, unity, WorkerOptions(envs_per_worker=2, max_restarts=0, step_timeout_s=5.0))
    venv.step(np.stack([ACTION, ACTION]))
    with pytest.raises(WorkerTimeoutError):
        venv.step(np.stack([ACTION, ACTION]))
    assert len(started) == 4 and not any(gone(p) for p in started), started  # frozen, not dead
    t0 = time.monotonic()
    venv.close()
    assert time.monotonic() - t0 < 30  # bounded: frozen players do not hold the close up
    assert wait_gone(started | {pid}) == set()


def test_a_player_that_cannot_start_is_a_launch_error(tmp_path: Path) -> None:
    player = tmp_path / "player.x86_64"  # passes the checks, but its interpreter does not exist
    player.write_text("#!/nonexistent/interpreter\n")
    player.chmod(0o755)
    process = UnityProcess(PlayerOptions(build=player, log_dir=tmp_path, worker_index=2))
    with pytest.raises(LaunchConfigError, match=r"worker 2: cannot start the player .*player\.x86_64.*No such file"):
        process.start(1)
    assert process.pgid is not None and wait_gone({process.pgid}) == set()
