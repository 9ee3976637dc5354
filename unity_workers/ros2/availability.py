"""Guarded import of ``rclpy`` (the optional ``ros2`` extra) and the shared libraries its PyPI wheels need.

The ROS 2 Jazzy wheels on PyPI (``ros-jazzy-rclpy[fastrtps]`` and friends) put their shared libraries in
``<prefix>/lib`` and ``site-packages/ros_*.libs``, which the dynamic loader only finds through
``LD_LIBRARY_PATH``. Their ``ros_wheels_bootstrapper.pth`` re-executes every Python started from that
environment with ``LD_LIBRARY_PATH`` set, so normally nothing is needed. Where that did not happen
(``python -S``, an inherited ``_ROS_WHEELS_BOOTSTRAP_COMPLETE`` with a replaced ``LD_LIBRARY_PATH``),
:func:`require_rclpy` preloads the wheels' libraries itself and extends ``LD_LIBRARY_PATH`` for the
run-time lookups of type-support libraries, then imports again.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

__all__ = ["INSTALL_HINT", "Ros2NotAvailableError", "rclpy_available", "require_rclpy"]

logger = logging.getLogger("unity_workers.ros2")

INSTALL_HINT = 'pip install "ray-lab[ros2]"'
"""The command that installs the optional ROS 2 dependencies."""

_lock = threading.Lock()
_rclpy: ModuleType | None = None
_error: str | None = None


class Ros2NotAvailableError(ImportError):
    """``rclpy`` cannot be imported; the message names the install command and the original error."""


def rclpy_available() -> bool:
    """Whether ``rclpy`` imports in this process (the result is cached; nothing is raised)."""
    try:
        require_rclpy()
    except Ros2NotAvailableError:
        return False
    return True


def require_rclpy() -> ModuleType:
    """Import and return ``rclpy``.

    Raises:
        Ros2NotAvailableError: rclpy is not installed or its libraries do not load; the message says
            ``pip install "ray-lab[ros2]"`` and carries the import error.
    """
    global _rclpy, _error
    with _lock:
        if _rclpy is not None:
            return _rclpy
        if _error is None:
            try:
                _rclpy = _import_rclpy()
                return _rclpy
            except ImportError as exc:
                _error = f"{type(exc).__name__}: {exc}"
        raise Ros2NotAvailableError(
            f"ROS 2 support needs rclpy, which did not import ({_error}); install it with {INSTALL_HINT}"
        )


def _import_rclpy() -> ModuleType:
    try:
        return importlib.import_module("rclpy")
    except ImportError as exc:
        if "cannot open shared object file" not in str(exc) or not _load_wheel_libraries():
            raise
        logger.debug("rclpy did not find its libraries (%s); preloaded them from the ROS 2 wheels", exc)
        for name in [m for m in sys.modules if m == "rclpy" or m.startswith("rclpy.")]:
            del sys.modules[name]  # a half-imported rclpy must import afresh
        return importlib.import_module("rclpy")


def _load_wheel_libraries() -> bool:
    """Load the ``lib*.so*`` files the ``ros-*`` distributions installed (dependencies first); True if any."""
    libs: dict[str, Path] = {}
    for dist in importlib.metadata.distributions():
        if not str(dist.metadata["Name"] or "").lower().startswith("ros-"):
            continue
        for file in dist.files or ():
            if not (file.name.startswith("lib") and ".so" in file.name):
                continue
            path = Path(str(dist.locate_file(file))).resolve()
            in_lib_dir = path.parent.name.endswith(".libs") or path.parent == Path(sys.prefix, "lib").resolve()
            if in_lib_dir:
                libs.setdefault(path.name, path)  # the vendored copies in several ros_*.libs are the same file
    if not libs:
        return False
    dirs = sorted({str(p.parent) for p in libs.values()})
    old = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d and d not in dirs]
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(dirs + old)  # read by rcpputils when loading type support
    pending = sorted(libs.values(), key=lambda p: (not p.parent.name.endswith(".libs"), p.name))
    while pending:  # no dependency graph at hand: retry the ones whose dependencies were not loaded yet
        failed = []
        for path in pending:
            try:
                ctypes.CDLL(str(path), mode=ctypes.RTLD_LOCAL)
            except OSError:
                failed.append(path)
        if len(failed) == len(pending):
            logger.debug("could not preload %d ROS 2 libraries, e.g. %s", len(failed), failed[0].name)
            break
        pending = failed
    return True
