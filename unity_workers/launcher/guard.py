"""Watchdog between an env worker and its player: the player never outlives the worker that started it.

Run by :class:`~unity_workers.launcher.UnityProcess` as the leader of the player's new session::

    python -I -S guard.py --parent-pid PID --report-fd FD -- PLAYER_ARGV...

It starts the player in its own process group (the session it leads), writes ``pid <player pid>``
(or ``error <why>``) to ``FD`` and closes it, then polls every ``POLL_S`` seconds:

- the player exited: the guard exits with the player's exit code (killed by a signal: the guard
  kills itself with that signal), so the launcher sees the player's status;
- its parent (the worker, ``PID``) is gone, which no code in the worker can report (SIGKILL, OOM
  kill, node loss): SIGTERM to the whole group, SIGKILL to it after ``GRACE_S`` (the guard included).

SIGTERM, SIGINT and SIGHUP sent to the guard alone are passed on to the player. Polling
``getppid()`` is used rather than ``PR_SET_PDEATHSIG``, which fires when the *thread* that forked
exits (Ray runs actor calls on pool threads) and not when the worker process exits.

Standard library only and importable by path, so it starts fast with ``-I -S`` (about 10 MB).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

POLL_S = 0.2
GRACE_S = 2.0
USAGE = "usage: guard.py --parent-pid PID --report-fd FD -- PLAYER_ARGV..."

_player: subprocess.Popen[bytes] | None = None


def parse(argv: list[str]) -> tuple[int, int, list[str]]:
    """``(parent pid, report fd, player argv)`` from ``argv`` (exits 2 with a usage line on bad input)."""
    try:
        split = argv.index("--")
        flags, command = argv[:split], argv[split + 1 :]
        values = dict(zip(flags[::2], flags[1::2], strict=True))
        parent, fd = int(values["--parent-pid"]), int(values["--report-fd"])
    except (ValueError, KeyError) as exc:
        sys.stderr.write(f"guard: bad arguments {argv!r} ({exc!r}); {USAGE}\n")
        raise SystemExit(2) from None
    if not command:
        sys.stderr.write(f"guard: no player command in {argv!r}; {USAGE}\n")
        raise SystemExit(2)
    return parent, fd, command


def report(fd: int, text: str) -> None:
    """Write one line to the launcher and close the pipe (the launcher may be gone: ignored)."""
    try:
        os.write(fd, (text + "\n").encode("utf-8", errors="replace"))
    except OSError:
        pass
    finally:
        os.close(fd)


def forward(signum: int, frame: FrameType | None) -> None:
    """Pass a signal sent to the guard on to the player."""
    if _player is not None and _player.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(_player.pid, signum)


def end_group(player: subprocess.Popen[bytes]) -> None:
    """The worker is gone: SIGTERM the group, SIGKILL it (this guard too) once the player exited or after the grace."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while player.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)


def mirror(returncode: int) -> int:
    """Exit like the player: its exit code, or death by the signal that killed it (without a core dump)."""
    if returncode >= 0:
        return returncode
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if -returncode != signal.SIGKILL:
        signal.signal(-returncode, signal.SIG_DFL)
    os.kill(os.getpid(), -returncode)
    time.sleep(1.0)
    return 128 - returncode


def main(argv: list[str]) -> int:
    global _player
    parent, fd, command = parse(argv)
    try:
        _player = player = subprocess.Popen(command)
    except OSError as exc:
        report(fd, f"error {exc}")
        return 127
    report(fd, f"pid {player.pid}")
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        returncode = player.poll()
        if returncode is not None:
            return mirror(returncode)
        if os.getppid() != parent:
            end_group(player)
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
