"""`RosTcpSession`: a :class:`~unity_workers.session.SimSession` over one ROS-TCP bridge.

The bridge binds a free port (port 0) on this node; the player connects to it, registers its
step/reset services with ``__unity_service`` and the session calls them with a timeout. An adapter
(:class:`~unity_workers.envs.adapters.StepAdapter`) maps actions and responses to gymnasium values.
Each session has a random token of its own (unless ``require_token`` is off): the player gets it in
``RAY_LAB_ROS_TCP_TOKEN`` (:attr:`RosTcpSession.player_env`) and the bridge serves only a connection
that sends it (:mod:`unity_workers.ros_tcp.admission`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.launcher import PlayerDiedError, UnityProcess
from unity_workers.ros_tcp import MessageTypes, PendingCall, RosTcpBridge
from unity_workers.ros_tcp.admission import TOKEN_ENV, new_token
from unity_workers.ros_tcp.sending import DEFAULT_SEND_TIMEOUT_S
from unity_workers.ros_tcp.topics import DEFAULT_MAX_TOPIC_MESSAGES
from unity_workers.session import Parameters, SimSession, SimSessionFactory, StepOutcome
from unity_workers.spec import OWN_RESET_SRV

from .adapters import StepAdapter
from .fields import image_to_rgb

__all__ = ["ACCEPTED_PARAMETERS", "PARAMETER_NAMES", "PARAMETER_VALUES", "RosTcpSession", "RosTcpSessionFactory"]

PARAMETER_NAMES, PARAMETER_VALUES = "parameter_names", "parameter_values"
"""Reset-request fields carrying an episode's environment parameters (``ray_lab_interfaces`` and users' types)."""
ACCEPTED_PARAMETERS = "accepted_parameters"
"""Reset-response field listing the parameter names the simulator uses; checked at every player start."""

logger = logging.getLogger("unity_workers.envs")


@dataclass
class RosTcpSessionFactory(SimSessionFactory):
    """Opens bridges for one env: services, srv types, the adapter and optional ROS 2 forwarding."""

    types: MessageTypes
    adapter: StepAdapter
    step_service: str
    reset_service: str
    step_srv: str
    reset_srv: str
    seed_field: str | None = "seed"
    host: str = "127.0.0.1"
    max_payload_bytes: int = 16 * 1024 * 1024
    image_topic: str | None = None
    ros2_graph: str = "off"
    ros2_namespace: str | None = None
    require_token: bool = True
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S  # bounds the bridge's writes other than step/reset calls
    max_topic_messages: int = DEFAULT_MAX_TOPIC_MESSAGES
    parameter_names: tuple[str, ...] = ()  # environment parameters the run sends (checked at every start)
    _reset_fields: set[str] = field(default_factory=set, init=False)
    _reset_reply_fields: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.types.resolve_service(self.step_srv)  # unknown types fail before any player starts
        request_type, response_type = self.types.resolve_service(self.reset_srv)
        self._reset_fields = set(getattr(self.types.build(request_type), "__dataclass_fields__", {}))
        self._reset_reply_fields = set(getattr(self.types.build(response_type), "__dataclass_fields__", {}))
        missing = {PARAMETER_NAMES, PARAMETER_VALUES} - self._reset_fields
        if self.parameter_names and missing:
            raise ValueError(
                f"environment.parameters {list(self.parameter_names)}: the reset request {self.reset_srv!r} has no "
                f"{sorted(missing)} field(s) to carry them; use ray-lab's reset type ({OWN_RESET_SRV}) or add "
                f"`string[] {PARAMETER_NAMES}` and `float64[] {PARAMETER_VALUES}` to your reset request"
            )

    def parameter_request(self, parameters: Parameters | None) -> dict[str, Any]:
        """The request fields carrying ``parameters`` (none when there are none)."""
        if not parameters:
            return {}
        if not {PARAMETER_NAMES, PARAMETER_VALUES} <= self._reset_fields:
            raise ValueError(f"the reset request {self.reset_srv!r} cannot carry environment parameters")
        names = list(parameters)
        values = np.asarray([parameters[name] for name in names], dtype=np.float64)
        return {PARAMETER_NAMES: names, PARAMETER_VALUES: values}

    def unaccepted(self, response: Any) -> list[str]:
        """Configured parameter names the simulator's reset response does not list as accepted."""
        if ACCEPTED_PARAMETERS not in self._reset_reply_fields:
            return []  # a simulator that does not report them: nothing to check
        accepted = {str(name) for name in getattr(response, ACCEPTED_PARAMETERS)}
        return [name for name in self.parameter_names if name not in accepted]

    @property
    def reset_takes_seed(self) -> bool:
        """Whether the reset request type has the seed field."""
        return self.seed_field is not None and self.seed_field in self._reset_fields

    def open(self, worker_index: int) -> RosTcpSession:
        """A started bridge on a free port of this node, with a fresh token unless ``require_token`` is off."""
        token = new_token() if self.require_token else None
        return RosTcpSession(self, self.start_bridge(worker_index, token), worker_index, token)

    def start_bridge(self, worker_index: int, token: str | None) -> RosTcpBridge:
        """A bridge on a free port of this node that serves only a player sending ``token`` (any, if None)."""
        return RosTcpBridge(
            self.types, self.host, 0, name=f"bridge-w{worker_index}", max_payload_bytes=self.max_payload_bytes,
            token=token, send_timeout_s=self.send_timeout_s, max_topic_messages=self.max_topic_messages,
        ).start()  # fmt: skip


