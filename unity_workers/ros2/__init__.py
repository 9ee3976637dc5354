"""ROS 2 graph forwarding for ROS-TCP bridges (optional extra: ``pip install "ray-lab[ros2]"``).

Importing this package never imports rclpy. :class:`Ros2Forwarder` (in :mod:`.graph`) makes a bridge a
ROS 2 node; :func:`rclpy_available` / :func:`require_rclpy` guard the import; :func:`loopback_dds_env`
and ``fastdds_localhost.xml`` keep DDS traffic on 127.0.0.1; :func:`worker_namespace` names workers.
"""

from .availability import INSTALL_HINT, Ros2NotAvailableError, rclpy_available, require_rclpy
from .graph import NODE_NAME, Ros2Forwarder
from .loopback import FASTDDS_LOCALHOST_PROFILE, loopback_dds_env
from .names import ros_name, sanitize_token, worker_namespace

__all__ = [
    "FASTDDS_LOCALHOST_PROFILE",
    "INSTALL_HINT",
    "NODE_NAME",
    "Ros2Forwarder",
    "Ros2NotAvailableError",
    "loopback_dds_env",
    "rclpy_available",
    "require_rclpy",
    "ros_name",
    "sanitize_token",
    "worker_namespace",
]
