"""Reference simulator: a headless stand-in for a Unity build, speaking ROS-TCP as Unity does.

Run it as a process (``python -m unity_workers.reference_sim --ros-port PORT --environment-id N``);
it connects to a :class:`~unity_workers.ros_tcp.RosTcpBridge`, implements ``/<env>_<N>/step`` and
``/<env>_<N>/reset`` (``ray_lab_interfaces``) and publishes ``/<env>_<N>/scan``. Modules:
:mod:`.nav` (the task, pure numpy), :mod:`.sim` (:class:`ReferenceSim`), :mod:`.cli` (arguments).
"""

from . import nav
from .cli import main, parse_options
from .sim import CRASH_EXIT_CODE, INTERFACES_DIR, RESET_SRV, SCAN_MSG, STEP_SRV, ReferenceSim, SimOptions

__all__ = [
    "CRASH_EXIT_CODE",
    "INTERFACES_DIR",
    "RESET_SRV",
    "SCAN_MSG",
    "STEP_SRV",
    "ReferenceSim",
    "SimOptions",
    "main",
    "nav",
    "parse_options",
]
