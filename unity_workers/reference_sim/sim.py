"""`ReferenceSim`: the Unity side of one environment, served over ROS-TCP with :class:`UnityLikeClient`.

It connects to the bridge as the TCP client (retrying, as Unity does), implements the
``/<env_name>_<id>/step`` and ``/<env_name>_<id>/reset`` services (``ray_lab_interfaces``), publishes
a ``sensor_msgs/LaserScan`` on ``/<env_name>_<id>/scan`` before each answer, and reconnects when the
connection drops until ``connect_timeout_s`` passes without a bridge. Fault injection (crash, hang,
latency) makes it a stand-in for a misbehaving Unity player in tests. ``light`` publishes no sensors
(no LaserScan, no camera), so a player costs almost nothing per step besides ``step_latency_ms``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unity_workers.ros_tcp import MessageTypes, UnityLikeClient

from . import nav
from .render import image_message, render_top_down

__all__ = [
    "CRASH_EXIT_CODE",
    "INTERFACES_DIR",
    "RESET_SRV",
    "SCAN_MSG",
    "STEP_SRV",
    "ReferenceSim",
    "SimOptions",
    "wait_step_latency",
]

logger = logging.getLogger("unity_workers.reference_sim")

INTERFACES_DIR = Path(__file__).resolve().parent.parent / "interfaces"
"""ROS interface packages (``ray_lab_interfaces``) for :class:`~unity_workers.ros_tcp.MessageTypes`."""
STEP_SRV = "ray_lab_interfaces/EnvironmentStep"
RESET_SRV = "ray_lab_interfaces/EnvironmentReset"
SCAN_MSG = "sensor_msgs/LaserScan"
IMAGE_MSG = "sensor_msgs/Image"
CRASH_EXIT_CODE = 3


@dataclass(frozen=True)
class SimOptions:
    """What the command line configures (see :mod:`unity_workers.reference_sim.cli`)."""

    ros_ip: str = "127.0.0.1"
    ros_port: int = 10000
    environment_id: int = 0
    env_name: str = "nav"
    seed: int | None = None  # seeds the generator used by resets that carry no seed
    fixed_delta_time: float = 0.02
    fixed_updates_per_step: int = 5
    time_scale: float = 1.0  # accepted for Unity compatibility; the reference sim never waits on a clock
    crash_after_steps: int | None = None  # answer this many steps, then exit(3) on the next step request
    hang_after_steps: int | None = None  # answer this many steps, then never answer again
    step_latency_ms: float = 0.0  # answer this long after each request arrived (the sim's own work included)
    connect_timeout_s: float = 10.0  # keep retrying this long to (re)connect before giving up
    graphics: bool = False  # like a Unity player without -nographics: render and publish the camera
    light: bool = False  # no sensors: neither the LaserScan nor the camera is published (cheap players)

    @property
    def namespace(self) -> str:
        """``/<env_name>_<environment_id>``, the prefix of the services and topics."""
        return f"/{self.env_name}_{self.environment_id}"

    @property
    def step_service(self) -> str:
        """Name of the step service."""
        return f"{self.namespace}/step"

    @property
    def reset_service(self) -> str:
        """Name of the reset service."""
        return f"{self.namespace}/reset"

    @property
    def scan_topic(self) -> str:
        """Topic of the LaserScan published each step."""
        return f"{self.namespace}/scan"

    @property
    def camera_topic(self) -> str:
        """Topic of the top-down camera image (published only with graphics)."""
        return f"{self.namespace}/camera"


def _stamp(seconds: float) -> dict[str, int]:
    sec = math.floor(seconds)
    return {"stamp_sec": int(sec), "stamp_nanosec": min(round((seconds - sec) * 1e9), 999_999_999)}


def wait_step_latency(arrived: float, latency_ms: float) -> None:
    """Sleep until ``latency_ms`` after ``arrived`` (monotonic): a step takes that long in all, the work
    done so far included, like a player that runs its physics at a fixed real-time rate."""
    if latency_ms > 0:
        remaining = arrived + latency_ms / 1000.0 - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


class ReferenceSim:
    """One navigation environment answering step/reset over ROS-TCP (handlers run on the reader thread)."""

    def __init__(self, options: SimOptions, types: MessageTypes | None = None) -> None:
        self.options = options
        self.cfg = nav.NavConfig(
            fixed_delta_time=options.fixed_delta_time, fixed_updates_per_step=options.fixed_updates_per_step
        )
        self.types = types if types is not None else MessageTypes(INTERFACES_DIR)
        self._rng = np.random.default_rng(options.seed)
        self.state = nav.reset(self._rng, self.cfg)
        self.step_calls = 0
        self.client: UnityLikeClient | None = None
        self._stop = threading.Event()
        self._arrived = time.monotonic()  # when the request being answered arrived (for step_latency_ms)
        self._hung = False  # a handler is stuck in an injected hang (its reader thread cannot be joined)

    # ------------------------------------------------------------------ service handlers
    def handle_reset(self, request: Any) -> dict[str, Any]:
        """Reset (seeded when ``request.seed >= 0``) and return the new state; ``reset=False`` changes nothing."""
        self._arrived = time.monotonic()
        if request.reset:
            if request.seed >= 0:
                self._rng = np.random.default_rng(int(request.seed))
            self.state = nav.reset(self._rng, self.cfg)
            logger.info("reset (seed %d): %s", request.seed, self.state)
        return self._answer()

    def handle_step(self, request: Any) -> dict[str, Any]:
        """Apply ``request.action`` for one step and return the new state (faults injected here)."""
        self._arrived = time.monotonic()
        self.step_calls += 1
        opts = self.options
        if opts.crash_after_steps is not None and self.step_calls > opts.crash_after_steps:
            logger.error(
                "crash injected at step call %d (--crash-after-steps %d)", self.step_calls, opts.crash_after_steps
            )
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)
        if opts.hang_after_steps is not None and self.step_calls > opts.hang_after_steps:
            logger.error(
                "hang injected at step call %d (--hang-after-steps %d)", self.step_calls, opts.hang_after_steps
            )
            self._hung = True
            while True:
                time.sleep(3600)
        try:
            self.state = nav.step(self.state, request.action, self.cfg)
        except ValueError as exc:  # answer with the unchanged state rather than leave the caller hanging
            logger.error("step %d rejected: %s", self.step_calls, exc)
            if self.client is not None:
                self.client.log(f"{self.options.namespace}: {exc}", level="__error")
        return self._answer()

    def scan_message(self) -> dict[str, Any]:
        """The current lidar as ``sensor_msgs/LaserScan`` fields."""
        cfg = self.cfg
        increment = 2.0 * math.pi / cfg.n_rays
        header = {"stamp": {"sec": _stamp(self.state.sim_time)["stamp_sec"], "nanosec": 0}, "frame_id": "lidar"}
        return {
            "header": header,
            "angle_min": 0.0,
            "angle_max": increment * (cfg.n_rays - 1),
            "angle_increment": increment,
            "scan_time": cfg.step_seconds,
            "range_min": 0.0,
            "range_max": cfg.max_range,
            "ranges": nav.lidar(self.state, cfg),
        }

    def _answer(self) -> dict[str, Any]:
        if self.client is not None and self.client.connected and not self.options.light:
            self.client.publish(self.options.scan_topic, self.scan_message())
            if self.options.graphics:
                image = render_top_down(self.state, self.cfg)
                stamp = _stamp(self.state.sim_time)["stamp_sec"]
                self.client.publish(self.options.camera_topic, image_message(image, stamp))
        answer = {**_stamp(self.state.sim_time), "state": nav.state_fields(self.state, self.cfg)}
        wait_step_latency(self._arrived, self.options.step_latency_ms)
        return answer

    # ------------------------------------------------------------------ connection
    def connect(self) -> UnityLikeClient:
        """Connect to the bridge (retrying for ``connect_timeout_s``), register services and topic, log.

        Raises:
            ConnectionError: no bridge accepted and handshook within ``connect_timeout_s``, or stopped.
        """
        opts = self.options
        deadline = time.monotonic() + opts.connect_timeout_s
        last: Exception | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            client = UnityLikeClient(opts.ros_ip, opts.ros_port, self.types, name=f"reference-sim{opts.namespace}")
            try:
                client.connect(timeout_s=max(0.1, min(2.0, deadline - time.monotonic())))
                self.client = client
                client.implement_service(opts.step_service, STEP_SRV, self.handle_step)
                client.implement_service(opts.reset_service, RESET_SRV, self.handle_reset)
                if not opts.light:
                    client.register_publisher(opts.scan_topic, SCAN_MSG)
                    if opts.graphics:
                        client.register_publisher(opts.camera_topic, IMAGE_MSG)
                client.log(
                    f"reference sim {opts.namespace} ready (pid {os.getpid()}, {opts.fixed_updates_per_step} x "
                    f"{opts.fixed_delta_time:g} s per step, time scale {opts.time_scale:g})"
                )
                logger.info("connected to %s:%d as %s", opts.ros_ip, opts.ros_port, opts.namespace)
                return client
            except ConnectionError as exc:
                client.close()
                last = exc
                self._stop.wait(0.1)
        raise ConnectionError(
            f"reference sim {opts.namespace}: no bridge at {opts.ros_ip}:{opts.ros_port} within "
            f"{opts.connect_timeout_s:g} s (last error: {last!r})"
        )

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> int:
        """Serve until stopped (returns 0) or the bridge is gone for good (0 if ever connected, else 1)."""
        connected_once = False
        while not self._stop.is_set():
            try:
                client = self.connect()
            except ConnectionError as exc:
                if self._stop.is_set():
                    break
                logger.error("%s", exc)
                return 0 if connected_once else 1
            connected_once = True
            while not self._stop.is_set() and client.connected:
                self._stop.wait(0.05)
            if not self._stop.is_set():
                logger.warning("connection closed (%s); reconnecting", client.close_reason)
            if not self._hung:  # closing joins the reader thread, which a hang holds; exiting closes the socket
                client.close()
        logger.info("stopped")
        return 0
