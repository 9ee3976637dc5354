"""Command line of the reference simulator, shaped like the seed project's Unity player arguments.

``python -m unity_workers.reference_sim --ros-ip 127.0.0.1 --ros-port PORT --environment-id N ...``;
with ``--protocol grpc`` it serves the gRPC env protocol on that address instead of connecting to a
ROS-TCP bridge (:mod:`.grpc_env`). Unity's own flags (``-batchmode``, ``-nographics``,
``-logFile PATH``) are accepted, and unknown arguments are ignored (logged), as a Unity player
ignores arguments it does not know.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from .sim import MAX_CAMERA_OBS, ReferenceSim, SimOptions

__all__ = ["build_parser", "main", "parse_options"]

logger = logging.getLogger("unity_workers.reference_sim")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``allow_abbrev`` off so Unity-style single-dash flags stay exact)."""
    p = argparse.ArgumentParser(prog="python -m unity_workers.reference_sim", allow_abbrev=False)
    p.add_argument("--ros-ip", default="127.0.0.1", help="bridge host (the ROS-TCP server)")
    p.add_argument("--ros-port", type=int, default=10000, help="bridge port")
    p.add_argument("--environment-id", type=int, default=0, help="environment index N in /<env-name>_N/...")
    p.add_argument("--env-name", default="nav", help="service/topic prefix (default: nav)")
    p.add_argument("--seed", type=int, default=None, help="seed for resets that carry no seed")
    p.add_argument("--time-scale", type=float, default=None, help="accepted; the reference sim is clock-free")
    p.add_argument("--sample-time", type=float, default=None, help="accepted; seconds per agent step in Unity")
    p.add_argument("--fixed-delta-time", type=float, default=0.02, help="seconds per physics sub-step")
    p.add_argument("--fixed-updates-per-step", type=int, default=5, help="physics sub-steps per agent step")
    p.add_argument("--pause", action="store_true", help="accepted; the reference sim only moves when stepped")
    p.add_argument("--crash-after-steps", type=int, default=None, metavar="K", help="exit(3) on step call K+1")
    p.add_argument("--hang-after-steps", type=int, default=None, metavar="K", help="never answer step call K+1")
    p.add_argument(
        "--step-latency-ms",
        type=float,
        default=0.0,
        help="answer each request this long after it arrived, the sim's own work included (a fixed step time)",
    )
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to retry (re)connecting")
    p.add_argument(
        "--light",
        action="store_true",
        help="no sensors: publish neither the LaserScan nor the camera, so a step costs almost no CPU "
        "besides --step-latency-ms (for many players per machine; gRPC publishes no sensors anyway)",
    )
    p.add_argument(
        "--agents",
        type=int,
        default=1,
        metavar="N",
        help="independent agents (episodes) in this player; N >= 2 serves the batch step/reset services "
        "(ray_lab_interfaces/EnvironmentStepBatch, EnvironmentResetBatch); sensors are agent 0's",
    )
    p.add_argument(
        "--camera-obs",
        type=int,
        default=None,
        metavar="SIZE",
        help="fill every state's camera with a SIZE x SIZE rgb8 egocentric view (walls, robot, target)",
    )
    p.add_argument(
        "--protocol",
        choices=("ros_tcp", "grpc"),
        default="ros_tcp",
        help="ros_tcp: connect to the bridge on --ros-ip:--ros-port; grpc: serve the gRPC env protocol there",
    )
    p.add_argument("-batchmode", action="store_true", help="Unity flag, accepted")
    p.add_argument("-nographics", action="store_true", help="Unity flag: no camera rendering")
    p.add_argument("-logFile", dest="log_file", default=None, help="write the log here instead of stderr")
    return p


def parse_options(argv: Sequence[str] | None = None) -> tuple[SimOptions, argparse.Namespace, list[str]]:
    """Parse ``argv``; returns the options, the raw namespace and the ignored arguments.

    Raises:
        SystemExit: invalid values (argparse's usage error, exit code 2).
    """
    parser = build_parser()
    ns, unknown = parser.parse_known_args(argv)
    if ns.fixed_delta_time <= 0 or ns.fixed_updates_per_step < 1:
        parser.error(
            f"need --fixed-delta-time > 0 and --fixed-updates-per-step >= 1, got "
            f"{ns.fixed_delta_time} and {ns.fixed_updates_per_step}"
        )
    for flag in ("crash_after_steps", "hang_after_steps"):
        if getattr(ns, flag) is not None and getattr(ns, flag) < 0:
            parser.error(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(ns, flag)}")
    if ns.agents < 1:
        parser.error(f"--agents must be >= 1, got {ns.agents}")
    if ns.camera_obs is not None and not 1 <= ns.camera_obs <= MAX_CAMERA_OBS:
        parser.error(f"--camera-obs must be in 1..{MAX_CAMERA_OBS} pixels, got {ns.camera_obs}")
    time_scale = ns.time_scale
    if time_scale is None and ns.sample_time is not None:  # as the seed's Unity builds derive it
        time_scale = ns.sample_time / ns.fixed_delta_time / ns.fixed_updates_per_step
    options = SimOptions(
        ros_ip=ns.ros_ip,
        ros_port=ns.ros_port,
        environment_id=ns.environment_id,
        env_name=ns.env_name,
        seed=ns.seed,
        fixed_delta_time=ns.fixed_delta_time,
        fixed_updates_per_step=ns.fixed_updates_per_step,
        time_scale=1.0 if time_scale is None else time_scale,
        crash_after_steps=ns.crash_after_steps,
        hang_after_steps=ns.hang_after_steps,
        step_latency_ms=ns.step_latency_ms,
        connect_timeout_s=ns.connect_timeout,
        graphics=not ns.nographics,
        light=ns.light,
        agents=ns.agents,
        camera_obs=ns.camera_obs,
    )
    return options, ns, unknown


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGTERM/SIGINT or until the bridge is gone for good; the exit code."""
    options, ns, unknown = parse_options(argv)
    handler: logging.Handler = (
        logging.FileHandler(ns.log_file, encoding="utf-8") if ns.log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    if unknown:
        logger.info("ignoring unknown arguments %s", unknown)
    if ns.protocol == "grpc":
        from .grpc_env import run_grpc

        code = run_grpc(options)
        logging.shutdown()
        return code
    sim = ReferenceSim(options)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d received; stopping", signum)
        sim.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("reference sim %s starting: %s", options.namespace, options)
    code = sim.run()
    logging.shutdown()
    return code
