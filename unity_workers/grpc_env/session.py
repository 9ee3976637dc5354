"""`GrpcSession`: the :class:`~unity_workers.session.SimSession` of a simulator serving the gRPC env protocol.

The simulator is the gRPC server: :meth:`GrpcSessionFactory.open` picks a free port on this node,
the player is launched with ``--ros-port PORT --protocol grpc`` and binds it, and
:meth:`GrpcSession.wait_ready` polls ``Spec`` until it answers. Reset and step are sent with
``Stub.Method.future`` and collected with ``.result()``, so several sessions can have a call in
flight at once. gRPC status codes become the contract's exceptions: ``DEADLINE_EXCEEDED`` ->
``TimeoutError``, ``UNAVAILABLE``/``CANCELLED`` -> ``ConnectionError``, ``INVALID_ARGUMENT`` ->
``ValueError`` (a bug, not a fault), ``PERMISSION_DENIED`` -> ``LaunchTokenError`` (a
``ConnectionError``), anything else -> ``RuntimeError``. The picked port is only reserved by the
player binding it later, so each session has a per-launch token (:mod:`.launch_token`): the player
gets it in ``RAY_LAB_GRPC_TOKEN`` and refuses calls without it, so a session never drives another
env's simulator that took its port.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import gymnasium as gym
import numpy as np

from unity_workers.launcher import PlayerDiedError, UnityProcess, free_port
from unity_workers.session import Parameters, SimSession, SimSessionFactory, StepOutcome

from . import ray_lab_env_pb2 as pb
from . import ray_lab_env_pb2_grpc as pb_grpc
from .launch_token import TOKEN_ENV, TOKEN_METADATA, LaunchTokenError, new_token
from .protocol import DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION, channel_options, format_address
from .spaces import action_to_array, space_from_proto
from .tensors import from_tensor, info_from_maps, to_tensor

__all__ = ["GrpcSession", "GrpcSessionFactory"]

R = TypeVar("R")
_POLL_PAUSE_S = 0.02
_RESULT_GRACE_S = 5.0
_CONNECTION_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def _check_timeout(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class GrpcSession(SimSession):
    """One gRPC channel to one simulator on ``host:port`` (see the module docstring for the errors)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        worker_index: int = 0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        poll_timeout_s: float = 0.5,
        render_timeout_s: float = 10.0,
        token: str | None = None,
    ) -> None:
        self.address = format_address(host, port)
        self._token = token
        self._metadata = () if token is None else ((TOKEN_METADATA, token),)
        self.worker_index = worker_index
        self._port = port
        self._poll_timeout_s = _check_timeout("poll_timeout_s", poll_timeout_s)
        self._render_timeout_s = _check_timeout("render_timeout_s", render_timeout_s)
        self._channel = grpc.insecure_channel(self.address, options=channel_options(max_message_bytes))
        self._stub = pb_grpc.EnvServiceStub(self._channel)
        self._observation_space: gym.Space[Any] | None = None
        self._action_space: gym.Space[Any] | None = None
        self.env_name = ""
        self._closed = False
        self._inflight: tuple[str, grpc.Future, float] | None = None  # (method, call, timeout_s)

    # ------------------------------------------------------------------ info
    @property
    def port(self) -> int:
        """The port the player binds (given to it as ``--ros-port``)."""
        return self._port

    @property
    def player_args(self) -> Sequence[str]:
        """``("--protocol", "grpc")``: the player must serve the gRPC env protocol."""
        return ("--protocol", "grpc")

    @property
    def player_env(self) -> Mapping[str, str]:
        """``RAY_LAB_GRPC_TOKEN``: the launch token every call carries (nothing without one)."""
        return {} if self._token is None else {TOKEN_ENV: self._token}

    @property
    def observation_space(self) -> gym.Space[Any]:
        """The observation space from the simulator's ``Spec`` reply."""
        if self._observation_space is None:
            raise RuntimeError(f"worker {self.worker_index}: call wait_ready() before reading the spaces")
        return self._observation_space

    @property
    def action_space(self) -> gym.Space[Any]:
        """The action space from the simulator's ``Spec`` reply."""
        if self._action_space is None:
            raise RuntimeError(f"worker {self.worker_index}: call wait_ready() before reading the spaces")
        return self._action_space

    # ------------------------------------------------------------------ calls
    def _error(self, name: str, exc: grpc.RpcError, timeout_s: float) -> Exception:
        code, details = exc.code(), exc.details()
        where = f"worker {self.worker_index}: {name} on the gRPC env at {self.address}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return TimeoutError(f"{where} got no answer within {timeout_s:g} s")
        if code in _CONNECTION_CODES:
            return ConnectionError(f"{where}: connection lost ({code.name}: {details})")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return ValueError(f"{where} was rejected: {details}")
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return LaunchTokenError(
                f"{where} was refused ({details}): the server on port {self._port} is not the simulator this env "
                "launched (another env's simulator holds the port, or the simulator ignores RAY_LAB_GRPC_TOKEN)"
            )
        return RuntimeError(f"{where} failed ({code.name}: {details})")

    def _rpc(self, name: str, method: Callable[..., R], request: Any, timeout_s: float) -> R:
        if self._closed:
            raise RuntimeError(f"worker {self.worker_index}: the gRPC session to {self.address} is closed")
        timeout = _check_timeout("timeout_s", timeout_s)
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(name, exc, timeout) from exc

    def _accept_spec(self, reply: pb.SpecReply) -> None:
        if reply.protocol_version != PROTOCOL_VERSION:
            raise RuntimeError(
                f"worker {self.worker_index}: the simulator at {self.address} speaks env protocol version "
                f"{reply.protocol_version}, this client speaks {PROTOCOL_VERSION}"
            )
        self._observation_space = space_from_proto(reply.observation_space, "observation_space")
        self._action_space = space_from_proto(reply.action_space, "action_space")
        self.env_name = reply.env_name

    def _died(self, process: UnityProcess) -> PlayerDiedError:
        returncode = process.returncode if process.returncode is not None else -1
        return PlayerDiedError(
            f"worker {self.worker_index}: player (pid {process.pid}) exited with code {returncode} before "
            f"serving the gRPC env on {self.address}; command: {' '.join(process.command)}\n"
            f"--- player log {process.log_path} ---\n{process.log_tail() or '(empty)'}\n"
            f"--- stdout/stderr ---\n{process.output_tail() or '(empty)'}",
            returncode=returncode,
            log_tail=process.log_tail(),
            log_path=process.log_path,
        )

    def wait_ready(self, process: UnityProcess | None, timeout_s: float) -> None:
        """Poll ``Spec`` (short deadlines) until the simulator answers; then the spaces are known.

        ``process`` may be None for a server this session did not launch (then nobody is watched).

        Raises:
            LaunchTokenError: the server on the port answers, but without this session's launch token.
            PlayerDiedError: the process exited first.
            TimeoutError: no answer within ``timeout_s`` (names the address and the last gRPC error).
            RuntimeError: the simulator speaks another protocol version.
        """
        timeout = _check_timeout("timeout_s", timeout_s)
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while True:
            poll = max(0.01, min(self._poll_timeout_s, deadline - time.monotonic()))
            try:
                self._accept_spec(self._rpc("Spec", self._stub.Spec, pb.SpecRequest(), poll))
                return
            except LaunchTokenError:
                raise
            except (TimeoutError, ConnectionError) as exc:
                last = str(exc)
            if process is not None and not process.alive:
                raise self._died(process)
            if time.monotonic() >= deadline:
                who = f"the player (pid {process.pid})" if process is not None else "the server"
                raise TimeoutError(
                    f"worker {self.worker_index}: {who} did not serve the gRPC env on "
                    f"{self.address} within {timeout:g} s (was it started with --protocol grpc?); last error: {last}"
                )
            time.sleep(_POLL_PAUSE_S)

    def _observation(self, tensor: pb.Tensor) -> np.ndarray:
        obs = from_tensor(tensor, "observation")
        expected = self.observation_space.shape
        if expected is not None and obs.shape != tuple(expected):
            raise ValueError(
                f"worker {self.worker_index}: the simulator at {self.address} sent an observation of shape "
                f"{list(obs.shape)}, its observation space has shape {list(expected)}"
            )
        return obs

    def _send(self, name: str, method: grpc.UnaryUnaryMultiCallable, request: Any, timeout_s: float) -> None:
        if self._closed:
            raise RuntimeError(f"worker {self.worker_index}: the gRPC session to {self.address} is closed")
        if self._inflight is not None:
            raise RuntimeError(
                f"worker {self.worker_index}: cannot send {name} to {self.address} while "
                f"{self._inflight[0]} is in flight"
            )
        timeout = _check_timeout("timeout_s", timeout_s)
        try:
            future = method.future(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(name, exc, timeout) from exc
        self._inflight = (name, future, timeout)

    def _receive(self, name: str) -> Any:
        inflight = self._inflight
        if inflight is None or inflight[0] != name:
            what = "nothing" if inflight is None else inflight[0]
            raise RuntimeError(f"worker {self.worker_index}: no {name} to collect ({what} is in flight)")
        self._inflight = None
        _, future, timeout = inflight
        try:  # gRPC enforces the deadline; the grace only guards against a call that never ends
            return future.result(timeout=timeout + _RESULT_GRACE_S)
        except grpc.RpcError as exc:
            raise self._error(name, exc, timeout) from exc
        except grpc.FutureTimeoutError as exc:
            raise TimeoutError(
                f"worker {self.worker_index}: {name} on the gRPC env at {self.address} got no "
                f"answer within {timeout:g} s"
            ) from exc
        except grpc.FutureCancelledError as exc:
            raise ConnectionError(f"worker {self.worker_index}: {name} on {self.address} was cancelled") from exc

    def reset_send(self, seed: int | None, timeout_s: float, parameters: Parameters | None = None) -> None:
        """Send ``Reset`` (seeded when ``seed`` is not None) with a ``timeout_s`` deadline from now.

        The gRPC protocol carries no environment parameters: asking for some is a ``ValueError``.
        """
        if parameters:
            raise ValueError(
                f"environment parameters {sorted(parameters)} need protocol `ros_tcp`; the gRPC protocol "
                "does not carry them"
            )
        request = pb.ResetRequest() if seed is None else pb.ResetRequest(seed=int(seed))
        self._send("Reset", self._stub.Reset, request, timeout_s)

    def reset_receive(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Wait for the ``Reset`` reply: ``(observation, info)``."""
        reply = self._receive("Reset")
        return self._observation(reply.observation), info_from_maps(reply.info, reply.info_text)

    def step_send(self, action: Any, timeout_s: float) -> None:
        """Send ``Step`` with ``action`` (shaped and cast to the action space) and a ``timeout_s`` deadline."""
        request = pb.StepRequest(action=to_tensor(action_to_array(self.action_space, action)))
        self._send("Step", self._stub.Step, request, timeout_s)

    def step_receive(self) -> StepOutcome:
        """Wait for the ``Step`` reply."""
        reply = self._receive("Step")
        info = info_from_maps(reply.info, reply.info_text)
        return self._observation(reply.observation), reply.reward, reply.terminated, reply.truncated, info

    def render(self) -> np.ndarray | None:
        """The simulator's ``(H, W, 3)`` uint8 frame, or None when it has no image."""
        reply = self._rpc("Render", self._stub.Render, pb.RenderRequest(), self._render_timeout_s)
        if not reply.HasField("frame"):
            return None
        frame = from_tensor(reply.frame, "frame")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"the simulator at {self.address} sent a {frame.dtype} frame of shape {frame.shape}")
        return frame

    def close(self) -> None:
        """Close the channel, dropping a call in flight (idempotent); the player process is the env's to stop."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight[1].cancel()
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __repr__(self) -> str:
        return f"GrpcSession(worker={self.worker_index}, address={self.address!r}, closed={self._closed})"


@dataclass(frozen=True)
class GrpcSessionFactory(SimSessionFactory):
    """Opens :class:`GrpcSession` s to players on ``host`` (loopback by default); plain picklable data.

    ``poll_timeout_s`` is the deadline of each ``Spec`` poll in ``wait_ready``, ``render_timeout_s``
    that of ``Render``; reset and step take theirs from the caller.
    """

    host: str = DEFAULT_HOST
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    poll_timeout_s: float = 0.5
    render_timeout_s: float = 10.0
    require_token: bool = True

    def __post_init__(self) -> None:
        channel_options(self.max_message_bytes)  # validates the size
        _check_timeout("poll_timeout_s", self.poll_timeout_s)
        _check_timeout("render_timeout_s", self.render_timeout_s)

    def open(self, worker_index: int) -> GrpcSession:
        """A session on a port of ``host`` that was free a moment ago (the player binds it), with a fresh token."""
        return GrpcSession(
            self.host,
            free_port(self.host),
            worker_index=worker_index,
            max_message_bytes=self.max_message_bytes,
            poll_timeout_s=self.poll_timeout_s,
            render_timeout_s=self.render_timeout_s,
            token=new_token() if self.require_token else None,
        )
