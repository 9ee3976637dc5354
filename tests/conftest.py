"""Shared test fixtures: one real local Ray per test session, on loopback, in a temp dir of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Set before anything imports ray or wandb, so every subprocess inherits them too.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("WANDB_MODE", "offline")
# Ray resolves "127.0.0.1" in an address to the machine's interface IP unless this is off; with it off
# every node and driver of the tests' clusters stays on loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("RAY_ADDRESS", None)
os.environ.pop("WANDB_API_KEY", None)
# A suite started in the background by a shell without job control (`pytest &`) inherits SIGINT
# ignored, and so would every CLI it starts: the Ctrl-C tests would send a signal nobody hears.
# A handler here makes the children start with the default disposition, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


_LOCAL_RAY_TEMP = tempfile.mkdtemp(prefix="rl_t_", dir="/tmp")


def start_local_ray() -> None:
    """Start this process's local Ray (2 CPUs, loopback) unless one is running already."""
    import ray

    if ray.is_initialized():
        return
    for attempt in (1, 2):
        try:
            ray.init(
                num_cpus=2,
                _temp_dir=_LOCAL_RAY_TEMP,
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
            return
        except Exception as exc:  # Ray's "node timed out during startup" under load: show why, retry once
            _print_ray_startup_logs(exc)
            ray.shutdown()
            if attempt == 2:
                raise


def _print_ray_startup_logs(exc: Exception) -> None:
    """The ends of the raylet and GCS logs of a failed start, so a CI log says why Ray did not come up."""
    print(f"ray.init failed: {exc}")
    for pattern in ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err"):
        for log in sorted(Path(_LOCAL_RAY_TEMP).glob(f"session_*/logs/{pattern}"))[-1:]:
            print(f"--- {log} (last 30 lines) ---")
            print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray shared by the session. A test that needs another cluster shuts it down and
    calls `start_local_ray()` again when done."""
    start_local_ray()
    yield


@pytest.fixture(scope="session", autouse=True)
def _stop_ray_at_exit() -> Iterator[None]:
    yield
    import ray

    ray.shutdown()
    shutil.rmtree(_LOCAL_RAY_TEMP, ignore_errors=True)


def _subprocess_env(temp_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", WANDB_MODE="offline", WANDB_SILENT="true")
    env.pop("RAY_ADDRESS", None)
    env.pop("WANDB_API_KEY", None)
    env["RAY_LAB_RAY_TEMP_DIR"] = temp_dir
    return env


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    """Environment for a subprocess that starts its own local Ray (CLI tests), in a temp dir of its own."""
    temp_dir = tempfile.mkdtemp(prefix="rl_c_", dir="/tmp")
    yield _subprocess_env(temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_env_module() -> Iterator[dict[str, str]]:
    """Like `ray_env`, shared by a module's tests."""
    temp_dir = tempfile.mkdtemp(prefix="rl_m_", dir="/tmp")
    yield _subprocess_env(temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)


NODE_STARTUP_TIMEOUT_S = 180.0
"""How long a test cluster's nodes may take to register: minutes, not Ray's 30 s, on a loaded 2-core machine."""


def _start_cluster(cluster_cls: Any, head_cpus: float, nodes: list[dict[str, Any]], temp_dir: str) -> tuple[Any, list]:
    """A head and `nodes`, waiting up to NODE_STARTUP_TIMEOUT_S for them; one retry when Ray's own fixed
    30 s node start-up wait runs out under load ("The current node timed out during startup")."""
    common = {"node_ip_address": "127.0.0.1"}
    head_args = {"num_cpus": head_cpus, "num_gpus": 0, "temp_dir": temp_dir, "include_dashboard": False, **common}
    for attempt in (1, 2):
        cluster = None
        try:
            cluster = cluster_cls(initialize_head=True, head_node_args=head_args)
            added = [cluster.add_node(wait=False, **node, **common) for node in nodes]
            cluster.wait_for_nodes(timeout=NODE_STARTUP_TIMEOUT_S)
            return cluster, added
        except Exception as exc:
            print(f"test cluster start-up failed (attempt {attempt}): {exc}")
            if cluster is not None:
                cluster.shutdown()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def local_cluster(head_cpus: float, nodes: list[dict[str, Any]]) -> Iterator[tuple[Any, list[Any]]]:
    """A real multi-node Ray cluster on loopback (`ray.cluster_utils.Cluster`), connected as the driver.

    The session's own local Ray is stopped for the duration and started again afterwards.
    """
    import ray
    from ray._common.utils import get_ray_address_file
    from ray.cluster_utils import Cluster

    was_running = ray.is_initialized()
    ray.shutdown()
    # Ray's Cluster writes the head's address into <system temp>/ray/ray_current_cluster whatever the
    # node's temp_dir; on a fresh machine that folder does not exist yet.
    os.makedirs(os.path.dirname(get_ray_address_file(None)), exist_ok=True)
    temp_dir = tempfile.mkdtemp(prefix="rl_n_", dir="/tmp")
    cluster, added = _start_cluster(Cluster, head_cpus, nodes, temp_dir)
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1")
    try:
        yield cluster, added
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
        if was_running:
            start_local_ray()


# ------------------------------------------------------------------------------ mypy in the background
# mypy takes about a minute of one core on a fresh clone (no cache). When test_static's test_mypy is
# collected, it starts as soon as collection ends, at the lowest CPU priority, so it uses the time the
# tests spend waiting on subprocesses and sockets; test_mypy then only waits for its verdict.
MYPY_TEST = "tests/test_static.py::test_mypy"
_background_mypy: dict[str, Any] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(item.nodeid == MYPY_TEST for item in session.items):
        return
    import subprocess
    import sys

    output = tempfile.NamedTemporaryFile(prefix="ray_lab_mypy_", suffix=".log", delete=False)  # noqa: SIM115
    _background_mypy["output"] = Path(output.name)
    _background_mypy["process"] = subprocess.Popen(
        [sys.executable, "-m", "mypy"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    os.setpriority(os.PRIO_PROCESS, _background_mypy["process"].pid, 19)  # mypy runs in one process
    output.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    process = _background_mypy.get("process")
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
    if "output" in _background_mypy:
        _background_mypy["output"].unlink(missing_ok=True)


def background_mypy_result(timeout_s: float) -> tuple[int, str] | None:
    """The background mypy's exit code and output (waiting for it), or None when it was not started."""
    process = _background_mypy.get("process")
    if process is None:
        return None
    returncode = process.wait(timeout=timeout_s)
    return returncode, _background_mypy["output"].read_text()
