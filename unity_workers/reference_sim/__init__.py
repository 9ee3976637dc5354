"""Reference simulator: a headless stand-in for a Unity build, speaking ROS-TCP as Unity does.

Run it as a process (``python -m unity_workers.reference_sim --ros-port PORT --environment-id N``);
it connects to a :class:`~unity_workers.ros_tcp.RosTcpBridge`, implements ``/<env>_<N>/step`` and
``/<env>_<N>/reset`` (``ray_lab_interfaces``) and publishes ``/<env>_<N>/scan``. Modules:
:mod:`.nav` (the task, pure numpy), :mod:`.sim` (:class:`ReferenceSim`), :mod:`.cli` (arguments).
"""

from . import nav, sim
from .cli import main, parse_options
from .sim import *  # noqa: F403  (what sim.py exports: the simulator, its options and constants)

__all__ = ["main", "nav", "parse_options"]
__all__ += sim.__all__