class RosTcpSession(SimSession):
    """Calls the player's step/reset services through its own bridge."""

    def __init__(
        self, factory: RosTcpSessionFactory, bridge: RosTcpBridge, worker_index: int, token: str | None = None
    ) -> None:
        self.factory, self.bridge, self.worker_index = factory, bridge, worker_index
        self._token = token
        self.adapter = factory.adapter
        self._previous: Any | None = None
        self._last_response: Any | None = None
        self._forwarder: Any | None = None
        self._inflight: tuple[str, PendingCall, float] | None = None  # (kind, call, timeout_s)

    @property
    def port(self) -> int:
        """The bridge's port."""
        return self.bridge.port

    @property
    def player_env(self) -> Mapping[str, str]:
        """``RAY_LAB_ROS_TCP_TOKEN``: the token the bridge waits for (nothing when none is required)."""
        return {} if self._token is None else {TOKEN_ENV: self._token}

    @property
    def observation_space(self) -> gym.Space[Any]:
        """The adapter's observation space."""
        return self.adapter.observation_space

    @property
    def action_space(self) -> gym.Space[Any]:
        """The adapter's action space."""
        return self.adapter.action_space

    def wait_ready(self, process: UnityProcess, timeout_s: float) -> None:
        """Wait for the connection, then for both services (see :class:`SimSession`)."""
        deadline = time.monotonic() + timeout_s
        process.wait_connected(lambda: self.bridge.connected, timeout_s)
        for service in (self.factory.step_service, self.factory.reset_service):
            if self.bridge.wait_for_service(service, max(0.0, deadline - time.monotonic())):
                continue
            if not process.alive:
                raise PlayerDiedError(
                    f"worker {self.worker_index}: player exited (code {process.returncode}) before "
                    f"registering {service!r}; player log: {process.log_path}",
                    returncode=process.returncode or 0,
                    log_tail=process.log_tail(),
                    log_path=process.log_path,
                )
            raise TimeoutError(
                f"worker {self.worker_index}: player did not register service {service!r} within {timeout_s:g} s; "
                f"registered: {sorted(self.bridge.registered_services())}; player log: {process.log_path}"
            )
        self._check_parameters(max(0.0, deadline - time.monotonic()))
        self._attach_ros2_graph()

    def _check_parameters(self, timeout_s: float) -> None:
        """Ask the simulator which parameters it uses (a ``reset: false`` call); unknown configured ones fail."""
        if not self.factory.parameter_names or "reset" not in self.factory._reset_fields:
            return
        self._send("reset", self.factory.reset_service, {"reset": False}, max(timeout_s, 1.0))
        response = self._receive("reset")
        unknown = self.factory.unaccepted(response)
        if unknown:
            accepted = sorted(str(name) for name in getattr(response, ACCEPTED_PARAMETERS))
            raise ValueError(
                f"environment.parameters: the simulator behind {self.factory.reset_service!r} does not use "
                f"{unknown}; it reports accepting {accepted}. Remove them or fix their names."
            )

    def _attach_ros2_graph(self) -> None:
        if self.factory.ros2_graph == "off" or self._forwarder is not None:
            return
        try:
            from unity_workers.ros2 import Ros2Forwarder
        except ImportError as exc:
            logger.info("ROS 2 graph forwarding is off: %s", exc)
            return
        namespace = self.factory.ros2_namespace or f"/ray_lab/worker_{self.worker_index}"
        self._forwarder = Ros2Forwarder.attach(self.bridge, namespace, self.factory.types)
        if self._forwarder is None and self.factory.ros2_graph == "on":
            raise RuntimeError("environment.unity.ros2_graph is 'on' but rclpy is not installed")

    def _send(self, kind: str, service: str, request: dict[str, Any], timeout_s: float) -> None:
        if self._inflight is not None:
            raise RuntimeError(
                f"worker {self.worker_index}: cannot send a {kind} to {service!r} while a "
                f"{self._inflight[0]} is in flight on the bridge at port {self.port}"
            )
        try:
            pending = self.bridge.send_unity_request(service, request, timeout_s=timeout_s)
        except LookupError as exc:  # the player reconnected without its services: a fault
            raise ConnectionError(str(exc)) from exc
        self._inflight = (kind, pending, timeout_s)

    def _receive(self, kind: str) -> Any:
        inflight = self._inflight
        if inflight is None or inflight[0] != kind:
            what = "nothing" if inflight is None else f"a {inflight[0]}"
            raise RuntimeError(f"worker {self.worker_index}: no {kind} to collect ({what} is in flight)")
        self._inflight = None
        return self.bridge.wait_response(inflight[1], inflight[2])

    def reset_send(self, seed: int | None, timeout_s: float, parameters: Parameters | None = None) -> None:
        """Send the reset request (with the seed, -1 for none, when the request type has the field)."""
        request = {**self.adapter.make_reset_request(seed), **self.factory.parameter_request(parameters)}
        if self.factory.reset_takes_seed and self.factory.seed_field is not None:
            request[self.factory.seed_field] = -1 if seed is None else int(seed)
        self._send("reset", self.factory.reset_service, request, timeout_s)

    def reset_receive(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Wait for the reset response and map it."""
        response = self._receive("reset")
        self._previous = self._last_response = response
        return self.adapter.observation(response), {}

    def step_send(self, action: Any, timeout_s: float) -> None:
        """Send the step request built from ``action``."""
        self._send("step", self.factory.step_service, self.adapter.make_step_request(action), timeout_s)

    def step_receive(self) -> StepOutcome:
        """Wait for the step response and map it."""
        response = self._receive("step")
        reward = self.adapter.reward(response, self._previous)
        self._previous = self._last_response = response
        terminated = self.adapter.terminated(response)
        truncated = self.adapter.truncated(response) and not terminated
        info_of = getattr(self.adapter, "info", None)
        info = dict(info_of(response)) if info_of is not None else {}
        return self.adapter.observation(response), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The adapter's image field of the last response, else the latest image on ``image_topic``."""
        image_of = getattr(self.adapter, "image", None)
        if image_of is not None and self._last_response is not None:
            frame = image_of(self._last_response)
            if frame is not None:
                return np.asarray(frame)
        if self.factory.image_topic is not None:
            message = self.bridge.latest(self.factory.image_topic)
            return None if message is None else image_to_rgb(message)
        return None

    def close(self) -> None:
        """Stop ROS 2 forwarding and the bridge (a call in flight is dropped); idempotent."""
        self._inflight = None
        forwarder, self._forwarder = self._forwarder, None
        if forwarder is not None:
            forwarder.close()
        self.bridge.close()


def default_interfaces_dir() -> Path:
    """ray-lab's packaged interface definitions (``ray_lab_interfaces``)."""
    return Path(__file__).resolve().parent.parent / "interfaces"
