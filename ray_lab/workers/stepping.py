"""How an env worker steps (and auto-resets) the environments it owns: ``workers.env_concurrency``.

* ``serial``: one env after the other, each reset right after it finished (the plain loop).
* ``auto`` (default): envs backed by a simulator process, whose base env (``env.unwrapped``) offers
  ``step_send``/``reset_send`` (such as :class:`~unity_workers.envs.UnityEnv`) and whose wrappers
  pass actions through unchanged (see :func:`splittable`), are stepped *split-phase*: every such env
  is sent its action first, then every env is stepped through its full wrapper chain, which
  collects the answer (so ``Monitor`` and friends keep their bookkeeping). ``k`` simulators then
  take about one simulator step per vector step, not ``k``. The envs that finished are reset the
  same way: all reset requests first, then the collection. A reset request goes to the outermost
  ``reset_send`` of the wrapper chain (``get_wrapper_attr``), so a wrapper that adds reset options
  (such as environment parameters) can add them to the request too. Other envs are stepped serially.
* ``threads``: every env's step (and auto-reset) runs on its own thread of a per-worker pool, for
  user envs that block on I/O with the GIL released.

Duck typing only: this module does not import ``unity_workers``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import gymnasium as gym

from ray_lab.workers.options import ENV_CONCURRENCIES, EnvConcurrency

__all__ = ["EnvStep", "EnvStepper", "check_concurrency", "reset_env", "splittable"]

T = TypeVar("T")
ResetArgs = Callable[[int], tuple[int | None, dict[str, Any] | None]]
"""Takes (and clears) the pending ``(seed, options)`` of a local env for its next reset."""
SetCursor = Callable[[int | None], None]
"""Records which local env is being worked on, so a failure names it."""


@dataclass
class EnvStep:
    """One env's part of a vector step; ``obs`` is the first of a new episode when ``done``."""

    obs: Any
    reward: float
    done: bool
    truncated: bool
    info: dict[str, Any]
    reset_info: dict[str, Any] | None = None


def check_concurrency(value: object) -> EnvConcurrency:
    """``value`` when it is one of :data:`~ray_lab.workers.options.ENV_CONCURRENCIES`, else ``ValueError``."""
    if value not in ENV_CONCURRENCIES:
        raise ValueError(f"env_concurrency must be one of {list(ENV_CONCURRENCIES)}, got {value!r}")
    return value  # type: ignore[return-value]


def _pass_through_steps() -> set[Any]:
    """``step`` functions of wrappers known to hand the action to the inner env unchanged."""
    from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, RecordEpisodeStatistics, TimeLimit

    steps: set[Any] = {gym.Wrapper.step, gym.ObservationWrapper.step, gym.RewardWrapper.step}
    steps |= {TimeLimit.step, OrderEnforcing.step, PassiveEnvChecker.step, RecordEpisodeStatistics.step}
    monitor = sys.modules.get("stable_baselines3.common.monitor")  # loaded whenever an env is in a Monitor
    if monitor is not None:
        steps.add(monitor.Monitor.step)
    return steps


def splittable(env: gym.Env) -> bool:
    """Whether ``env`` can be stepped split-phase.

    Its base env must have ``step_send`` and ``reset_send``, and every wrapper must hand actions
    through unchanged: SB3's ``Monitor``, gymnasium's ``TimeLimit``, ``OrderEnforcing``,
    ``PassiveEnvChecker`` and ``RecordEpisodeStatistics``, observation and reward wrappers that keep
    their base class's ``step``, and wrappers that do not override ``gymnasium.Wrapper.step``.
    """
    base = env.unwrapped
    if not all(callable(getattr(base, name, None)) for name in ("step_send", "reset_send")):
        return False
    steps = _pass_through_steps()
    current: Any = env
    while isinstance(current, gym.Wrapper):
        if type(current).step not in steps:
            return False
        current = current.env
    return current is base


def _check_split(envs: Sequence[gym.Env], split: Sequence[bool], worker_index: int) -> None:
    """``ValueError`` when an env that only works split-phase (``requires_split_phase``, e.g. one agent of a
    multi-agent player, which needs every agent's action before it can step) is not stepped so."""
    for i, env in enumerate(envs):
        if getattr(env.unwrapped, "requires_split_phase", False) and not split[i]:
            raise ValueError(
                f"worker {worker_index}, env {i} ({env.unwrapped!r}) must be stepped split-phase with the other "
                "agents of its player: set `workers.env_concurrency: auto` and use only wrappers that pass "
                "actions through unchanged"
            )


