"""`UnityProcess`: one player subprocess in its own process group, with connect wait and clean shutdown."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from unity_workers.spec import PLAYER_CLOSE_S

from .checks import LaunchConfigError, check_options
from .command import player_command
from .environ import player_environment
from .guarded import GuardReportError, guard_argv, read_report
from .options import PlayerOptions

__all__ = ["PlayerDiedError", "UnityProcess"]

logger = logging.getLogger("unity_workers.launcher")

_POLL_S = 0.05
_TAIL_BYTES = 64 * 1024
DEFAULT_TAIL_LINES = 40
_REPORT_TIMEOUT_S = 30.0  # for the guard to start the player and report its pid (slow on a loaded node)


class PlayerDiedError(RuntimeError):
    """The player exited before it connected; carries the exit code, its log file and the end of it."""

    def __init__(self, message: str, *, returncode: int, log_tail: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.log_tail = log_tail
        self.log_path = log_path


def _read_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of ``path`` ('' when it does not exist or cannot be read)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name} (exit code {returncode})"
        except ValueError:
            return f"was killed by signal {-returncode} (exit code {returncode})"
    return f"exited with code {returncode}"


def _group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` has a member that is not a zombie (Linux ``/proc``; else ``killpg``)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" closing the command name: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


class UnityProcess:
    """One Unity player (or stand-in) launched for one env worker.

    Usage::

        bridge = RosTcpBridge(port=0).start()
        player = UnityProcess(options)
        player.start(bridge.port)
        player.wait_connected(lambda: bridge.connected)
        ...
        player.close()

    The player runs in a new session (its own process group), so :meth:`close` also ends the
    processes it spawned. The session's leader is a small watchdog (:mod:`.guard`) that ends the
    group when the process that started it dies (a worker killed by SIGKILL, or its node lost) and
    exits with the player's status. The player log is ``options.log_path`` (``-logFile``); stdout and stderr
    go to ``options.output_path``. Both are named after ``options.start_index``, so every start of
    a player has its own files. The player's environment has no credentials but those named in
    ``options.env_passthrough`` (:func:`~unity_workers.launcher.environ.player_environment`).
    """

    def __init__(self, options: PlayerOptions) -> None:
        self.options = options
        self._proc: subprocess.Popen[bytes] | None = None
        self._command: list[str] = []
        self._ros_port: int | None = None
        self._player_pid: int | None = None
        self._closed = False

    # ------------------------------------------------------------------ info
    @property
    def pid(self) -> int | None:
        """The player's process id; ``None`` before :meth:`start`."""
        return self._player_pid

    @property
    def pgid(self) -> int | None:
        """The player's process group id (its watchdog's pid); ``None`` before :meth:`start`."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the player has exited (negative: killed by that signal), else ``None``."""
        return self._proc.poll() if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """Whether the player was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        """The player log file (``-logFile``) of this start."""
        return self.options.log_path

    @property
    def command(self) -> list[str]:
        """The argv the player was started with (empty before :meth:`start`)."""
        return list(self._command)

    def log_tail(self, n: int = DEFAULT_TAIL_LINES) -> str:
        """The last ``n`` lines of the player log ('' if it has none yet)."""
        return _read_tail(self.log_path, n)

    def output_tail(self, n: int = DEFAULT_TAIL_LINES) -> str:
        """The last ``n`` lines of the player's stdout and stderr."""
        return _read_tail(self.options.output_path, n)

    def _logs_report(self, n: int = DEFAULT_TAIL_LINES) -> str:
        parts = []
        for label, path, tail in (
            ("player log", self.log_path, self.log_tail(n)),
            ("stdout/stderr", self.options.output_path, self.output_tail(n)),
        ):
            body = tail if tail else "(empty)"
            parts.append(f"--- last {n} lines of {label} {path} ---\n{body}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ lifecycle
    def start(self, ros_port: int) -> UnityProcess:
        """Check the options and launch the player, connecting to the bridge on ``ros_port``; returns ``self``."""
        if self._proc is not None or self._closed:
            raise RuntimeError(f"worker {self.options.worker_index}: UnityProcess can be started only once")
        check_options(self.options)
        self._command = player_command(self.options, ros_port)
        self._ros_port = ros_port
        env = player_environment(os.environ, self.options.env_passthrough, self.options.env)
        read_fd, write_fd = os.pipe()
        try:
            with self.options.output_path.open("ab") as output:
                self._proc = subprocess.Popen(
                    guard_argv(self._command, os.getpid(), write_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=env,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                )
        except OSError as exc:
            os.close(read_fd)
            raise LaunchConfigError(
                f"worker {self.options.worker_index}: cannot start the player {self._command!r}: {exc}"
            ) from exc
        finally:
            os.close(write_fd)
        self._player_pid = self._await_player_pid(read_fd)
        logger.info(
            "worker %d: started player pid %d (port %d): %s",
            self.options.worker_index,
            self._player_pid,
            ros_port,
            " ".join(self._command),
        )
        return self

    def _await_player_pid(self, read_fd: int) -> int:
        """The pid the guard reports for the player; a failed start closes the guard and raises."""
        try:
            return read_report(read_fd, _REPORT_TIMEOUT_S)
        except GuardReportError as exc:
            self.close(timeout_s=1.0)
            raise LaunchConfigError(
                f"worker {self.options.worker_index}: cannot start the player {self._command!r}: {exc}; "
                f"guard output: {self.options.output_path}"
            ) from exc

    def wait_connected(self, is_connected: Callable[[], bool], timeout_s: float | None = None) -> None:
        """Poll ``is_connected`` until it is true; raise if the player dies or ``timeout_s`` passes first.

        ``timeout_s`` defaults to ``options.connect_timeout_s``. Raises :class:`PlayerDiedError`
        (exit code and log tails) when the player exits first and :class:`TimeoutError` (log tails)
        when the time runs out; the player is left running in that case (call :meth:`close`).
        """
        if self._proc is None:
            raise RuntimeError(f"worker {self.options.worker_index}: call start() before wait_connected()")
        timeout = self.options.connect_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while True:
            if is_connected():
                return
            returncode = self._proc.poll()
            if returncode is not None:
                if is_connected():
                    return
                report = self._logs_report()
                raise PlayerDiedError(
                    f"worker {self.options.worker_index}: player (pid {self.pid}) {_describe_exit(returncode)} "
                    f"before connecting to the ROS-TCP bridge on port {self._ros_port}; player log: {self.log_path}; "
                    f"command: {' '.join(self._command)}\n{report}",
                    returncode=returncode,
                    log_tail=self.log_tail(),
                    log_path=self.log_path,
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"worker {self.options.worker_index}: player (pid {self.pid}) did not connect to the "
                    f"ROS-TCP bridge on port {self._ros_port} within {timeout:g} s (is --ros-port read by the "
                    f"build? raise environment.unity.connect_timeout_s for slow starts); player log: {self.log_path}; "
                    f"command: {' '.join(self._command)}\n{self._logs_report()}"
                )
            time.sleep(_POLL_S)

    def close(self, timeout_s: float = PLAYER_CLOSE_S) -> int | None:
        """End the player's whole process group: SIGTERM, then SIGKILL after ``timeout_s``; reap its guard.

        Idempotent; returns the player's exit code (``None`` if it was never started).
        """
        if self._closed or self._proc is None:
            self._closed = True
            return self.returncode
        self._closed = True
        proc, pgid = self._proc, self._proc.pid
        deadline = time.monotonic() + timeout_s
        self._signal_group(pgid, signal.SIGTERM)
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(pgid):
                break
            time.sleep(_POLL_S)
        else:
            logger.warning(
                "worker %d: player group %d still running %.1f s after SIGTERM; sending SIGKILL",
                self.options.worker_index,
                pgid,
                timeout_s,
            )
            self._signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(1.0, timeout_s))
        if proc.poll() is None:  # the leader is in the group, so SIGKILL ends it; be defensive anyway
            proc.kill()
            proc.wait()
        return proc.returncode

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def __enter__(self) -> UnityProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UnityProcess(worker={self.options.worker_index}, pid={self.pid}, returncode={self.returncode})"
