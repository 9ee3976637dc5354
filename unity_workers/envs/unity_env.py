"""`UnityEnv`: a gymnasium env backed by one simulator process (a Unity player or the reference sim).

Each instance owns one player (:class:`~unity_workers.launcher.UnityProcess`) and one protocol session
session to it (:mod:`unity_workers.session`: a ROS-TCP bridge or a gRPC client), both on a
port of this node that no other env holds. A call that times out, loses the connection or finds the
player dead restarts player and session (on a fresh port) within a quota: the affected step ends the
episode as truncated with ``info["env_restarted"] = True``. Every start of the player writes its own
log (``worker_<k>.log``, then ``worker_<k>.restart-<n>.log``), so a crash log survives the restart;
the restart warning and the error of a spent quota name the log of the player that failed.

``step_send``/``reset_send`` send a request and return at once; the following ``step``/``reset``
collects it. A worker owning several envs sends to all of them first, so the simulators run together.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.launcher import PlayerDiedError, UnityProcess
from unity_workers.session import SimSession
from unity_workers.spec import UnitySpec

from .inflight import InFlight, Phase
from .player_setup import REFERENCE_SIM as REFERENCE_SIM
from .player_setup import coerce_spec, log_stem, player_options
from .protocols import make_session_factory

__all__ = ["FAULTS", "RestartQuotaError", "UnityEnv", "log_stem"]

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


class UnityEnv(gym.Env[np.ndarray, Any]):
    """One simulator as a gymnasium env, restarted on faults within a quota.

    ``spec`` is an ``environment.unity`` section (:class:`~unity_workers.spec.UnitySpec`, or its
    fields as keyword arguments, so ``gym.make(id, max_restarts=3)`` works). ``worker_index``,
    ``env_slot`` and ``group`` name the log files (``<log_dir>/worker_<k>.log`` for the first start,
    ``worker_<k>.restart-<n>.log`` for the n-th restart); ``environment_id``
    (default: ``env_slot``) is passed as ``--environment-id`` and names the default services.
    ``info["restarts"]`` is the restart count so far.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        spec: UnitySpec | Mapping[str, Any] | None = None,
        *,
        worker_index: int = 0,
        env_slot: int = 0,
        environment_id: int | None = None,
        group: str = "train",
        log_dir: str | None = None,
        ros2_namespace: str | None = None,
        render_mode: str | None = None,
        **spec_fields: Any,
    ) -> None:
        self.unity_spec = spec = coerce_spec(spec, spec_fields)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.worker_index, self.render_mode = int(worker_index), render_mode
        environment_id = int(env_slot if environment_id is None else environment_id)
        namespace = ros2_namespace or spec.ros2_namespace or f"/ray_lab/{group}/worker_{self.worker_index}"
        self.factory = make_session_factory(spec, environment_id, namespace)
        self.options = player_options(
            spec,
            log_dir=log_dir,
            log_stem=log_stem(group, self.worker_index, env_slot),
            worker_index=self.worker_index,
            environment_id=environment_id,
            graphics=spec.graphics or render_mode == "rgb_array",
        )
        self.restarts = 0
        self._starts = 0
        self._player_options = self.options  # the options of the current (or last) player start
        self._restart_times: deque[float] = deque()
        self._session: SimSession | None = None
        self._process: UnityProcess | None = None
        self._closed = False
        self._inflight = InFlight(self.worker_index)  # what step_send/reset_send sent, until collected
        session = self._first_launch()
        self.observation_space = session.observation_space
        self.action_space = session.action_space
        self._last_obs: np.ndarray = np.zeros(self.observation_space.shape or (), dtype=self.observation_space.dtype)

    def _first_launch(self) -> SimSession:
        """Start the first player and its session; a failure closes what started and propagates."""
        try:
            self._launch()
        except BaseException:
            self._shutdown()
            raise
        assert self._session is not None
        return self._session

    # ------------------------------------------------------------------ info
    @property
    def port(self) -> int:
        """The port of the current session (what the player got as ``--ros-port``)."""
        if self._session is None:
            raise RuntimeError(f"worker {self.worker_index}: the env is closed")
        return self._session.port

    @property
    def session(self) -> SimSession | None:
        """The current simulator session (``None`` once closed)."""
        return self._session

    @property
    def process(self) -> UnityProcess | None:
        """The current player process (``None`` once closed)."""
        return self._process

    @property
    def log_path(self) -> Path:
        """The log (``-logFile``) of the current player start, or of the last one once closed."""
        return self._player_options.log_path

    @property
    def log_paths(self) -> list[Path]:
        """The player logs of every start so far, oldest first (one per start: restarts never overwrite)."""
        return [self.options.for_start(start).log_path for start in range(self._starts)]

    # ------------------------------------------------------------------ lifecycle
    def _launch(self) -> None:
        """Open a session on a fresh port, start a player for it, and wait until it serves."""
        self._session = session = self.factory.open(self.worker_index)
        extra_args = (*self.options.extra_args, *session.player_args)
        env = {**self.options.env, **session.player_env}
        options = replace(self.options, start_index=self._starts, extra_args=extra_args, env=env)
        self._starts += 1
        self._player_options = options
        self._process = process = UnityProcess(options)
        process.start(session.port)
        session.wait_ready(process, self.unity_spec.connect_timeout_s)
        known = self.__dict__.get("observation_space")
        if known is not None and session.observation_space != known:
            raise RuntimeError(
                f"worker {self.worker_index}: the restarted player reports observation space "
                f"{session.observation_space}, expected {known}"
            )

    def _shutdown(self) -> None:
        """Close the player (its whole process group, within `PLAYER_CLOSE_S`) and the session, if any."""
        process, self._process = self._process, None
        session, self._session = self._session, None
        if process is not None:
            process.close()  # waits up to PLAYER_CLOSE_S, as the restart budget counts
        if session is not None:
            session.close()

    def _quota_error(self, cause: BaseException) -> RestartQuotaError:
        text = "".join(
            f"\n--- last {TAIL_LINES} lines of {path} ---\n{_tail(path) or '(empty)'}"
            for path in (self._player_options.log_path, self._player_options.output_path)
        )
        return RestartQuotaError(
            f"worker {self.worker_index} on host {socket.gethostname()}: Unity player restart quota exceeded "
            f"({self.restarts} restarts, max_restarts={self.unity_spec.max_restarts}, "
            f"max_restarts_per_minute={self.unity_spec.max_restarts_per_minute}); last fault: {cause!r}; "
            f"player log: {self.log_path} (all starts: {', '.join(path.name for path in self.log_paths)}){text}"
        )

    def _restart(self, cause: BaseException) -> None:
        """Replace player and session after ``cause``; raises :class:`RestartQuotaError` when the quota is spent."""
        while True:
            if self._closed:  # closed by another thread while this call waited: start no new player
                self._shutdown()
                raise RuntimeError(f"worker {self.worker_index}: the env was closed during a call") from cause
            now = time.monotonic()
            while self._restart_times and now - self._restart_times[0] > 60.0:
                self._restart_times.popleft()
            spec = self.unity_spec
            if self.restarts >= spec.max_restarts or len(self._restart_times) >= spec.max_restarts_per_minute:
                self._shutdown()
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
            self._shutdown()
            try:
                self._launch()
                return
            except FAULTS as exc:
                cause = exc

    def _live_session(self) -> SimSession:
        if self._closed or self._session is None:
            raise RuntimeError(f"worker {self.worker_index}: the env is closed")
        return self._session

    # ------------------------------------------------------------------ split-phase API
    def step_send(self, action: Any) -> None:
        """Send ``action`` and return at once; the next :meth:`step` (with this action) collects the answer.

        Several envs can so be stepped together: send to each, then ``step`` each. A fault during the
        send is kept and handled by that :meth:`step`, exactly like a fault while waiting.
        """
        self._inflight.expect_idle("step_send")
        session = self._live_session()
        fault: BaseException | None = None
        try:
            session.step_send(action, self.unity_spec.step_timeout_s)
        except FAULTS as exc:
            fault = exc
        self._inflight.start(Phase.STEP_SENT, action, fault)

    def reset_send(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Send a reset and return at once; the next :meth:`reset` (with this seed) collects the answer.

        A step still in flight is collected and dropped first (as :meth:`reset` does).
        """
        if self._inflight.phase is Phase.STEP_SENT:
            self._finish_step()
        self._inflight.expect_idle("reset_send")
        super().reset(seed=seed)
        self._inflight.start(Phase.RESET_SENT, seed, self._send_reset(seed))

    def _send_reset(self, seed: int | None) -> BaseException | None:
        try:
            self._live_session().reset_send(seed, self.unity_spec.step_timeout_s)
        except FAULTS as exc:
            return exc
        return None

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode (seeded when ``seed`` is given); retries after a restart on faults.

        After :meth:`reset_send` it collects that reset, whose seed must be ``seed``.
        """
        if self._inflight.phase is Phase.RESET_SENT:
            self._inflight.check_reset(seed)
        else:
            self.reset_send(seed=seed, options=options)
        fault = self._inflight.take()
        while True:
            if fault is None:
                try:
                    obs, info = self._live_session().reset_receive()
                    break
                except FAULTS as exc:
                    fault = exc
            self._restart(fault)
            fault = self._send_reset(seed)
        self._last_obs = obs
        return obs, {**info, "restarts": self.restarts}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One agent step; a fault restarts the player and ends the episode as truncated.

        After :meth:`step_send` it collects that step, whose action must be ``action``.
        """
        if self._inflight.phase is Phase.IDLE:
            self.step_send(action)
        else:
            self._inflight.check_step(action)
        return self._finish_step()

    def _finish_step(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        fault = self._inflight.take()
        if fault is None:
            try:
                obs, reward, terminated, truncated, info = self._live_session().step_receive()
            except FAULTS as exc:
                fault = exc
        if fault is not None:
            self._restart(fault)
            info = {"restarts": self.restarts, "env_restarted": True, "restart_cause": repr(fault)}
            return self._last_obs, 0.0, False, True, info
        self._last_obs = obs
        return obs, float(reward), bool(terminated), bool(truncated), {**info, "restarts": self.restarts}

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The latest camera frame (``rgb_array``), or None when the simulator has no image source."""
        if self.render_mode != "rgb_array" or self._session is None:
            return None
        return self._session.render()

    def close(self) -> None:
        """Close player (process group) and session, dropping a call in flight; idempotent."""
        self._closed = True
        self._inflight.take()
        self._shutdown()

    def __repr__(self) -> str:
        return (
            f"UnityEnv(worker={self.worker_index}, environment_id={self.options.environment_id}, "
            f"restarts={self.restarts})"
        )