def reset_env(env: gym.Env, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """``env.reset(seed=seed)``, with ``options`` only when there are some (not every env takes them)."""
    if options:
        return env.reset(seed=seed, options=options)
    return env.reset(seed=seed)


def _finish(outcome: tuple[Any, Any, Any, Any, dict[str, Any]]) -> EnvStep:
    """An env's step outcome in SB3 terms (``terminal_observation`` added when done)."""
    obs, reward, terminated, truncated, info = outcome
    done = bool(terminated or truncated)
    info.pop("TimeLimit.truncated", None)
    if done:
        info["terminal_observation"] = obs
    return EnvStep(obs, float(reward), done, bool(truncated and not terminated), info)


class EnvStepper:
    """Steps and resets a worker's envs as ``concurrency`` says (see the module docstring).

    :param reset_args: takes the pending seed and options of a local env (consumed by its next reset).
    :param set_cursor: told which local env is worked on, so a failure names the right env.
    """

    def __init__(
        self,
        envs: Sequence[gym.Env],
        concurrency: EnvConcurrency,
        *,
        reset_args: ResetArgs,
        set_cursor: SetCursor,
        worker_index: int = 0,
    ) -> None:
        self.envs = list(envs)
        self.concurrency = check_concurrency(concurrency)
        self.split = [concurrency == "auto" and splittable(env) for env in self.envs]
        _check_split(self.envs, self.split, worker_index)
        self._reset_args, self._set_cursor = reset_args, set_cursor
        self._pool: ThreadPoolExecutor | None = None
        if concurrency == "threads":
            prefix = f"envworker-{worker_index}"
            self._pool = ThreadPoolExecutor(max_workers=len(self.envs), thread_name_prefix=prefix)

    # ------------------------------------------------------------------ entry points
    def step(self, actions: Sequence[Any]) -> list[EnvStep]:
        """Step every env once with its action; envs that finished are reset (SB3 auto-reset)."""
        if self._pool is not None:
            return self._on_threads(self._pool, lambda i: self._step_and_reset(i, actions[i]))
        if any(self.split):
            return self._step_split(actions)
        return self._step_serial(actions)

    def reset(self) -> list[tuple[Any, dict[str, Any]]]:
        """Reset every env (with its pending seed and options); ``(obs, info)`` per env."""
        if self._pool is not None:
            return self._on_threads(self._pool, self._reset_at)
        return self._reset_split(list(range(len(self.envs))))

    def close(self) -> None:
        """Stop the thread pool (the envs are the worker's to close); idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ serial and split-phase
    def _step_serial(self, actions: Sequence[Any]) -> list[EnvStep]:
        results = []
        for i, env in enumerate(self.envs):
            self._set_cursor(i)
            result = _finish(env.step(actions[i]))
            if result.done:
                result.obs, result.reset_info = self._reset_at(i)
            results.append(result)
        return results

    def _step_split(self, actions: Sequence[Any]) -> list[EnvStep]:
        for i, env in enumerate(self.envs):
            if self.split[i]:
                self._set_cursor(i)
                env.unwrapped.step_send(actions[i])  # type: ignore[attr-defined]
        results = []
        for i, env in enumerate(self.envs):  # collects the pre-sent steps, steps the other envs
            self._set_cursor(i)
            results.append(_finish(env.step(actions[i])))
        finished = [i for i, result in enumerate(results) if result.done]
        for i, (obs, info) in zip(finished, self._reset_split(finished), strict=True):
            results[i].obs, results[i].reset_info = obs, info
        return results

    def _reset_split(self, indices: list[int]) -> list[tuple[Any, dict[str, Any]]]:
        """Reset ``indices``: reset requests to the split-phase envs first, then every reset in order."""
        args = {i: self._reset_args(i) for i in indices}
        for i in indices:
            if self.split[i]:
                self._set_cursor(i)
                seed, options = args[i]
                self.envs[i].get_wrapper_attr("reset_send")(seed=seed, options=options)
        replies = []
        for i in indices:
            self._set_cursor(i)
            replies.append(reset_env(self.envs[i], *args[i]))
        return replies

    def _reset_at(self, i: int) -> tuple[Any, dict[str, Any]]:
        seed, options = self._reset_args(i)
        return reset_env(self.envs[i], seed, options)

    # ------------------------------------------------------------------ threads
    def _step_and_reset(self, i: int, action: Any) -> EnvStep:
        result = _finish(self.envs[i].step(action))
        if result.done:
            result.obs, result.reset_info = self._reset_at(i)
        return result

    def _on_threads(self, pool: ThreadPoolExecutor, work: Callable[[int], T]) -> list[T]:
        """``work(i)`` for every env on the pool; waits for all, then raises the first failure by env index."""
        futures: list[Future[T]] = [pool.submit(work, i) for i in range(len(self.envs))]
        wait(futures)
        for i, future in enumerate(futures):
            if future.exception() is not None:
                self._set_cursor(i)
                future.result()  # re-raises it, with the env's traceback
        return [future.result() for future in futures]
