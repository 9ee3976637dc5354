"""`UnityEnv`: a gymnasium env backed by one headless Unity player (or the reference sim) over ROS-TCP.

Each instance owns one :class:`~unity_workers.ros_tcp.RosTcpBridge` (loopback, port 0) and one
:class:`~unity_workers.launcher.UnityProcess` started with the bridge's port. ``reset``/``step`` call
the player's reset/step services; an adapter (:class:`StepAdapter`, chosen by a ``module:Class``
path) turns requests and responses into gymnasium values. A call that times out, loses the
connection or finds the player dead restarts player and bridge (fresh port), within a quota.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from unity_workers.launcher import PlayerDiedError, PlayerOptions, UnityProcess
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge

__all__ = ["DEFAULT_ADAPTER", "DEFAULT_INTERFACES_DIR", "StepAdapter", "UnityEnv", "load_adapter"]

logger = logging.getLogger("unity_workers.envs")

DEFAULT_ADAPTER = "unity_workers.envs.nav_adapter:NavAdapter"
DEFAULT_INTERFACES_DIR = Path(__file__).resolve().parent.parent / "interfaces"
WORKER_INDEX_ENV = "RAY_LAB_WORKER_INDEX"
TAIL_LINES = 20
FAULTS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, PlayerDiedError)


@runtime_checkable
class StepAdapter(Protocol):
    """Maps gymnasium actions/seeds to service requests and service responses to gymnasium values."""

    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]

    def make_step_request(self, action: Any) -> dict[str, Any]: ...

    def make_reset_request(self, seed: int | None) -> dict[str, Any]: ...

    def observation(self, response: Any) -> np.ndarray: ...

    def reward(self, response: Any, previous: Any | None) -> float: ...

    def terminated(self, response: Any) -> bool: ...

    def truncated(self, response: Any) -> bool: ...


def load_adapter(path: str, kwargs: dict[str, Any] | None = None) -> StepAdapter:
    """Import ``module:Class`` and instantiate it with ``kwargs``; raises ``ValueError`` for bad paths."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"adapter must look like 'package.module:Class', got {path!r}")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load adapter {path!r}: {exc}") from exc
    adapter = cls(**(kwargs or {}))
    if not isinstance(adapter, StepAdapter):
        raise ValueError(f"adapter {path!r} does not implement StepAdapter (got {type(adapter).__name__})")
    return adapter


