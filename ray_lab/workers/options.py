"""How env-worker actors are sized, scheduled and talked to."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ray_lab.workers.assignment import EnvAssignment

TransportName = Literal["auto", "socket", "compiled", "actor"]
TRANSPORTS: tuple[str, ...] = get_args(TransportName)
EnvConcurrency = Literal["auto", "serial", "threads"]
ENV_CONCURRENCIES: tuple[str, ...] = get_args(EnvConcurrency)

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_RESERVED_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class WorkerOptions:
    """Options for the env-worker actors behind a :class:`~ray_lab.workers.RayVecEnv`.

    :param envs_per_worker: environments owned by one actor; the number of actors is
        ``ceil(num_envs / envs_per_worker)`` (:class:`~ray_lab.workers.assignment.EnvAssignment`) and the
        last one may hold fewer. Default 8: a worker
        steps its simulators together and a fast env costs it microseconds, so fewer, fuller
        workers win (measured in ``docs/benchmarks.md``: 16 simulators on 2 cores, 2 x 8 beats
        4 x 4 by 18 %; CartPole x 8, 1 x 8 beats 2 x 4 by 35 %). Use more workers than that for
        more cores or nodes: about one per core that the simulators leave free.
    :param num_cpus: CPUs reserved per actor (fractional by default so that train workers,
        eval workers and the learner fit together on a small machine).
    :param num_gpus: GPUs reserved per actor.
    :param resources: custom Ray resources reserved per actor, e.g. ``{"unity": 1}``.
    :param step_timeout_s: longest a remote call (step, reset, get_attr, ...) may take before a
        :class:`~ray_lab.workers.WorkerTimeoutError` is raised; ``None`` waits forever. After a
        timeout the vectorized env can only be closed.
    :param max_restarts: Ray ``max_restarts`` of each actor (``-1``: unlimited).
    :param transport: ``"socket"`` (a direct, authenticated socket per worker: a Unix socket on the
        caller's node, TCP across nodes; both ends sleep while idle), ``"compiled"`` (a Ray Compiled
        Graph, whose idle workers poll a core each), ``"actor"`` (plain actor calls) or ``"auto"``
        (socket, falling back to actor calls with a warning when a worker cannot be reached).
    :param placement_group: a Ray placement group; when given, worker ``i`` is scheduled into
        bundle ``bundle_offset + i`` (see :func:`worker_bundles`).
    :param bundle_offset: index of the first bundle used in ``placement_group``.
    :param name: label used in actor names and log lines (e.g. ``"train"``, ``"eval"``).
    :param runtime_env: Ray runtime environment of the actors.
    :param start_timeout_s: longest the actors may take to be scheduled, start and build their
        environments (``runtime_env`` set-up included); ``None`` waits forever.
    :param idle_release_s: with the compiled transport, tear the graph down after this many
        seconds without a call, because Ray's graph loops busy-poll (about a core per idle
        worker); the next step compiles it again (see
        :data:`~ray_lab.workers.compiled_transport.MAX_GRAPH_BUILDS`). ``None`` keeps it built.
    :param env_concurrency: how a worker steps its envs (:mod:`ray_lab.workers.stepping`):
        ``"auto"`` (default) sends every simulator-backed env (one with ``step_send``/``reset_send``,
        e.g. a ``UnityEnv``) its request first and then collects the replies, so ``k`` simulators
        per worker take about one simulator step, and steps other envs one after the other;
        ``"serial"`` steps every env one after the other; ``"threads"`` steps each env on its own
        thread (for envs that block on I/O with the GIL released).
    """

    envs_per_worker: int = 8
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    step_timeout_s: float | None = 60.0
    max_restarts: int = 0
    transport: TransportName = "auto"
    placement_group: Any = None
    bundle_offset: int = 0
    name: str = "train"
    runtime_env: dict[str, Any] | None = None
    start_timeout_s: float | None = 300.0
    idle_release_s: float | None = 10.0
    env_concurrency: EnvConcurrency = "auto"

    def __post_init__(self) -> None:
        if not _is_int(self.envs_per_worker) or self.envs_per_worker < 1:
            raise ValueError(f"envs_per_worker must be an int >= 1, got {self.envs_per_worker!r}")
        for label, value in (("num_cpus", self.num_cpus), ("num_gpus", self.num_gpus)):
            if not _is_number(value) or value < 0:
                raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.resources, dict):
            raise ValueError(f"resources must be a dict[str, float], got {self.resources!r}")
        for key, amount in self.resources.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"resources keys must be non-empty strings, got {key!r}")
            if key in _RESERVED_RESOURCES:
                raise ValueError(f"resources must not contain {key!r} (use num_cpus/num_gpus), got {self.resources!r}")
            if not _is_number(amount) or amount < 0:
                raise ValueError(f"resources[{key!r}] must be a finite number >= 0, got {amount!r}")
        # Keep a private copy so the frozen options cannot change behind our back.
        object.__setattr__(self, "resources", {k: float(v) for k, v in self.resources.items()})
        timeouts = (
            ("step_timeout_s", self.step_timeout_s),
            ("start_timeout_s", self.start_timeout_s),
            ("idle_release_s", self.idle_release_s),
        )
        for label, timeout in timeouts:
            if timeout is not None and (not _is_number(timeout) or timeout <= 0):
                raise ValueError(f"{label} must be None or a finite number > 0, got {timeout!r}")
        if not _is_int(self.max_restarts) or self.max_restarts < -1:
            raise ValueError(f"max_restarts must be an int >= -1 (-1: unlimited), got {self.max_restarts!r}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {list(TRANSPORTS)}, got {self.transport!r}")
        if not _is_int(self.bundle_offset) or self.bundle_offset < 0:
            raise ValueError(f"bundle_offset must be an int >= 0, got {self.bundle_offset!r}")
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"name must match {_NAME_RE.pattern} (letters, digits, _.-), got {self.name!r}")
        if self.env_concurrency not in ENV_CONCURRENCIES:
            raise ValueError(f"env_concurrency must be one of {list(ENV_CONCURRENCIES)}, got {self.env_concurrency!r}")
        if self.runtime_env is not None and not isinstance(self.runtime_env, dict):
            raise ValueError(f"runtime_env must be None or a dict, got {self.runtime_env!r}")

    def actor_resources(self) -> dict[str, float]:
        """Resources of one actor as a placement-group bundle (zero amounts left out)."""
        bundle: dict[str, float] = {}
        if self.num_cpus > 0:
            bundle["CPU"] = float(self.num_cpus)
        if self.num_gpus > 0:
            bundle["GPU"] = float(self.num_gpus)
        bundle.update({k: v for k, v in self.resources.items() if v > 0})
        return bundle


def worker_bundles(num_envs: int, options: WorkerOptions) -> list[dict[str, float]]:
    """Placement-group bundles, one per env worker, for ``num_envs`` environments.

    The learner code builds the placement group from these (possibly concatenated with other
    bundles) and passes it back in :class:`WorkerOptions` with the matching ``bundle_offset``.
    """
    bundle = options.actor_resources()
    if not bundle:
        raise ValueError(
            "a placement-group bundle needs at least one non-zero resource, got "
            f"num_cpus={options.num_cpus}, num_gpus={options.num_gpus}, resources={options.resources}"
        )
    if not _is_int(num_envs) or num_envs < 1:
        raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
    return [dict(bundle) for _ in range(EnvAssignment(num_envs, options.envs_per_worker).num_workers)]
