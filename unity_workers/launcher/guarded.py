"""Starting a player behind its watchdog (:mod:`unity_workers.launcher.guard`) and learning its pid."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

__all__ = ["GUARD_SCRIPT", "GuardReportError", "guard_argv", "read_report"]

GUARD_SCRIPT = Path(__file__).with_name("guard.py")


class GuardReportError(RuntimeError):
    """The guard could not start the player, or said nothing in time; the message says which."""


def guard_argv(command: list[str], parent_pid: int, report_fd: int) -> list[str]:
    """The argv that runs ``command`` behind a guard watching ``parent_pid`` (isolated, no site: fast start)."""
    return [
        sys.executable,
        "-I",
        "-S",
        str(GUARD_SCRIPT),
        "--parent-pid",
        str(parent_pid),
        "--report-fd",
        str(report_fd),
        "--",
        *command,
    ]


def read_report(fd: int, timeout_s: float) -> int:
    """The player pid the guard writes to ``fd`` (then closed here); :class:`GuardReportError` otherwise."""
    deadline = time.monotonic() + timeout_s
    data = b""
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise GuardReportError(f"the player guard reported no player pid within {timeout_s:g} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    line = data.decode("utf-8", errors="replace").strip()
    kind, _, value = line.partition(" ")
    if kind == "pid" and value.isdigit():
        return int(value)
    if kind == "error":
        raise GuardReportError(value)
    raise GuardReportError(f"the player guard exited without starting the player (it said {line!r})")
