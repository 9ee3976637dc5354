"""Serve any Python ``gymnasium.Env`` over the gRPC env protocol (``ray_lab.env.v1.EnvService``).

``serve(env)`` binds loopback by default; give ``host="0.0.0.0"`` only on a trusted network (the
protocol has no authentication). A bad request (malformed tensor, an action that does not fit the
action space, an env that raises ``ValueError``) is answered with ``INVALID_ARGUMENT`` and the
reason; any other env error with ``INTERNAL``; a call without the server's launch token (when it
was given one) with ``PERMISSION_DENIED``. The server keeps serving either way. Calls into the
env are serialised by a lock, so one env is never used from two threads at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
import gymnasium as gym
import numpy as np

from . import ray_lab_env_pb2 as pb
from . import ray_lab_env_pb2_grpc as pb_grpc
from .launch_token import token_problem
from .protocol import DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION, format_address, server_options
from .spaces import check_action, space_to_proto
from .tensors import from_tensor, info_to_maps, to_tensor

__all__ = ["EnvServer", "EnvServicer", "serve"]

logger = logging.getLogger("unity_workers.grpc_env")

T = TypeVar("T")


class EnvServicer(pb_grpc.EnvServiceServicer):
    """The ``EnvService`` implementation over one gymnasium env (spaces are converted once, here).

    Raises:
        ValueError: the env has a space type the protocol does not carry.
    """

    def __init__(self, env: gym.Env[Any, Any], env_name: str = "", token: str | None = None) -> None:
        self.env = env
        self._token = token
        name = env_name or (env.spec.id if env.spec is not None else type(env).__name__)
        self._spec = pb.SpecReply(
            protocol_version=PROTOCOL_VERSION,
            env_name=name,
            observation_space=space_to_proto(env.observation_space),
            action_space=space_to_proto(env.action_space),
        )
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
        context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")  # for type checkers

    def _admit(self, context: grpc.ServicerContext, what: str) -> None:
        """Refuse (``PERMISSION_DENIED``) a call without this server's launch token, when it has one."""
        if self._token is None:
            return
        problem = token_problem(context.invocation_metadata(), self._token)
        if problem is not None:
            logger.warning("%s from %s refused: %s (it was launched for another env)", what, context.peer(), problem)
            self._abort(context, grpc.StatusCode.PERMISSION_DENIED, f"{what}: {problem}")

    def _call(self, context: grpc.ServicerContext, what: str, func: Callable[[], T]) -> T:
        """Run ``func`` under the env lock; env errors become status codes (the lock waits at most the deadline)."""
        self._admit(context, what)
        remaining = context.time_remaining()
        if not self._lock.acquire(timeout=-1 if remaining is None else max(0.0, remaining)):
            self._abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, f"{what}: the env is busy with an earlier call")
        failure: tuple[grpc.StatusCode, str] | None = None
        try:
            return func()
        except ValueError as exc:
            logger.warning("%s rejected: %s", what, exc)
            failure = (grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {exc}")
        except Exception as exc:
            logger.exception("%s failed", what)
            failure = (grpc.StatusCode.INTERNAL, f"{what} failed: {type(exc).__name__}: {exc}")
        finally:
            self._lock.release()
        self._abort(context, *failure)

    # ------------------------------------------------------------------ RPCs
    def Spec(self, request: pb.SpecRequest, context: grpc.ServicerContext) -> pb.SpecReply:
        """Protocol version, env name and spaces."""
        self._admit(context, "spec")
        return self._spec

    def Reset(self, request: pb.ResetRequest, context: grpc.ServicerContext) -> pb.ResetReply:
        """``env.reset(seed=...)`` (no seed when the request has none)."""
        seed = int(request.seed) if request.HasField("seed") else None

        def run() -> pb.ResetReply:
            obs, info = self.env.reset(seed=seed)
            numbers, texts = info_to_maps(info)
            return pb.ResetReply(observation=to_tensor(obs), info=numbers, info_text=texts)

        return self._call(context, "reset", run)

    def Step(self, request: pb.StepRequest, context: grpc.ServicerContext) -> pb.StepReply:
        """``env.step(action)`` after checking the action against the action space."""
        self._admit(context, "step")
        if not request.HasField("action"):
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "step: StepRequest.action is missing")
        try:
            action = check_action(self.env.action_space, from_tensor(request.action, "action"))
        except ValueError as exc:
            logger.warning("step rejected: %s", exc)
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"step: {exc}")

        def run() -> pb.StepReply:
            obs, reward, terminated, truncated, info = self.env.step(action)
            numbers, texts = info_to_maps(info)
            return pb.StepReply(
                observation=to_tensor(obs),
                reward=float(reward),
                terminated=bool(terminated),
                truncated=bool(truncated),
                info=numbers,
                info_text=texts,
            )

        return self._call(context, "step", run)

    def Render(self, request: pb.RenderRequest, context: grpc.ServicerContext) -> pb.RenderReply:
        """``env.render()`` as an ``(H, W, 3)`` uint8 frame; no frame when it returns None or is not implemented."""

        def run() -> pb.RenderReply:
            try:
                frame: Any = self.env.render()
            except NotImplementedError:
                frame = None
            if frame is None:
                return pb.RenderReply()
            arr = np.asarray(frame)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                raise TypeError(f"env.render() must return an (H, W, 3) uint8 array, got {arr.dtype} {arr.shape}")
            return pb.RenderReply(frame=to_tensor(arr))

        return self._call(context, "render", run)


@dataclass
class EnvServer:
    """A started env server: the gRPC server, its servicer and the address it bound."""

    server: grpc.Server
    servicer: EnvServicer
    host: str
    port: int

    @property
    def address(self) -> str:
        """``host:port`` as a client dials it."""
        return format_address(self.host, self.port)

    def stop(self, grace_s: float | None = 0.5) -> None:
        """Stop accepting calls, cancel those still running after ``grace_s`` and wait until stopped."""
        self.server.stop(grace_s).wait()

    def __enter__(self) -> EnvServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    env: gym.Env[Any, Any],
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    env_name: str = "",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_workers: int = 4,
    token: str | None = None,
) -> EnvServer:
    """Serve ``env`` on ``host:port`` (port 0: any free port, see ``EnvServer.port``); returns it started.

    With ``token`` (the launcher's ``RAY_LAB_GRPC_TOKEN``) every call must carry it as ``x-ray-lab-token``
    metadata, else it is answered with ``PERMISSION_DENIED`` (:mod:`.launch_token`).

    Raises:
        OSError: the address cannot be bound (in use, or not an address of this machine).
        ValueError: bad arguments, or a space type the protocol does not carry.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be >= 1, got {max_workers}")
    address = format_address(host, port)
    servicer = EnvServicer(env, env_name, token)
    executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-env")
    server = grpc.server(executor, options=server_options(max_message_bytes))
    pb_grpc.add_EnvServiceServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
        reason = "the port is in use or the host is not an address of this machine"
    except RuntimeError as exc:  # recent grpcio raises instead of returning 0
        bound, reason = 0, str(exc)
    if bound == 0:
        server.stop(None)
        executor.shutdown(wait=False)
        raise OSError(f"cannot bind the gRPC env server to {address}: {reason}")
    server.start()
    logger.info("serving %s (%s) on %s", servicer._spec.env_name, type(env).__name__, format_address(host, bound))
    return EnvServer(server=server, servicer=servicer, host=host, port=bound)
