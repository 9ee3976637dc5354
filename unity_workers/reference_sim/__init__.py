"""Reference simulator: a headless stand-in for a Unity build, speaking ROS-TCP as Unity does.

Run it as a process (``python -m unity_workers.reference_sim --ros-port PORT --environment-id N``);
it connects to a :class:`~unity_workers.ros_tcp.RosTcpBridge`, implements ``/<env>_<N>/step`` and
``/<env>_<N>/reset`` (``ray_lab_interfaces``; the batch types with ``--agents N``) and publishes
``/<env>_<N>/scan``. Modules: :mod:`.nav` (the task, pure numpy), :mod:`.params` (environment
parameters), :mod:`.agents` (one agent's episode), :mod:`.batch` (batch requests), :mod:`.render`
(cameras), :mod:`.sim` (:class:`ReferenceSim`), :mod:`.cli` (arguments), :mod:`.grpc_env` (gRPC).
"""

from . import nav, sim
from .cli import main, parse_options
from .sim import *  # noqa: F403  (what sim.py exports: the simulator, its options and constants)

__all__ = ["main", "nav", "parse_options"]
__all__ += sim.__all__
