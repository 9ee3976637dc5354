"""Connect to the cluster named by RAY_ADDRESS, or start a local Ray for this process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent.futures import Future
from types import FrameType

import ray

LOCAL_TEMP_DIR_ENV = "RAY_LAB_RAY_TEMP_DIR"


def storage_warning(output_dir: str) -> str | None:
    """On a cluster, a relative output folder is a different folder on every node: say so, once."""
    if os.environ.get("RAY_ADDRESS") and not os.path.isabs(output_dir) and "://" not in output_dir:
        return (
            f"ray-lab: note: experiment.output_dir={output_dir!r} is relative; on a multi-node cluster the "
            "learner writes the run folder on its own node. Use a path every node mounts, e.g. "
            "--set experiment.output_dir=/shared/experiments (see cluster/README.md)."
        )
    return None


def connect_ray() -> str:
    """`ray.init` once: the existing cluster when `RAY_ADDRESS` is set (as under `ray job submit`), else local.

    Returns a one-line description for the console.
    """
    if ray.is_initialized():
        return "Ray: already connected"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True, configure_logging=False)
        return f"Ray: connected to the cluster at {address}"
    kwargs: dict[str, object] = {
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": True,
        "configure_logging": False,
    }
    temp_dir = os.environ.get(LOCAL_TEMP_DIR_ENV)
    if temp_dir:
        kwargs["_temp_dir"] = temp_dir
    ray.init(**kwargs)  # type: ignore[arg-type]
    cpus = ray.cluster_resources().get("CPU", 0)
    return f"Ray: started locally ({cpus:g} CPUs, loopback only; set RAY_ADDRESS to use a cluster)"


class _OffMainThreadNotice(logging.Filter):
    """Drops Ray's notice that ``ray.init`` off the main thread sets no SIGTERM handler: `RayStart` sets it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SIGTERM handler is not set")


_OFF_MAIN_THREAD_NOTICE = _OffMainThreadNotice()  # one instance: adding it again is a no-op


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(signum)  # what ray.init installs on the main thread: SIGTERM unwinds, so Ray shuts down cleanly


class RayStart:
    """:func:`connect_ray` on a thread of its own, so that Ray's daemons start (seconds) while the command
    goes on with its own work (the config's semantic checks import Stable-Baselines3 and torch).

    The thread lives as long as the process: Ray starts its daemons with a parent-death signal, which
    Linux sends when the *thread* that started them ends.
    """

    def __init__(self) -> None:
        self._future: Future[str] = Future()
        self._started_here = False  # whether this process's Ray was started by this RayStart
        self._thread = threading.Thread(target=self._run, name="ray-lab-ray-init", daemon=True)

    @classmethod
    def begin(cls) -> RayStart:
        """Start connecting now (call from the main thread)."""
        logging.getLogger("ray._private.worker").addFilter(_OFF_MAIN_THREAD_NOTICE)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        start = cls()
        start._thread.start()
        return start

    def _run(self) -> None:
        try:
            self._started_here = not ray.is_initialized()
            self._future.set_result(connect_ray())
        except BaseException as exc:
            self._future.set_exception(exc)
            return
        threading.Event().wait()  # keep the daemons' parent thread alive until the process exits

    def result(self) -> str:
        """Wait until Ray is up; the console line of :func:`connect_ray` (its exception, if it failed)."""
        return self._future.result()

    def abandon(self) -> None:
        """The command ends before it needs Ray (a config error, Ctrl-C): let Ray finish starting, then stop it."""
        if self._future.exception() is None and self._started_here and ray.is_initialized():
            ray.shutdown()  # never a Ray this process had before (a caller's own ray.init)
