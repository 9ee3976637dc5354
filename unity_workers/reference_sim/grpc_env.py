"""The reference simulator over gRPC (``--protocol grpc``): the nav task served with the gRPC env protocol.

:class:`ReferenceNavGymEnv` is the nav task (:mod:`.nav`) as a gymnasium env whose observation,
reward and termination are :class:`~unity_workers.envs.nav_adapter.NavAdapter`'s, so both
protocols train the same task. :func:`run_grpc` serves it on ``--ros-ip:--ros-port`` (the
simulator is the server here) with the same fault injection as the ROS-TCP simulator. Started with
``RAY_LAB_GRPC_TOKEN`` (as ``UnityEnv`` does), it answers only calls that carry that launch token.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType, SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.envs.nav_adapter import NavAdapter

from . import nav
from .sim import CRASH_EXIT_CODE, SimOptions, wait_step_latency

__all__ = ["BIND_FAILED_EXIT_CODE", "ReferenceNavGymEnv", "run_grpc"]

logger = logging.getLogger("unity_workers.reference_sim")

BIND_FAILED_EXIT_CODE = 1
"""Exit code when the gRPC server cannot bind its port (or the gRPC extra is missing)."""


class ReferenceNavGymEnv(gym.Env[np.ndarray, np.ndarray]):
    """The nav task as a gymnasium env, with the fault injection of :class:`SimOptions`.

    Observation, action space and reward are :class:`NavAdapter`'s (20 floats; ``[linear, yaw_rate]``
    in [-1, 1]). Resets without a seed continue one generator seeded with ``options.seed``. Faults
    count step calls: ``crash_after_steps`` K exits the process with code 3 on call K+1,
    ``hang_after_steps`` K never answers call K+1 (until :meth:`stop`), ``step_latency_ms`` sleeps
    before every reset and step answer.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options = options if options is not None else SimOptions()
        self.cfg = nav.NavConfig(
            fixed_delta_time=options.fixed_delta_time, fixed_updates_per_step=options.fixed_updates_per_step
        )
        self.adapter = NavAdapter(n_rays=self.cfg.n_rays, max_range=self.cfg.max_range)
        space = self.adapter.observation_space
        if not isinstance(space, gym.spaces.Box):  # the adapter without a camera observes a vector
            raise TypeError(f"the gRPC reference sim observes the nav vector, not {space}")
        self.observation_space = space
        self.action_space = self.adapter.action_space
        self._rng = np.random.default_rng(options.seed)
        self.state = nav.reset(self._rng, self.cfg)
        self._previous = self._fields()
        self.step_calls = 0
        self._stop = threading.Event()

    def _fields(self) -> SimpleNamespace:
        return SimpleNamespace(**nav.state_fields(self.state, self.cfg))

    def _info(self, fields: SimpleNamespace) -> dict[str, Any]:
        info = {
            "step_count": fields.step_count,
            "distance_to_target": fields.distance_to_target,
            "sim_time": self.state.sim_time,
            "reached_target": fields.reached_target,
            "collided": fields.collided,
        }
        return {**info, **self.adapter.info(fields)}  # `is_success` once the episode is over

    def _latency(self, arrived: float) -> None:
        wait_step_latency(arrived, self.options.step_latency_ms)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode; seeded resets restart the generator from ``seed``."""
        arrived = time.monotonic()
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = nav.reset(self._rng, self.cfg)
        logger.info("reset (seed %s): %s", seed, self.state)
        self._previous = fields = self._fields()
        self._latency(arrived)
        return self.adapter.observation(fields), self._info(fields)

    def _inject_faults(self) -> None:
        opts, calls = self.options, self.step_calls
        if opts.crash_after_steps is not None and calls > opts.crash_after_steps:
            logger.error("crash injected at step call %d (--crash-after-steps %d)", calls, opts.crash_after_steps)
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)
        if opts.hang_after_steps is not None and calls > opts.hang_after_steps:
            logger.error("hang injected at step call %d (--hang-after-steps %d)", calls, opts.hang_after_steps)
            self._stop.wait()
            raise RuntimeError("the simulator is stopping (a step was hung by --hang-after-steps)")

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One agent step (action clipped to [-1, 1]); raises ``ValueError`` for non-finite actions."""
        arrived = time.monotonic()
        self.step_calls += 1
        self._inject_faults()
        clipped = self.adapter.make_step_request(action)["action"]
        self.state = nav.step(self.state, clipped, self.cfg)
        fields = self._fields()
        reward = self.adapter.reward(fields, self._previous)
        self._previous = fields
        terminated = self.adapter.terminated(fields)
        truncated = self.adapter.truncated(fields) and not terminated
        self._latency(arrived)
        return self.adapter.observation(fields), reward, terminated, truncated, self._info(fields)

    def render(self) -> None:
        """No camera over gRPC: the reference simulator has no image source here."""
        return None

    def stop(self) -> None:
        """Release a step held by ``hang_after_steps`` (so the process can exit)."""
        self._stop.set()


def run_grpc(options: SimOptions) -> int:
    """Serve :class:`ReferenceNavGymEnv` on ``options.ros_ip:options.ros_port`` until SIGTERM/SIGINT.

    It also stops when its parent process exits, so a killed trainer leaves no simulator behind.
    Returns 0 after a signal or the parent's exit, :data:`BIND_FAILED_EXIT_CODE` when the port
    cannot be bound or the gRPC extra is not installed (logged).
    """
    parent = os.getppid()
    try:
        from unity_workers.grpc_env import serve
        from unity_workers.grpc_env.launch_token import token_from_env
    except ImportError as exc:
        logger.error("cannot serve over gRPC: %s", exc)
        return BIND_FAILED_EXIT_CODE
    if options.agents > 1 or options.camera_obs is not None:
        logger.warning(
            "--agents %d and --camera-obs %s are ignored over gRPC: one agent, vector observations",
            options.agents,
            options.camera_obs,
        )
    env = ReferenceNavGymEnv(options)
    try:
        server = serve(env, options.ros_ip, options.ros_port, env_name=options.namespace, token=token_from_env())
    except OSError as exc:
        logger.error("reference sim %s: %s", options.namespace, exc)
        return BIND_FAILED_EXIT_CODE
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d received; stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("reference sim %s serving the gRPC env on %s (pid %d)", options.namespace, server.address, os.getpid())
    while not stopping.wait(0.2):
        if os.getppid() != parent:  # the launcher is gone (a ROS-TCP player would lose its bridge): do not linger
            logger.warning("parent process %d is gone; stopping", parent)
            break
    env.stop()
    server.stop(grace_s=0.5)
    logger.info("stopped")
    return 0
