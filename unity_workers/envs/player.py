"""`Player`: one simulator process and its protocol session, restarted on faults within a quota.

The lifecycle shared by :class:`~unity_workers.envs.UnityEnv` (one agent per player) and
:class:`~unity_workers.envs.agents.AgentBatch` (many agents per player): open a session on a
fresh port, start the player for it, wait until it serves; on a fault close both and start again,
unless the restart quota (``max_restarts`` over the run, ``max_restarts_per_minute`` within any
60 s) is spent. Every start writes its own log (``worker_<k>.log``, then
``worker_<k>.restart-<n>.log``), so a crash log survives the restart.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from unity_workers.launcher import PlayerDiedError, PlayerOptions, UnityProcess
from unity_workers.session import SimSession, SimSessionFactory
from unity_workers.spec import UnitySpec

__all__ = ["FAULTS", "Player", "RestartQuotaError"]

logger = logging.getLogger("unity_workers.envs")

TAIL_LINES = 20
FAULTS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, PlayerDiedError)


class RestartQuotaError(RuntimeError):
    """An env spent its restart quota; the message names the worker, the host and the player log."""


def _tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = 16384) -> str:
    """The last ``lines`` lines of ``path`` ('' when missing or unreadable)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


class Player:
    """A player process plus its session; :meth:`restart` replaces both, :meth:`close` ends them."""

    @classmethod
    def for_env(
        cls,
        spec: UnitySpec,
        *,
        worker_index: int,
        env_slot: int,
        environment_id: int,
        group: str,
        log_dir: str | None,
        ros2_namespace: str | None,
        graphics: bool,
        parameter_names: tuple[str, ...] = (),
    ) -> Player:
        """The player of the env in ``env_slot`` of worker ``worker_index`` (not started): its session
        factory (services ``/<env_name>_<environment_id>/...``), launch options and log name."""
        from .player_setup import log_stem, player_options
        from .protocols import make_session_factory

        namespace = ros2_namespace or spec.ros2_namespace or f"/ray_lab/{group}/worker_{worker_index}"
        factory = make_session_factory(spec, environment_id, namespace, parameter_names)
        stem = log_stem(group, worker_index, env_slot)
        options = player_options(
            spec, log_dir=log_dir, log_stem=stem, worker_index=worker_index, environment_id=environment_id,
            graphics=graphics or spec.graphics,
        )  # fmt: skip
        return cls(spec, factory, options, worker_index)

    def __init__(self, spec: UnitySpec, factory: SimSessionFactory, options: PlayerOptions, worker_index: int) -> None:
        self.spec, self.factory, self.options, self.worker_index = spec, factory, options, worker_index
        self.restarts = 0
        self.closed = False
        self._starts = 0
        self._current = options  # the options of the current (or last) start
        self._restart_times: deque[float] = deque()
        self._session: SimSession | None = None
        self._process: UnityProcess | None = None
        self._space: object = None  # the first start's observation space: a restarted player must match it

    # ------------------------------------------------------------------ info
    @property
    def session(self) -> SimSession | None:
        """The current session (``None`` once closed)."""
        return self._session

    @property
    def process(self) -> UnityProcess | None:
        """The current player process (``None`` once closed)."""
        return self._process

    @property
    def log_path(self) -> Path:
        """The log (``-logFile``) of the current player start, or of the last one once closed."""
        return self._current.log_path

    @property
    def log_paths(self) -> list[Path]:
        """The player logs of every start so far, oldest first (one per start: restarts never overwrite)."""
        return [self.options.for_start(start).log_path for start in range(self._starts)]

    def live_session(self) -> SimSession:
        """The current session; ``RuntimeError`` once closed."""
        if self.closed or self._session is None:
            raise RuntimeError(f"worker {self.worker_index}: the env is closed")
        return self._session

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SimSession:
        """The first start; a failure closes what started and propagates."""
        try:
            self._launch()
        except BaseException:
            self.shutdown()
            raise
        session = self.live_session()
        self._space = session.observation_space
        return session

    def _launch(self) -> None:
        """Open a session on a fresh port, start a player for it, and wait until it serves."""
        self._session = session = self.factory.open(self.worker_index)
        extra_args = (*self.options.extra_args, *session.player_args)
        env = {**self.options.env, **session.player_env}
        options = replace(self.options, start_index=self._starts, extra_args=extra_args, env=env)
        self._starts += 1
        self._current = options
        self._process = process = UnityProcess(options)
        process.start(session.port)
        session.wait_ready(process, self.spec.connect_timeout_s)
        if self._space is not None and session.observation_space != self._space:
            raise RuntimeError(
                f"worker {self.worker_index}: the restarted player reports observation space "
                f"{session.observation_space}, expected {self._space}"
            )

    def shutdown(self) -> None:
        """Close the player (its whole process group, within `PLAYER_CLOSE_S`) and the session, if any."""
        process, self._process = self._process, None
        session, self._session = self._session, None
        if process is not None:
            process.close()  # waits up to PLAYER_CLOSE_S, as the restart budget counts
        if session is not None:
            session.close()

    def close(self) -> None:
        """Close for good (a later :meth:`restart` starts nothing); idempotent."""
        self.closed = True
        self.shutdown()

    def restart(self, cause: BaseException) -> None:
        """Replace player and session after ``cause``; raises :class:`RestartQuotaError` when the quota is spent."""
        while True:
            if self.closed:  # closed by another thread while this call waited: start no new player
                self.shutdown()
                raise RuntimeError(f"worker {self.worker_index}: the env was closed during a call") from cause
            self._count_restart(cause)
            self.shutdown()
            try:
                self._launch()
                return
            except FAULTS as exc:
                cause = exc

    def _count_restart(self, cause: BaseException) -> None:
        now = time.monotonic()
        while self._restart_times and now - self._restart_times[0] > 60.0:
            self._restart_times.popleft()
        spec = self.spec
        if self.restarts >= spec.max_restarts or len(self._restart_times) >= spec.max_restarts_per_minute:
            self.shutdown()
            raise self._quota_error(cause) from cause
        self.restarts += 1
        self._restart_times.append(now)
        logger.warning(
            "worker %d: restarting the Unity player (#%d) after %r; log of the failed player: %s",
            self.worker_index,
            self.restarts,
            cause,
            self.log_path,
        )

    def _quota_error(self, cause: BaseException) -> RestartQuotaError:
        text = "".join(
            f"\n--- last {TAIL_LINES} lines of {path} ---\n{_tail(path) or '(empty)'}"
            for path in (self._current.log_path, self._current.output_path)
        )
        return RestartQuotaError(
            f"worker {self.worker_index} on host {socket.gethostname()}: Unity player restart quota exceeded "
            f"({self.restarts} restarts, max_restarts={self.spec.max_restarts}, "
            f"max_restarts_per_minute={self.spec.max_restarts_per_minute}); last fault: {cause!r}; "
            f"player log: {self.log_path} (all starts: {', '.join(path.name for path in self.log_paths)}){text}"
        )
