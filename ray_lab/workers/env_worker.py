"""The env worker: owns ``k`` gymnasium environments and steps them all in one call.

:class:`EnvWorker` is a plain class so it can be used (and tested) in-process;
:data:`EnvWorkerActor` is the same class as a Ray actor, which is what
:class:`~ray_lab.workers.RayVecEnv` starts. Remote callers go through :meth:`EnvWorker.handle`
(one ``bytes`` request, one ``bytes`` reply, see :mod:`ray_lab.workers.protocol`); worker-side
exceptions never escape ``handle``: they come back as a
:class:`~ray_lab.workers.errors.RemoteFailure` carrying the worker index, the env indices and the
traceback text.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import ray

from ray_lab.workers.channel import ChannelAddress
from ray_lab.workers.channel_server import ChannelServer
from ray_lab.workers.errors import RemoteFailure, describe_failure
from ray_lab.workers.obs_format import ObsFormat
from ray_lab.workers.options import EnvConcurrency
from ray_lab.workers.protocol import Command, decode_request, encode_failure, encode_reply
from ray_lab.workers.step_codec import StepResult, encode_step
from ray_lab.workers.stepping import EnvStepper, check_concurrency

logger = logging.getLogger(__name__)

EnvFactory = Callable[[], gym.Env]


def _make_env(factory: EnvFactory) -> gym.Env:
    env = factory()
    if not isinstance(env, gym.Env):
        # Old gym API envs: let SB3 convert them (imported lazily, SB3 pulls in torch).
        from stable_baselines3.common.vec_env.patch_gym import _patch_env

        env = _patch_env(env)
    return env


def _is_wrapped(env: gym.Env, wrapper_class: type) -> bool:
    """Whether ``wrapper_class`` appears anywhere in the wrapper chain of ``env``."""
    current: Any = env
    while isinstance(current, gym.Wrapper):
        if isinstance(current, wrapper_class):
            return True
        current = current.env
    return False


class EnvWorker:
    """Owns ``len(env_fns)`` environments and serves the VecEnv commands for them.

    :param env_fns: picklable zero-argument factories, one per environment.
    :param worker_index: index of this worker within its vectorized env (for errors and logs).
    :param env_offset: global index of this worker's first environment.
    :param label: name of the worker group (e.g. ``"train"``), used in log lines.
    :param env_concurrency: how the envs are stepped: ``"auto"``, ``"serial"`` or ``"threads"``
        (see :mod:`ray_lab.workers.stepping`).
    """

    def __init__(
        self,
        env_fns: Sequence[EnvFactory],
        worker_index: int = 0,
        env_offset: int = 0,
        label: str = "train",
        *,
        env_concurrency: EnvConcurrency = "auto",
    ) -> None:
        self.worker_index = worker_index
        self.env_offset = env_offset
        self.label = label
        self.envs: list[gym.Env] = []
        self._num_envs = len(env_fns)
        self._pending_seeds: list[int | None] = [None] * self._num_envs
        self._pending_options: list[dict[str, Any] | None] = [None] * self._num_envs
        self._cursor: int | None = None
        self._busy: tuple[str, float] | None = None
        self._closed = False
        self._format: ObsFormat | None = None
        self.startup_failure: RemoteFailure | None = None
        self._channel: ChannelServer | None = None
        self._stepper: EnvStepper | None = None
        try:
            self._start(env_fns, check_concurrency(env_concurrency))
        except Exception as exc:
            self.startup_failure = self._failure(exc, "start")
            logger.error("[%s worker %d] start-up failed: %s", label, worker_index, exc)

    def _start(self, env_fns: Sequence[EnvFactory], concurrency: EnvConcurrency) -> None:
        """Build and check the envs, then the stepper that steps them; raises on any problem."""
        for i, factory in enumerate(env_fns):
            self._cursor = i
            self.envs.append(_make_env(factory))
        self._cursor = None
        if len({id(env.unwrapped) for env in self.envs}) != len(self.envs):
            raise ValueError(
                "the env factories returned the same environment instance more than once; "
                "each factory must build a new environment (e.g. with gym.make), not `lambda: env`"
            )
        if not self.envs:
            raise ValueError(f"worker {self.worker_index} got no env factories")
        self._format = ObsFormat.from_space(self.envs[0].observation_space)
        self._stepper = EnvStepper(
            self.envs,
            concurrency,
            reset_args=self._take_reset_args,
            set_cursor=self._set_cursor,
            worker_index=self.worker_index,
        )

    # ------------------------------------------------------------------ remote entry points
    def describe(self) -> bytes:
        """Reply with ``(observation_space, action_space, num_envs)`` (or the start-up failure)."""
        if self.startup_failure is not None:
            return encode_failure(self.startup_failure)
        env = self.envs[0]
        return encode_reply((env.observation_space, env.action_space, len(self.envs)))

    def handle(self, message: bytes) -> bytes:
        """Run one encoded command and return the encoded reply; never raises."""
        command = "decode"
        try:
            cmd, payload = decode_request(message)
            command = cmd.value
            self._busy = (command, time.monotonic())
            if self.startup_failure is not None and cmd not in (Command.NOOP, Command.CLOSE):
                return encode_failure(self.startup_failure)
            if cmd is Command.STEP:
                return encode_step(self.step(payload), self._obs_format())
            return encode_reply(self._dispatch(cmd, payload))
        except Exception as exc:
            return encode_failure(self._failure(exc, command))
        finally:
            self._busy = None
            self._cursor = None

    def status(self) -> dict[str, Any]:
        """What the worker is doing right now (answered on the actor's main thread)."""
        busy = self._busy
        return {
            "worker_index": self.worker_index,
            "pid": os.getpid(),
            "node_ip": ray.util.get_node_ip_address() if ray.is_initialized() else None,
            "command": busy[0] if busy else None,
            "busy_for_s": time.monotonic() - busy[1] if busy else 0.0,
        }

    def open_channel(self, token: bytes, client_node_id: str, reply_timeout_s: float | None = None) -> ChannelAddress:
        """Serve :meth:`handle` on a direct channel for the holder of ``token`` (see ``socket_transport``).

        A Unix socket when the client runs on this node, else TCP on this node's Ray address. A reply
        whose send takes longer than ``reply_timeout_s`` (default: the channel's) breaks the channel.
        """
        if self._channel is None:
            label = f"{self.label}-w{self.worker_index}"
            self._channel = ChannelServer(self.handle, label, reply_timeout_s=reply_timeout_s)
        same_node = not ray.is_initialized() or ray.get_runtime_context().get_node_id() == client_node_id
        host = ray.util.get_node_ip_address() if ray.is_initialized() else "127.0.0.1"
        return self._channel.open(token, same_node, host)

    # ------------------------------------------------------------------ commands
    def step(self, actions: Sequence[Any]) -> StepResult:
        """Step every environment once, auto-resetting the ones that finished (SB3 semantics)."""
        n = len(self.envs)
        if len(actions) != n:
            raise ValueError(f"worker {self.worker_index}: expected {n} actions, got {len(actions)}")
        fmt = self._obs_format()
        results = self._live_stepper().step(actions)
        self._cursor = None
        infos = [result.info for result in results]
        return StepResult(
            obs=fmt.stack([result.obs for result in results]),
            rewards=np.array([result.reward for result in results], dtype=np.float32),
            dones=np.array([result.done for result in results], dtype=bool),
            truncated=np.array([result.truncated for result in results], dtype=bool),
            infos=infos if any(infos) else None,
            reset_infos={i: r.reset_info for i, r in enumerate(results) if r.reset_info is not None},
        )

    def reset(
        self,
        seeds: Sequence[int | None] | None = None,
        options: Sequence[dict[str, Any] | None] | None = None,
    ) -> tuple[Any, list[dict[str, Any]]]:
        """Reset every environment; ``seeds``/``options`` (one per env) override pending ones."""
        all_envs = list(range(len(self.envs)))
        if seeds is not None or options is not None:
            self.set_reset_args(all_envs, seeds, options)
        fmt = self._obs_format()
        replies = self._live_stepper().reset()
        self._cursor = None
        return fmt.stack([obs for obs, _ in replies]), [info for _, info in replies]

    def set_reset_args(
        self,
        local_indices: Sequence[int],
        seeds: Sequence[int | None] | None = None,
        options: Sequence[dict[str, Any] | None] | None = None,
    ) -> None:
        """Store seeds/options used (once) by the next reset of each env, explicit or automatic."""
        for name, values in (("seeds", seeds), ("options", options)):
            if values is not None and len(values) != len(local_indices):
                raise ValueError(f"expected {len(local_indices)} {name}, got {len(values)}")
        for j, i in enumerate(local_indices):
            if seeds is not None:
                self._pending_seeds[i] = seeds[j]
            if options is not None:
                self._pending_options[i] = options[j]

    def get_attr(self, name: str, local_indices: Sequence[int]) -> list[Any]:
        """``env.get_wrapper_attr(name)`` for the given local envs."""
        return [self._at(i).get_wrapper_attr(name) for i in local_indices]

    def set_attr(self, name: str, value: Any, local_indices: Sequence[int]) -> None:
        """``setattr(env, name, value)`` on the outermost wrapper of the given local envs."""
        for i in local_indices:
            setattr(self._at(i), name, value)

    def env_method(
        self, name: str, args: Sequence[Any], kwargs: dict[str, Any], local_indices: Sequence[int]
    ) -> list[Any]:
        """Call ``env.get_wrapper_attr(name)(*args, **kwargs)`` on the given local envs."""
        return [self._at(i).get_wrapper_attr(name)(*args, **kwargs) for i in local_indices]

    def env_is_wrapped(self, wrapper_class: type, local_indices: Sequence[int]) -> list[bool]:
        """Whether each given local env has ``wrapper_class`` in its wrapper chain."""
        return [_is_wrapped(self._at(i), wrapper_class) for i in local_indices]

    def render(self, local_indices: Sequence[int] | None = None) -> list[Any]:
        """``env.render()`` of the given (default: all) local envs."""
        indices = range(len(self.envs)) if local_indices is None else local_indices
        return [self._at(i).render() for i in indices]

    def close(self) -> None:
        """Close every environment; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._stepper is not None:
            self._stepper.close()
        for i, env in enumerate(self.envs):
            self._cursor = i
            env.close()
        self._cursor = None

    # ------------------------------------------------------------------ helpers
    def _dispatch(self, cmd: Command, payload: Any) -> Any:
        if cmd is Command.NOOP:
            return None
        if cmd is Command.RESET:
            return self.reset(*payload)
        if cmd is Command.SET_RESET_ARGS:
            return self.set_reset_args(*payload)
        if cmd is Command.GET_ATTR:
            return self.get_attr(*payload)
        if cmd is Command.SET_ATTR:
            return self.set_attr(*payload)
        if cmd is Command.ENV_METHOD:
            return self.env_method(*payload)
        if cmd is Command.IS_WRAPPED:
            return self.env_is_wrapped(*payload)
        if cmd is Command.RENDER:
            return self.render(payload)
        if cmd is Command.CLOSE:
            return self.close()
        raise ValueError(f"unknown command {cmd!r}")

    def _obs_format(self) -> ObsFormat:
        if self._format is None:
            raise RuntimeError(f"worker {self.worker_index} has no environments (start-up failed)")
        return self._format

    def _at(self, local_index: int) -> gym.Env:
        self._cursor = local_index
        return self.envs[local_index]

    def _live_stepper(self) -> EnvStepper:
        if self._stepper is None:
            raise RuntimeError(f"worker {self.worker_index} has no environments (start-up failed)")
        return self._stepper

    def _take_reset_args(self, i: int) -> tuple[int | None, dict[str, Any] | None]:
        """The pending seed and options of local env ``i``, cleared (each is used by one reset)."""
        seed, options = self._pending_seeds[i], self._pending_options[i]
        self._pending_seeds[i] = None
        self._pending_options[i] = None
        return seed, options

    def _set_cursor(self, i: int | None) -> None:
        self._cursor = i

    def _failure(self, exc: BaseException, command: str) -> RemoteFailure:
        if self._cursor is not None:
            env_indices = [self.env_offset + self._cursor]
        else:
            env_indices = [self.env_offset + i for i in range(self._num_envs)]
        return describe_failure(
            exc,
            traceback.format_exc(),
            worker_index=self.worker_index,
            env_indices=env_indices,
            command=command,
        )


EnvWorkerActor = ray.remote(EnvWorker)
"""The Ray actor class of :class:`EnvWorker` (configure it with ``.options(...)``)."""
