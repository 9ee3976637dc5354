"""`ReferenceSim`: the Unity side of a player, served over ROS-TCP with :class:`UnityLikeClient`.

It connects to the bridge as the TCP client (retrying, as Unity does), implements the
``/<env_name>_<id>/step`` and ``/<env_name>_<id>/reset`` services (``ray_lab_interfaces``), publishes
a ``sensor_msgs/LaserScan`` on ``/<env_name>_<id>/scan`` before each answer, and reconnects when the
connection drops until ``connect_timeout_s`` passes without a bridge. Fault injection (crash, hang,
latency) makes it a stand-in for a misbehaving Unity player in tests. ``light`` publishes no sensors
(no LaserScan, no camera), so a player costs almost nothing per step besides ``step_latency_ms``.

With ``agents`` N >= 2 the player runs N independent episodes behind the batch services
(``EnvironmentStepBatch``/``EnvironmentResetBatch``: every agent's action and state in one call);
its sensors are agent 0's. Resets accept the environment parameters of :data:`~.nav.PARAMETERS`
(:mod:`.params`); ``camera_obs`` fills every state's ``camera`` with an egocentric ``rgb8`` view.
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
from .agents import Agent, agent_generator
from .batch import plan_reset, split_actions
from .params import parameter_rows
from .render import image_message, render_camera, render_top_down

__all__ = [
    "CRASH_EXIT_CODE",
    "INTERFACES_DIR",
    "MAX_CAMERA_OBS",
    "RESET_BATCH_SRV",
    "RESET_SRV",
    "SCAN_MSG",
    "STEP_BATCH_SRV",
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
STEP_BATCH_SRV = "ray_lab_interfaces/EnvironmentStepBatch"
RESET_BATCH_SRV = "ray_lab_interfaces/EnvironmentResetBatch"
SCAN_MSG = "sensor_msgs/LaserScan"
IMAGE_MSG = "sensor_msgs/Image"
NAV_STATE_MSG = "ray_lab_interfaces/NavState"
CRASH_EXIT_CODE = 3
MAX_CAMERA_OBS = 512
"""Largest ``--camera-obs`` side, pixels."""


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
    agents: int = 1  # independent episodes in this player; >= 2 serves the batch services
    camera_obs: int | None = None  # side of the egocentric rgb8 image in every state's camera field

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise ValueError(f"agents must be >= 1, got {self.agents}")
        if self.camera_obs is not None and not 1 <= self.camera_obs <= MAX_CAMERA_OBS:
            raise ValueError(f"camera_obs must be in 1..{MAX_CAMERA_OBS} pixels, got {self.camera_obs}")

    @property
    def batched(self) -> bool:
        """Whether the player serves the batch services (``agents >= 2``)."""
        return self.agents >= 2

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
    """A player of ``options.agents`` navigation environments answering step/reset over ROS-TCP.

    One agent: the plain services (``EnvironmentStep``/``EnvironmentReset``). Several: the batch
    services, every agent stepped (or some reset) in one call. Handlers run on the reader thread.
    """

    def __init__(self, options: SimOptions, types: MessageTypes | None = None) -> None:
        self.options = options
        self.cfg = nav.NavConfig(
            fixed_delta_time=options.fixed_delta_time, fixed_updates_per_step=options.fixed_updates_per_step
        )
        self.types = types if types is not None else MessageTypes(INTERFACES_DIR)
        self.agents = [Agent.start(self.cfg, agent_generator(options.seed, i)) for i in range(options.agents)]
        self._empty_image = self.types.build(IMAGE_MSG)  # the camera field without --camera-obs
        self._nav_state = type(self.types.build(NAV_STATE_MSG))  # the NavState message class
        self.sim_time = 0.0  # the player's clock in batch mode: 0 at start and after resetting every agent
        self.step_calls = 0
        self.client: UnityLikeClient | None = None
        self._stop = threading.Event()
        self._arrived = time.monotonic()  # when the request being answered arrived (for step_latency_ms)
        self._hung = False  # a handler is stuck in an injected hang (its reader thread cannot be joined)

    @property
    def state(self) -> nav.NavState:
        """Agent 0's state (the only agent's, without ``--agents``)."""
        return self.agents[0].state

    # ------------------------------------------------------------------ service handlers
    def handle_reset(self, request: Any) -> dict[str, Any]:
        """Reset (seeded when ``request.seed >= 0``, with its parameters) and return the new state;
        ``reset=False`` changes nothing. Every answer lists the accepted parameters."""
        self._arrived = time.monotonic()
        if request.reset:
            rows, errors = parameter_rows(request.parameter_names, request.parameter_values, 1)
            seed = int(request.seed) if request.seed >= 0 else None
            errors += self.agents[0].reset(self.cfg, seed, rows[0])
            self._report("reset", errors)
            logger.info("reset (seed %d, parameters %s): %s", request.seed, rows[0], self.state)
        return {**self._answer(), "accepted_parameters": list(nav.PARAMETERS)}

    def handle_step(self, request: Any) -> dict[str, Any]:
        """Apply ``request.action`` for one step and return the new state (faults injected here)."""
        self._arrived = time.monotonic()
        self.step_calls += 1
        self._inject_faults()
        try:
            self.agents[0].step(request.action)
        except ValueError as exc:  # answer with the unchanged state rather than leave the caller hanging
            self._report(f"step {self.step_calls}", [f"rejected: {exc}"])
        return self._answer()

    def handle_reset_batch(self, request: Any) -> dict[str, Any]:
        """Reset the listed agents (all when none are listed) with their seeds and parameters; answer
        every agent's state. A malformed request resets nobody (logged); ``reset=False`` changes nothing."""
        self._arrived = time.monotonic()
        if request.reset:
            plan = plan_reset(request, len(self.agents))
            if isinstance(plan, str):
                self._report("batch reset", [f"rejected: {plan}"])
            else:
                errors = list(plan.errors)
                for i, seed, parameters in zip(plan.agents, plan.seeds, plan.parameters, strict=True):
                    errors += [f"agent {i}: {e}" for e in self.agents[i].reset(self.cfg, seed, parameters)]
                if len(plan.agents) == len(self.agents):
                    self.sim_time = 0.0
                self._report("batch reset", errors)
                logger.info("reset agents %s (seeds %s)", plan.agents, plan.seeds)
        return {**self._batch_answer(), "accepted_parameters": list(nav.PARAMETERS)}

    def handle_step_batch(self, request: Any) -> dict[str, Any]:
        """One step of every agent with its row of ``request.actions`` (agent-major); agents whose episode
        ended keep their final state. A wrong length moves nobody (logged); faults count these calls."""
        self._arrived = time.monotonic()
        self.step_calls += 1
        self._inject_faults()
        actions = split_actions(request.actions, len(self.agents))
        if isinstance(actions, str):
            self._report(f"batch step {self.step_calls}", [f"rejected: {actions}"])
            return self._batch_answer()
        errors = []
        for i, (agent, action) in enumerate(zip(self.agents, actions, strict=True)):
            if agent.state.done:
                continue
            try:
                agent.step(action)
            except ValueError as exc:
                errors.append(f"agent {i} rejected: {exc}")
        self.sim_time += self.cfg.step_seconds
        self._report(f"batch step {self.step_calls}", errors)
        return self._batch_answer()

    def _inject_faults(self) -> None:
        """Crash (exit 3) or hang forever once the step calls pass ``crash_after_steps``/``hang_after_steps``."""
        opts, calls = self.options, self.step_calls
        if opts.crash_after_steps is not None and calls > opts.crash_after_steps:
            logger.error("crash injected at step call %d (--crash-after-steps %d)", calls, opts.crash_after_steps)
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)
        if opts.hang_after_steps is not None and calls > opts.hang_after_steps:
            logger.error("hang injected at step call %d (--hang-after-steps %d)", calls, opts.hang_after_steps)
            self._hung = True
            while True:
                time.sleep(3600)

    def _report(self, what: str, errors: list[str]) -> None:
        """Log ``errors`` and send them to the bridge as ``__error`` lines."""
        for error in errors:
            logger.error("%s: %s", what, error)
            if self.client is not None and self.client.connected:
                self.client.log(f"{self.options.namespace} {what}: {error}", level="__error")

    # ------------------------------------------------------------------ answers
    def scan_message(self) -> dict[str, Any]:
        """Agent 0's lidar as ``sensor_msgs/LaserScan`` fields."""
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

    def _publish_sensors(self) -> None:
        """Agent 0's LaserScan (and top-down camera with graphics), unless ``light``."""
        if self.client is None or not self.client.connected or self.options.light:
            return
        self.client.publish(self.options.scan_topic, self.scan_message())
        if self.options.graphics:
            image = render_top_down(self.state, self.agents[0].cfg)
            stamp = _stamp(self.state.sim_time)["stamp_sec"]
            self.client.publish(self.options.camera_topic, image_message(image, stamp))

    def state_messages(self) -> list[Any]:
        """Every agent's ``NavState`` message, with its camera image under ``--camera-obs`` (else the empty
        image, built once). The messages are made with their class directly: every field is given, with
        the right type, and building them from dicts cost more than the whole step of 16 agents."""
        states, cfgs = [a.state for a in self.agents], [a.cfg for a in self.agents]
        ranges = nav.lidar_many(states, self.cfg)
        size = self.options.camera_obs
        images = render_camera(states, cfgs, size) if size else None
        messages = []
        for i, (state, cfg) in enumerate(zip(states, cfgs, strict=True)):
            camera = self._empty_image if images is None else self._camera_message(images[i], state.sim_time)
            messages.append(self._nav_state(**nav.state_fields(state, cfg, ranges[i]), camera=camera))
        return messages

    def _camera_message(self, image: np.ndarray, sim_time: float) -> Any:
        """``image`` as a ``sensor_msgs/Image`` (``rgb8``) message, made with the classes of the empty one."""
        height, width, _ = image.shape
        empty = self._empty_image
        stamp = type(empty.header.stamp)(sec=_stamp(sim_time)["stamp_sec"], nanosec=0)
        return type(empty)(
            header=type(empty.header)(stamp=stamp, frame_id="camera"),
            height=height,
            width=width,
            encoding="rgb8",
            is_bigendian=0,
            step=width * 3,
            data=image.reshape(-1),
        )

    def _answer(self) -> dict[str, Any]:
        self._publish_sensors()
        answer = {**_stamp(self.state.sim_time), "state": self.state_messages()[0]}
        wait_step_latency(self._arrived, self.options.step_latency_ms)
        return answer

    def _batch_answer(self) -> dict[str, Any]:
        self._publish_sensors()
        answer = {**_stamp(self.sim_time), "states": self.state_messages()}
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
                if opts.batched:
                    client.implement_service(opts.step_service, STEP_BATCH_SRV, self.handle_step_batch)
                    client.implement_service(opts.reset_service, RESET_BATCH_SRV, self.handle_reset_batch)
                else:
                    client.implement_service(opts.step_service, STEP_SRV, self.handle_step)
                    client.implement_service(opts.reset_service, RESET_SRV, self.handle_reset)
                if not opts.light:
                    client.register_publisher(opts.scan_topic, SCAN_MSG)
                    if opts.graphics:
                        client.register_publisher(opts.camera_topic, IMAGE_MSG)
                client.log(
                    f"reference sim {opts.namespace} ready (pid {os.getpid()}, {opts.fixed_updates_per_step} x "
                    f"{opts.fixed_delta_time:g} s per step, time scale {opts.time_scale:g}, {opts.agents} agent(s))"
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
