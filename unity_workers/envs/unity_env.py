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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.launcher import UnityProcess
from unity_workers.session import SimSession
from unity_workers.spec import UnitySpec

from .inflight import InFlight, Phase
from .player import FAULTS, Player, RestartQuotaError
from .player_setup import REFERENCE_SIM as REFERENCE_SIM
from .player_setup import coerce_spec, log_stem

__all__ = ["FAULTS", "RestartQuotaError", "UnityEnv", "episode_parameters", "log_stem", "zeros"]


def episode_parameters(options: Mapping[str, Any] | None) -> dict[str, float] | None:
    """``options["parameters"]`` as name: float (``ValueError`` naming a value that is not a number)."""
    given = (options or {}).get("parameters")
    if not given:
        return None
    if not isinstance(given, Mapping):
        raise ValueError(f"reset options['parameters'] must map names to numbers, got {given!r}")
    try:
        return {str(name): float(value) for name, value in given.items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"reset options['parameters'] must map names to numbers, got {dict(given)!r}") from exc


def zeros(space: gym.Space[Any]) -> Any:
    """An all-zero observation of ``space`` (a dict of them for a ``Dict`` space)."""
    if isinstance(space, gym.spaces.Dict):
        return {key: zeros(sub) for key, sub in space.spaces.items()}
    return np.zeros(space.shape or (), dtype=space.dtype)


class UnityEnv(gym.Env[np.ndarray, Any]):
    """One simulator as a gymnasium env, restarted on faults within a quota.

    ``spec`` is an ``environment.unity`` section (:class:`~unity_workers.spec.UnitySpec`, or its
    fields as keyword arguments, so ``gym.make(id, max_restarts=3)`` works). ``worker_index``,
    ``env_slot`` and ``group`` name the log files (``<log_dir>/worker_<k>.log`` for the first start,
    ``worker_<k>.restart-<n>.log`` for the n-th restart); ``environment_id``
    (default: ``env_slot``) is passed as ``--environment-id`` and names the default services.
    ``info["restarts"]`` is the restart count so far. ``parameter_names`` are the environment parameters
    the run will send (``reset(options={"parameters": ...})``); each start checks the simulator uses them.
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
        parameter_names: tuple[str, ...] = (),
        **spec_fields: Any,
    ) -> None:
        self.unity_spec = spec = coerce_spec(spec, spec_fields)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.worker_index, self.render_mode = int(worker_index), render_mode
        environment_id = int(env_slot if environment_id is None else environment_id)
        self.player = Player.for_env(
            spec,
            worker_index=self.worker_index,
            env_slot=int(env_slot),
            environment_id=environment_id,
            group=group,
            log_dir=log_dir,
            ros2_namespace=ros2_namespace,
            graphics=render_mode == "rgb_array",
            parameter_names=parameter_names,
        )
        self.factory, self.options = self.player.factory, self.player.options
        self._inflight = InFlight(self.worker_index)  # what step_send/reset_send sent, until collected
        session = self.player.start()
        self.observation_space = session.observation_space
        self.action_space = session.action_space
        self._last_obs: Any = zeros(self.observation_space)
        self._parameters: dict[str, float] | None = None  # of the reset in flight (sent again after a restart)

    # ------------------------------------------------------------------ info
    @property
    def port(self) -> int:
        """The port of the current session (what the player got as ``--ros-port``)."""
        return self.player.live_session().port

    @property
    def session(self) -> SimSession | None:
        """The current simulator session (``None`` once closed)."""
        return self.player.session

    @property
    def process(self) -> UnityProcess | None:
        """The current player process (``None`` once closed)."""
        return self.player.process

    @property
    def restarts(self) -> int:
        """Player restarts so far."""
        return self.player.restarts

    @property
    def log_path(self) -> Path:
        """The log (``-logFile``) of the current player start, or of the last one once closed."""
        return self.player.log_path

    @property
    def log_paths(self) -> list[Path]:
        """The player logs of every start so far, oldest first (one per start: restarts never overwrite)."""
        return self.player.log_paths

    def _restart(self, cause: BaseException) -> None:
        self.player.restart(cause)

    def _live_session(self) -> SimSession:
        return self.player.live_session()

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
        ``options["parameters"]`` (name: value) are the episode's environment parameters.
        """
        if self._inflight.phase is Phase.STEP_SENT:
            self._finish_step()
        self._inflight.expect_idle("reset_send")
        super().reset(seed=seed)
        self._parameters = episode_parameters(options)
        self._inflight.start(Phase.RESET_SENT, seed, self._send_reset(seed))

    def _send_reset(self, seed: int | None) -> BaseException | None:
        try:
            self._live_session().reset_send(seed, self.unity_spec.step_timeout_s, self._parameters)
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
        session = self.player.session
        if self.render_mode != "rgb_array" or session is None:
            return None
        return session.render()

    def close(self) -> None:
        """Close player (process group) and session, dropping a call in flight; idempotent."""
        self._inflight.take()
        self.player.close()

    def __repr__(self) -> str:
        return (
            f"UnityEnv(worker={self.worker_index}, environment_id={self.options.environment_id}, "
            f"restarts={self.restarts})"
        )