def _tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = 16384) -> str:
    """The last ``lines`` lines of ``path`` ('' when missing or unreadable)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


class UnityEnv(gym.Env[np.ndarray, np.ndarray]):
    """One Unity player (or stand-in) as a gymnasium env, restarted on faults within a quota.

    All constructor arguments are JSON-friendly, so they fit ``environment.env_config``. Exactly one
    of ``command`` (argv prefix) and ``build`` (player executable) may be given; with neither, the
    Python reference simulator is launched. ``info["restarts"]`` is the restart count so far; a step
    whose call failed returns the last good observation, reward 0, ``truncated=True`` and
    ``info["env_restarted"] = True``.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        *,
        command: Sequence[str] | None = None,
        build: str | None = None,
        interfaces_dir: str | None = None,
        env_name: str = "nav",
        environment_id: int = 0,
        step_service: str | None = None,
        reset_service: str | None = None,
        step_srv: str = "ray_lab_interfaces/EnvironmentStep",
        reset_srv: str = "ray_lab_interfaces/EnvironmentReset",
        adapter: str = DEFAULT_ADAPTER,
        adapter_kwargs: dict[str, Any] | None = None,
        log_dir: str | None = None,
        extra_args: Sequence[str] = (),
        worker_index: int | None = None,
        step_timeout_s: float = 10.0,
        connect_timeout_s: float = 60.0,
        max_restarts: int = 5,
        max_restarts_per_minute: int = 3,
        render_mode: str | None = None,
    ) -> None:
        if build is not None and command is not None:
            raise ValueError(f"give at most one of build= and command=, got build={build!r}, command={command!r}")
        if step_timeout_s <= 0 or connect_timeout_s <= 0:
            raise ValueError(f"timeouts must be > 0, got step {step_timeout_s!r}, connect {connect_timeout_s!r}")
        if max_restarts < 0 or max_restarts_per_minute < 0:
            raise ValueError(f"restart quotas must be >= 0, got {max_restarts}, {max_restarts_per_minute}")
        if command is None and build is None:
            command = [sys.executable, "-m", "unity_workers.reference_sim"]
        self.worker_index = int(worker_index if worker_index is not None else os.environ.get(WORKER_INDEX_ENV, 0))
        self.render_mode = render_mode
        self.step_service = step_service or f"/{env_name}_{environment_id}/step"
        self.reset_service = reset_service or f"/{env_name}_{environment_id}/reset"
        self.step_srv, self.reset_srv = step_srv, reset_srv
        self.step_timeout_s, self.connect_timeout_s = float(step_timeout_s), float(connect_timeout_s)
        self.max_restarts, self.max_restarts_per_minute = int(max_restarts), int(max_restarts_per_minute)
        self.adapter = load_adapter(adapter, adapter_kwargs)
        self.observation_space = self.adapter.observation_space
        self.action_space = self.adapter.action_space
        self.types = MessageTypes(interfaces_dir if interfaces_dir is not None else DEFAULT_INTERFACES_DIR)
        request_type = self.types.resolve_service(reset_srv)[0]
        self._reset_has_seed = "seed" in getattr(self.types.build(request_type), "__dataclass_fields__", {})
        self.types.resolve_service(step_srv)  # fail early on an unknown type
        log_path = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="ray_lab_unity_"))
        log_path.mkdir(parents=True, exist_ok=True)
        self.options = PlayerOptions(
            build=Path(build) if build is not None else None,
            command=list(command) if command is not None else None,
            log_dir=log_path,
            worker_index=self.worker_index,
            environment_id=environment_id,
            extra_args=tuple(str(arg) for arg in extra_args),
            connect_timeout_s=self.connect_timeout_s,
        )
        self.restarts = 0
        self._restart_times: deque[float] = deque()
        self._bridge: RosTcpBridge | None = None
        self._process: UnityProcess | None = None
        self._previous: Any | None = None
        self._last_obs = np.zeros(self.observation_space.shape or (), dtype=np.float32)
        self._closed = False
        try:
            self._launch()
        except BaseException:
            self._shutdown()
            raise

    # ------------------------------------------------------------------ info
    @property
    def port(self) -> int:
        """The port of the current bridge."""
        if self._bridge is None:
            raise RuntimeError(f"worker {self.worker_index}: the env is closed")
        return self._bridge.port

    @property
    def process(self) -> UnityProcess | None:
        """The current player process (``None`` once closed)."""
        return self._process

    @property
    def log_path(self) -> Path:
        """The player log (``-logFile``), kept across restarts."""
        return self.options.log_path

    # ------------------------------------------------------------------ lifecycle
    def _launch(self) -> None:
        """Start a bridge on a fresh port and a player, and wait for its step/reset services."""
        self._bridge = bridge = RosTcpBridge(self.types, "127.0.0.1", 0, name=f"bridge-w{self.worker_index}").start()
        self._process = process = UnityProcess(self.options)
        process.start(bridge.port)
        deadline = time.monotonic() + self.connect_timeout_s
        process.wait_connected(lambda: bridge.connected, self.connect_timeout_s)
        for service in (self.step_service, self.reset_service):
            if not bridge.wait_for_service(service, max(0.0, deadline - time.monotonic())):
                if not process.alive:
                    raise PlayerDiedError(
                        f"worker {self.worker_index}: player exited (code {process.returncode}) before "
                        f"registering {service!r}",
                        returncode=process.returncode or 0,
                        log_tail=process.log_tail(),
                    )
                raise TimeoutError(
                    f"worker {self.worker_index}: player did not register service {service!r} within "
                    f"{self.connect_timeout_s:g} s; registered: {sorted(bridge.registered_services())}"
                )

    def _shutdown(self) -> None:
        """Close player (its whole process group) and bridge, if any."""
        process, self._process = self._process, None
        bridge, self._bridge = self._bridge, None
        if process is not None:
            process.close(timeout_s=3.0)
        if bridge is not None:
            bridge.close()

    def _quota_error(self, cause: BaseException) -> RuntimeError:
        text = "".join(
            f"\n--- last {TAIL_LINES} lines of {path} ---\n{_tail(path) or '(empty)'}"
            for path in (self.options.log_path, self.options.output_path)
        )
        return RuntimeError(
            f"worker {self.worker_index} on host {socket.gethostname()}: Unity player restart quota exceeded "
            f"({self.restarts} restarts, max_restarts={self.max_restarts}, "
            f"max_restarts_per_minute={self.max_restarts_per_minute}); last fault: {cause!r}; "
            f"player log: {self.options.log_path}{text}"
        )

    def _restart(self, cause: BaseException) -> None:
        """Replace player and bridge after ``cause``; raises ``RuntimeError`` when the quota is spent."""
        while True:
            now = time.monotonic()
            while self._restart_times and now - self._restart_times[0] > 60.0:
                self._restart_times.popleft()
            if self.restarts >= self.max_restarts or len(self._restart_times) >= self.max_restarts_per_minute:
                self._shutdown()
                raise self._quota_error(cause) from cause
            self.restarts += 1
            self._restart_times.append(now)
            logger.warning(
                "worker %d: restarting the Unity player (#%d) after %r", self.worker_index, self.restarts, cause
            )
            self._shutdown()
            try:
                self._launch()
                return
            except FAULTS as exc:
                cause = exc

    def _call(self, service: str, request: dict[str, Any]) -> Any:
        if self._closed or self._bridge is None:
            raise RuntimeError(f"worker {self.worker_index}: the env is closed")
        try:
            return self._bridge.call_unity_service(service, request, self.step_timeout_s)
        except FAULTS:
            raise
        except LookupError as exc:  # the player reconnected without its services: treat as a fault
            raise ConnectionError(str(exc)) from exc

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (seeded when ``seed`` is given); retries after a restart on faults."""
        super().reset(seed=seed)
        request = dict(self.adapter.make_reset_request(seed))
        if self._reset_has_seed:
            request["seed"] = -1 if seed is None else int(seed)
        while True:
            try:
                response = self._call(self.reset_service, request)
                break
            except FAULTS as exc:
                self._restart(exc)
        self._previous = response
        self._last_obs = self.adapter.observation(response)
        return self._last_obs, {"restarts": self.restarts}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One agent step; a fault restarts the player and ends the episode as truncated."""
        request = self.adapter.make_step_request(action)
        try:
            response = self._call(self.step_service, request)
        except FAULTS as exc:
            self._restart(exc)
            self._previous = None
            info = {"restarts": self.restarts, "env_restarted": True, "restart_cause": repr(exc)}
            return self._last_obs, 0.0, False, True, info
        reward = self.adapter.reward(response, self._previous)
        self._previous = response
        self._last_obs = self.adapter.observation(response)
        terminated = self.adapter.terminated(response)
        truncated = self.adapter.truncated(response) and not terminated
        return self._last_obs, reward, terminated, truncated, {"restarts": self.restarts}

    def render(self) -> None:
        """Nothing to render (headless players)."""
        return None

    def close(self) -> None:
        """Close player (process group) and bridge; idempotent."""
        self._closed = True
        self._shutdown()

    def __repr__(self) -> str:
        return f"UnityEnv(worker={self.worker_index}, service={self.step_service!r}, restarts={self.restarts})"
