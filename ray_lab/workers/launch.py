"""Start env-worker actors with the scheduling of :class:`WorkerOptions`, and pick a transport."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import ray
from ray.exceptions import GetTimeoutError, RayError
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from ray_lab.workers.assignment import EnvAssignment
from ray_lab.workers.env_worker import EnvWorkerActor
from ray_lab.workers.errors import TransportError, WorkerTimeoutError, to_worker_error
from ray_lab.workers.options import WorkerOptions
from ray_lab.workers.protocol import decode_reply
from ray_lab.workers.transport import ActorTransport, Transport, timeout_error

logger = logging.getLogger(__name__)

CLOSE_WAIT_S = 5.0
"""How long a shutdown waits for the workers to close their envs before it kills them."""


@dataclass
class WorkerGroup:
    """Started actors, their names, and the spaces their environments reported."""

    actors: list[Any]
    names: list[str]
    observation_space: gym.Space
    action_space: gym.Space


def actor_options(options: WorkerOptions, worker: int, name: str, num_workers: int) -> dict[str, Any]:
    """Keyword arguments for ``EnvWorkerActor.options(...)`` of worker ``worker``."""
    opts: dict[str, Any] = {
        "name": name,
        "num_cpus": options.num_cpus,
        "num_gpus": options.num_gpus,
        "max_restarts": options.max_restarts,
    }
    if options.resources:
        opts["resources"] = dict(options.resources)
    if options.runtime_env is not None:
        opts["runtime_env"] = options.runtime_env
    pg = options.placement_group
    if pg is not None:
        available = len(pg.bundle_specs)
        if options.bundle_offset + num_workers > available:
            raise ValueError(
                f"placement group has {available} bundles but {num_workers} workers need bundles "
                f"{options.bundle_offset}..{options.bundle_offset + num_workers - 1} (bundle_offset="
                f"{options.bundle_offset})"
            )
        opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_bundle_index=options.bundle_offset + worker
        )
    return opts


@dataclass
class LaunchedWorkers:
    """Worker actors created and building their envs, not waited for yet (see :func:`launch_workers`)."""

    actors: list[Any]
    names: list[str]
    num_envs: int
    options: WorkerOptions


def launch_workers(env_fns: Sequence[Callable[[], gym.Env]], options: WorkerOptions) -> LaunchedWorkers:
    """Create one actor per ``envs_per_worker`` factories and return at once; they build their envs meanwhile.

    A caller can do other slow work (importing torch, building a model) while the workers start,
    then hand the result to :class:`~ray_lab.workers.RayVecEnv`, which waits for them.
    """
    assignment = EnvAssignment(len(env_fns), options.envs_per_worker)
    tag = uuid.uuid4().hex[:8]
    names = [f"{options.name}-envworker-{w}-{tag}" for w in range(assignment.num_workers)]
    actors: list[Any] = []
    try:
        for w in range(assignment.num_workers):
            envs = assignment.env_range(w)
            actor = EnvWorkerActor.options(**actor_options(options, w, names[w], assignment.num_workers)).remote(
                [env_fns[i] for i in envs], w, envs.start, options.name, env_concurrency=options.env_concurrency
            )
            actors.append(actor)
    except BaseException:
        kill_actors(actors)
        raise
    return LaunchedWorkers(actors, names, len(env_fns), options)


def await_workers(launched: LaunchedWorkers) -> WorkerGroup:
    """Wait until the launched workers built their envs; their spaces.

    On any failure the actors are killed and the error (a :class:`~ray_lab.workers.WorkerError`
    with the remote traceback, or a :class:`~ray_lab.workers.WorkerTimeoutError`) is raised.
    """
    actors, names, options = launched.actors, launched.names, launched.options
    try:
        replies = _wait_describe(actors, names, options)
        spaces = [decode_reply(reply) for reply in replies]
        for ok, value in spaces:
            if not ok:
                raise to_worker_error(value, names[value.worker_index])
        observation_space, action_space, _ = spaces[0][1]
        logger.debug("[%s] started %d env workers: %s", options.name, len(actors), names)
        return WorkerGroup(actors, names, observation_space, action_space)
    except BaseException as exc:  # workers that never came up are killed at once (their players' guards end them)
        close_then_kill(actors, 0.0 if isinstance(exc, WorkerTimeoutError) else CLOSE_WAIT_S)
        raise


def _wait_describe(actors: list[Any], names: list[str], options: WorkerOptions) -> list[bytes]:
    refs = [actor.describe.remote() for actor in actors]
    try:
        return list(ray.get(refs, timeout=options.start_timeout_s))
    except GetTimeoutError:
        _, not_ready = ray.wait(refs, num_returns=len(refs), timeout=0)
        slow = [w for w, ref in enumerate(refs) if ref in not_ready]
        hint = (
            f"; the actors may be waiting for resources the cluster cannot provide "
            f"(per worker: {options.actor_resources() or 'none'}), or building the envs is slow"
        )
        raise timeout_error(names, slow, "start", float(options.start_timeout_s or 0.0), hint) from None
    except RayError as exc:
        raise TransportError(f"env workers {names} failed to start: {exc}") from exc


def make_transport(group: WorkerGroup, options: WorkerOptions) -> Transport:
    """The transport selected by ``options.transport`` (``auto``: direct channels, else actor calls)."""
    if options.transport == "actor":
        return ActorTransport(group.actors, group.names)
    try:
        return _build_transport(group, options)
    except Exception as exc:
        if options.transport != "auto":
            message = f"[{options.name}] setting up the {options.transport!r} transport failed: {exc}"
            raise TransportError(message) from exc
        logger.warning(
            "[%s] could not open direct channels to the env workers (%s: %s); "
            "falling back to plain actor calls, which are slower",
            options.name,
            type(exc).__name__,
            exc,
        )
        return ActorTransport(group.actors, group.names)


def _build_transport(group: WorkerGroup, options: WorkerOptions) -> Transport:
    if options.transport == "compiled":
        from ray_lab.workers.compiled_transport import CompiledTransport

        return CompiledTransport(
            group.actors,
            group.names,
            submit_timeout_s=options.step_timeout_s,
            start_timeout_s=options.start_timeout_s,
            idle_release_s=options.idle_release_s,
        )
    from ray_lab.workers.socket_transport import SocketTransport

    return SocketTransport(
        group.actors, group.names, start_timeout_s=options.start_timeout_s, send_timeout_s=options.step_timeout_s
    )


def close_then_kill(actors: Sequence[Any], timeout_s: float = CLOSE_WAIT_S) -> None:
    """Ask each worker to close its envs (their players' process groups end), then kill the actors.

    Waits at most ``timeout_s`` for the closes: a hung or busy worker is killed without closing,
    and its players' watchdogs (:mod:`unity_workers.launcher.guard`) end them within a second.
    """
    refs = []
    for actor in actors:
        try:
            refs.append(actor.close.remote())
        except Exception:  # pragma: no cover - a dead actor: nothing to close
            logger.debug("cannot ask %s to close its envs", actor, exc_info=True)
    if refs:
        try:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
            if len(done) < len(refs):
                logger.warning(
                    "%d of %d env workers did not close their envs within %.1f s; killing them",
                    len(refs) - len(done),
                    len(refs),
                    timeout_s,
                )
        except Exception:  # pragma: no cover - best effort
            logger.debug("waiting for the env workers to close failed", exc_info=True)
    kill_actors(actors)


def kill_actors(actors: Sequence[Any]) -> None:
    """Kill actors without restarting them; errors (already dead) are ignored."""
    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # pragma: no cover - best effort clean-up
            logger.debug("ray.kill failed for %s", actor, exc_info=True)
