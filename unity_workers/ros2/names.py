"""ROS 2 names for forwarded workers (pure Python, no rclpy needed).

ROS 2 namespaces and topic names are ``/``-separated tokens of letters, digits and ``_`` that do not
start with a digit. Run names and Unity topic names are mapped onto that: other characters become
``_`` and a token starting with a digit gets a leading ``_``.
"""

from __future__ import annotations

import re

__all__ = ["ros_name", "sanitize_token", "worker_namespace"]

_INVALID = re.compile(r"[^A-Za-z0-9_]+")
_MAX_NAME_LENGTH = 200  # rmw's limit for fully qualified names is 255; leave room for topic names


def sanitize_token(token: str) -> str:
    """Map one name token (``my-run 3``) to a valid ROS 2 token (``my_run_3``).

    Raises:
        ValueError: ``token`` has no letter, digit or underscore at all.
    """
    clean = _INVALID.sub("_", token.strip())
    if not re.search(r"[A-Za-z0-9_]", token):
        raise ValueError(f"cannot make a ROS 2 name token from {token!r}: it has no letters, digits or '_'")
    return f"_{clean}" if clean[0].isdigit() else clean


def ros_name(name: str) -> str:
    """Map ``name`` (``/ray_lab/run 1/worker_0`` or ``nav_0/scan``) to an absolute, valid ROS 2 name.

    Empty tokens (repeated or trailing ``/``) are dropped.

    Raises:
        ValueError: no token is left, a token cannot be sanitized, or the result is over 200 characters.
    """
    if not isinstance(name, str):
        raise TypeError(f"a ROS 2 name must be a str, got {type(name).__name__}: {name!r}")
    tokens = [sanitize_token(t) for t in name.split("/") if t.strip()]
    if not tokens:
        raise ValueError(f"{name!r} has no name tokens; use e.g. '/ray_lab/<run>/worker_<k>'")
    result = "/" + "/".join(tokens)
    if len(result) > _MAX_NAME_LENGTH:
        raise ValueError(f"ROS 2 name {result!r} is {len(result)} characters; at most {_MAX_NAME_LENGTH} allowed")
    return result


def worker_namespace(run: str, worker_index: int, prefix: str = "ray_lab") -> str:
    """The namespace of one worker's bridge: ``/<prefix>/<run>/worker_<k>``, sanitized.

    Raises:
        ValueError: ``worker_index`` is negative or the run name cannot be sanitized.
    """
    if isinstance(worker_index, bool) or not isinstance(worker_index, int) or worker_index < 0:
        raise ValueError(f"worker_index must be an int >= 0, got {worker_index!r}")
    return ros_name(f"/{prefix}/{sanitize_token(run)}/worker_{worker_index}")
