"""``RayVecEnv``: a Stable-Baselines3 ``VecEnv`` whose environments live in Ray actors."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import ray
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from ray_lab.workers.assignment import EnvAssignment
from ray_lab.workers.errors import TransportError, VecEnvStateError, WorkerTimeoutError, to_worker_error
from ray_lab.workers.launch import (
    LaunchedWorkers,
    await_workers,
    close_then_kill,
    kill_actors,
    launch_workers,
    make_transport,
)
from ray_lab.workers.obs_format import ObsFormat
from ray_lab.workers.options import WorkerOptions
from ray_lab.workers.protocol import Command, decode_reply, encode_actions, encode_request, is_failure
from ray_lab.workers.recovery import restarted_step, wait_until_alive
from ray_lab.workers.state import AsyncState
from ray_lab.workers.step_codec import StepDecoder
from ray_lab.workers.transport import Transport

logger = logging.getLogger(__name__)


class RayVecEnv(VecEnv):
    """Vectorized env over Ray actors that each own ``options.envs_per_worker`` environments.

    Built like ``DummyVecEnv``/``SubprocVecEnv`` and following SB3's ``VecEnv`` contract
    (auto-reset with ``terminal_observation`` and ``TimeLimit.truncated`` in the infos, seeds and
    options applied at the next ``reset()``). A vector step makes exactly one remote call per
    worker, through a Ray Compiled Graph unless ``options.transport == "actor"``.

    :param env_fns: picklable zero-argument factories, one per environment.
    :param options: actor sizing, scheduling, timeouts and transport; defaults to
        ``WorkerOptions()``.
    :param launched: workers already started for exactly these ``env_fns`` and ``options`` with
        :func:`~ray_lab.workers.launch.launch_workers` (so their start overlapped other work).
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        options: WorkerOptions | None = None,
        *,
        launched: LaunchedWorkers | None = None,
    ) -> None:
        if not isinstance(env_fns, Sequence) or len(env_fns) == 0:
            raise ValueError(f"env_fns must be a non-empty list of env factories, got {env_fns!r}")
        self.options = options if options is not None else WorkerOptions()
        if not isinstance(self.options, WorkerOptions):
            raise TypeError(f"options must be a WorkerOptions, got {type(self.options).__name__}")
        self._state = AsyncState.DEFAULT
        self._failure_reason = ""
        self._pending: Any = None
        self._assignment = EnvAssignment(len(env_fns), self.options.envs_per_worker)
        self._transport: Transport | None = None
        if launched is not None and (launched.num_envs != len(env_fns) or launched.options != self.options):
            kill_actors(launched.actors)
            raise ValueError(
                f"launched workers are for {launched.num_envs} envs with {launched.options}, "
                f"not {len(env_fns)} envs with {self.options}"
            )
        group = await_workers(launched if launched is not None else launch_workers(env_fns, self.options))
        self._group = group
        self._actors = group.actors
        self.worker_names = group.names
        self._last_obs: Any = None
        self.worker_recoveries = 0
        try:
            self._obs_format = ObsFormat.from_space(group.observation_space)
            counts = [len(self._assignment.env_range(w)) for w in range(self._assignment.num_workers)]
            self._step_decoder = StepDecoder(self._obs_format, counts)
            self._transport = make_transport(group, self.options)
            super().__init__(len(env_fns), group.observation_space, group.action_space)
        except BaseException:
            self._shutdown()
            self._state = AsyncState.CLOSED
            raise

    # ------------------------------------------------------------------ introspection
    @property
    def state(self) -> AsyncState:
        """Current :class:`AsyncState`."""
        return self._state

    @property
    def num_workers(self) -> int:
        """Number of env-worker actors."""
        return self._assignment.num_workers

    @property
    def transport_name(self) -> str:
        """``"compiled"`` or ``"actor"`` (what ``"auto"`` resolved to)."""
        return self._transport.name if self._transport is not None else "closed"

    @property
    def workers(self) -> list[Any]:
        """The Ray actor handles, in worker order."""
        return list(self._actors)

    # ------------------------------------------------------------------ stepping
    def step_async(self, actions: np.ndarray) -> None:
        self._ensure_usable("step_async")
        if self._state is AsyncState.WAITING_STEP:
            raise VecEnvStateError("step_async() called while a step is pending; call step_wait() first")
        messages = [encode_actions(chunk) for chunk in self._split_actions(actions)]
        self._submit(messages)

    def step_wait(self) -> VecEnvStepReturn:
        self._ensure_usable("step_wait")
        if self._state is not AsyncState.WAITING_STEP:
            raise VecEnvStateError("step_wait() called without a pending step_async()")
        try:
            replies = self._fetch(Command.STEP)
        except (TransportError, WorkerTimeoutError):
            terminal = self._last_obs
            new_obs = self._recover()
            if new_obs is None:
                raise
            return restarted_step(terminal, new_obs, self.num_envs)
        decoded = self._step_decoder.decode(replies)  # type: ignore[arg-type]
        for index, reset_info in decoded.reset_infos.items():
            self.reset_infos[index] = reset_info
        self._last_obs = decoded.obs
        return decoded.obs, decoded.rewards, decoded.dones, decoded.infos

    def _some_worker_gone(self) -> bool:
        """Whether an actor fails a quick status probe (dead or restarting), as opposed to a hung env."""
        refs = [actor.status.remote() for actor in self._actors]
        for ref in refs:
            try:
                ray.get(ref, timeout=2.0)
            except Exception:
                return True
        return False

    def _recover(self) -> VecEnvObs | None:
        """After a worker actor died: wait for Ray's restart, rebuild the transport, reset every env.

        Returns the new first observations, or None when there is nothing to recover with (restarts
        off, no step yet, or an actor dead for good); the caller then raises the original error.
        """
        if self.options.max_restarts == 0 or self._last_obs is None or not self._some_worker_gone():
            return None
        logger.warning("[%s] an env worker died (%s); waiting for its restart", self.options.name, self._failure_reason)
        broken, self._transport = self._transport, None
        if broken is not None:
            try:
                broken.close()
            except Exception as exc:
                logger.debug("[%s] closing the broken transport: %s", self.options.name, exc)
        if not wait_until_alive(self._actors, self.worker_names, float(self.options.start_timeout_s or 300.0)):
            return None
        self._transport = make_transport(self._group, self.options)
        self._state = AsyncState.DEFAULT
        self.worker_recoveries += 1
        logger.warning(
            "[%s] env workers back (recovery %d); episodes truncated", self.options.name, self.worker_recoveries
        )
        return self.reset()

    def reset(self) -> VecEnvObs:
        self._ensure_usable("reset")
        if self._state is AsyncState.WAITING_STEP:
            self._discard_pending_step()
        messages = []
        for w in range(self.num_workers):
            envs = self._assignment.env_range(w)
            seeds = [self._seeds[i] for i in envs]
            options = [self._options[i] for i in envs]
            messages.append(encode_request(Command.RESET, (seeds, options)))
        replies = self._round(Command.RESET, messages)
        self.reset_infos = [info for _, infos in replies for info in infos]
        self._reset_seeds()
        self._reset_options()
        self._last_obs = self._obs_format.concatenate([obs for obs, _ in replies])
        return self._last_obs

    def close(self) -> None:
        """Close the environments, tear down the compiled graph and kill the actors (idempotent)."""
        if self._state is AsyncState.CLOSED:
            return
        try:
            if self._state is AsyncState.WAITING_STEP:
                self._discard_pending_step()
            if self._state is AsyncState.DEFAULT:
                self._round(Command.CLOSE, [encode_request(Command.CLOSE)] * self.num_workers)
        except Exception as exc:
            logger.warning("[%s] closing the env workers failed: %s", self.options.name, exc)
        finally:
            self._shutdown()
            self._state = AsyncState.CLOSED

    # ------------------------------------------------------------------ env access
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._per_env(Command.GET_ATTR, indices, lambda local: (attr_name, local))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._per_env(Command.SET_ATTR, indices, lambda local: (attr_name, value, local), gather=False)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        return self._per_env(
            Command.ENV_METHOD, indices, lambda local: (method_name, method_args, method_kwargs, local)
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._per_env(Command.IS_WRAPPED, indices, lambda local: (wrapper_class, local))

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but this method assumes it is `rgb_array` to obtain images.",
                stacklevel=2,
            )
            return [None for _ in range(self.num_envs)]
        return self._per_env(Command.RENDER, None, lambda local: local)

    # ------------------------------------------------------------------ internals
    def _split_actions(self, actions: Any) -> list[Any]:
        try:
            count = len(actions)
        except TypeError:
            raise ValueError(f"expected {self.num_envs} actions (one per env), got a scalar {actions!r}") from None
        if count != self.num_envs:
            shape = getattr(actions, "shape", None)
            raise ValueError(
                f"expected {self.num_envs} actions (one per env), got {count}"
                + (f" (array of shape {shape})" if shape is not None else "")
            )
        ranges = [self._assignment.env_range(w) for w in range(self.num_workers)]
        return [actions[r.start : r.stop] for r in ranges]

    def _per_env(
        self,
        command: Command,
        indices: VecEnvIndices,
        payload: Callable[[list[int]], Any],
        gather: bool = True,
    ) -> Any:
        """Run a per-env command on the workers owning ``indices``; results in request order."""
        targets = self._assignment.normalize(self._get_indices(indices))
        groups = self._assignment.group(targets)
        messages = [
            encode_request(command, payload(groups[w])) if w in groups else None for w in range(self.num_workers)
        ]
        if not groups:
            return [] if gather else None
        replies = self._round(command, messages)
        if not gather:
            return None
        return [replies[w][pos] for w, pos in self._assignment.scatter_order(targets)]

    def _round(self, command: Command, messages: Sequence[bytes | None]) -> list[Any]:
        """Send one message per worker (``None``: skip) and return the decoded values."""
        self._ensure_usable(command.value)
        if self._state is AsyncState.WAITING_STEP:
            raise VecEnvStateError(f"cannot run {command.value!r} while a step is pending; call step_wait() first")
        self._submit(messages)
        return self._collect(command)

    def _submit(self, messages: Sequence[bytes | None]) -> None:
        try:
            self._pending = self._transport_or_raise().submit(messages)
        except (WorkerTimeoutError, TransportError) as exc:
            self._state = AsyncState.FAILED
            self._failure_reason = str(exc)
            raise
        self._state = AsyncState.WAITING_STEP

    def _fetch(self, command: Command) -> list[bytes | None]:
        """Fetch the pending replies (all of them), then raise the first worker failure."""
        pending, self._pending = self._pending, None
        try:
            replies = self._transport_or_raise().fetch(pending, self.options.step_timeout_s, command.value)
        except (WorkerTimeoutError, TransportError) as exc:
            self._state = AsyncState.FAILED
            self._failure_reason = str(exc)
            raise
        self._state = AsyncState.DEFAULT
        for reply in replies:
            if reply is not None and is_failure(reply):
                _, failure = decode_reply(reply)
                raise to_worker_error(failure, self.worker_names[failure.worker_index])
        return replies

    def _collect(self, command: Command) -> list[Any]:
        """Fetch the pending replies of a non-step command and decode them (``None``: skipped)."""
        return [None if reply is None else decode_reply(reply)[1] for reply in self._fetch(command)]

    def _discard_pending_step(self) -> None:
        """Wait for a pending step and drop its results (its worker errors included)."""
        try:
            self._fetch(Command.STEP)
        except (WorkerTimeoutError, TransportError):
            raise
        except Exception as exc:
            logger.debug("[%s] discarded a failed pending step: %s", self.options.name, exc)

    def _ensure_usable(self, what: str) -> None:
        if self._state is AsyncState.CLOSED:
            raise VecEnvStateError(f"{what}() called on a closed RayVecEnv ({self.options.name!r})")
        if self._state is AsyncState.FAILED:
            raise VecEnvStateError(
                f"{what}() called on a RayVecEnv ({self.options.name!r}) that failed earlier; only "
                f"close() is allowed. Earlier failure: {self._failure_reason}"
            )

    def _transport_or_raise(self) -> Transport:
        if self._transport is None:
            raise VecEnvStateError(f"RayVecEnv ({self.options.name!r}) has no transport (closed)")
        return self._transport

    def _shutdown(self) -> None:
        """Tear down the transport, have the workers close their envs (bounded wait), kill the actors.

        A failed pool's workers may hang, so they are closed and killed before the transport is torn
        down; a worker that does not close in time is killed and its players' watchdogs end them.
        """
        transport, self._transport = self._transport, None
        failed = self._state is AsyncState.FAILED
        if failed:
            close_then_kill(self._actors)
        if transport is not None:
            try:
                transport.close()
            except Exception as exc:
                logger.warning("[%s] transport teardown failed: %s", self.options.name, exc)
        if not failed:
            close_then_kill(self._actors)
