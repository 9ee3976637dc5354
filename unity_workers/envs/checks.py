"""`check_spec`: everything about an ``environment.unity`` section that can be checked before launching.

The build (exists, executable), the interface folder and srv types, the adapter or field mapping and
the ROS 2 / gRPC extras. Used by ``ray-lab train``'s config validation, so a bad section exits with
code 2 naming the key, before any run folder or worker exists.
"""

from __future__ import annotations

from pathlib import Path

from unity_workers.launcher.checks import LaunchConfigError, check_build, check_command
from unity_workers.ros_tcp import MessageTypes
from unity_workers.spec import UnitySpec

from .adapters import make_adapter
from .protocols import field_problems
from .ros_session import default_interfaces_dir

__all__ = ["check_spec"]

KeyedProblem = tuple[str, str]


def _check_player(spec: UnitySpec) -> list[KeyedProblem]:
    try:
        if spec.build is not None:
            check_build(Path(spec.build))
        elif spec.command is not None:
            check_command(spec.command)
    except LaunchConfigError as exc:
        return [("build" if spec.build is not None else "command", str(exc))]
    return []


def _check_types(spec: UnitySpec) -> list[KeyedProblem]:
    """The interface folder loads, the srv types exist and a field mapping fits them."""
    folder = Path(spec.interface) if spec.interface is not None else default_interfaces_dir()
    if not folder.is_dir():
        return [("interface", f"interface folder {str(folder)!r} does not exist (want <pkg>/msg, <pkg>/srv inside)")]
    try:
        types = MessageTypes(folder)
    except (ValueError, OSError) as exc:
        return [("interface", f"cannot load the interface definitions in {str(folder)!r}: {exc}")]
    problems: list[KeyedProblem] = []
    for key, name in zip(("step_srv", "reset_srv"), spec.service_types(), strict=True):
        try:
            types.resolve_service(name)
        except (KeyError, LookupError, ValueError) as exc:
            problems.append((key, str(exc).strip("'\"")))
    if not problems and spec.fields is not None:
        problems += field_problems(spec, types)
    return problems


def _check_extras(spec: UnitySpec) -> list[KeyedProblem]:
    problems: list[KeyedProblem] = []
    if spec.protocol == "grpc":
        try:
            import unity_workers.grpc_env  # noqa: F401
        except ImportError as exc:
            problems.append(("protocol", str(exc)))
    if spec.ros2_graph == "on":
        from unity_workers.ros2 import rclpy_available

        if not rclpy_available():
            problems.append(("ros2_graph", "'on' needs rclpy: pip install 'ray-lab[ros2]' (or use 'auto')"))
    return problems


def check_spec(spec: UnitySpec) -> list[KeyedProblem]:
    """Problems of ``spec`` as ``(key within the unity section, message)``; empty when it can launch."""
    problems = _check_player(spec) + _check_extras(spec)
    if spec.protocol == "ros_tcp":
        problems += _check_types(spec)
        if not problems:
            try:
                make_adapter(spec)
            except (ValueError, TypeError, LookupError) as exc:
                problems.append(("fields" if spec.fields is not None else "adapter", str(exc)))
    return problems
