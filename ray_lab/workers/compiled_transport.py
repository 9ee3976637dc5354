"""Requests through one Ray Compiled Graph: input = one message per worker, output = the replies.

The graph is ``MultiOutputNode([worker_i.handle.bind(input[i]) ...])``, compiled once. Each
execution writes the messages into shared-memory channels that the workers' graph loops read, and
the replies come back the same way, which avoids the per-call task submission of plain actor
calls. Results are fetched in execution order and exactly once; after a timeout or channel error
the graph is unusable and only :meth:`CompiledTransport.close` is allowed.

Idle release: in Ray 2.60 a worker waiting for the next graph input busy-polls (about one CPU
core per worker, measured in ``docs/benchmarks.md``). So after ``idle_release_s`` without a call
the graph is torn down (workers go quiet), rare commands meanwhile go through plain actor calls,
and the next ``step`` compiles the graph again (a few hundred ms). Ray does not give back
everything a compiled graph held (about 40 memory maps and semaphores per worker per build, in
the driver and in the worker, until Ray shuts down), so after :data:`MAX_GRAPH_BUILDS` builds the
transport stays on plain actor calls.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ray.dag import InputNode, MultiOutputNode
from ray.exceptions import RayChannelTimeoutError

from ray_lab.workers.errors import TransportError, WorkerTimeoutError
from ray_lab.workers.protocol import NOOP_REQUEST, is_step_request
from ray_lab.workers.transport import ActorTransport, describe_workers, probe_busy_workers, timeout_error

logger = logging.getLogger(__name__)
_DAG_LOGGER = logging.getLogger("ray.dag.compiled_dag_node")

MAX_GRAPH_BUILDS = 100
"""Builds of the graph (first one included) before the transport stays on plain actor calls."""


class _DropCancelErrors(logging.Filter):
    """Hide Ray's 'Error cancelling worker task' tracebacks.

    Ray logs them when a graph is torn down over actors that are gone: ours, killed on purpose, or
    lost with their node, when Ray's own monitor thread tears the graph down before we do. The loss
    itself is reported by :class:`~ray_lab.workers.ray_vec_env.RayVecEnv` ("an env worker died").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Error cancelling worker task" not in record.getMessage()


_DAG_LOGGER.addFilter(_DropCancelErrors())


@dataclass
class _Pending:
    refs: list[Any]
    via_graph: bool


class CompiledTransport:
    """A compiled Ray graph over the workers' ``handle`` method, released when idle."""

    name = "compiled"

    def __init__(
        self,
        actors: Sequence[Any],
        names: Sequence[str],
        *,
        submit_timeout_s: float | None,
        start_timeout_s: float | None,
        idle_release_s: float | None,
    ) -> None:
        self._actors = list(actors)
        self._names = list(names)
        self._submit_timeout_s = submit_timeout_s
        self._start_timeout_s = start_timeout_s
        self._fallback = ActorTransport(actors, names)
        self.broken: str | None = None
        self._stale: list[Any] = []
        self._lock = threading.Lock()
        self._dag: Any = None
        self._in_flight = False
        self._last_used = time.monotonic()
        self._stop = threading.Event()
        self._builds = 0
        self._build()
        if idle_release_s is not None:
            watcher = threading.Thread(
                target=_release_when_idle,
                args=(weakref.ref(self), self._stop, idle_release_s),
                name=f"ray-lab-idle-release-{self._names[0]}",
                daemon=True,
            )
            watcher.start()

    @property
    def graph_active(self) -> bool:
        """Whether the compiled graph is currently built (False after an idle release)."""
        return self._dag is not None

    def submit(self, messages: Sequence[bytes | None]) -> _Pending:
        with self._lock:
            if self.broken:
                raise TransportError(f"compiled graph is unusable: {self.broken}")
            if self._dag is None:
                is_step = any(m is not None and is_step_request(m) for m in messages)
                if not is_step or self._builds >= MAX_GRAPH_BUILDS:
                    if is_step and self._builds == MAX_GRAPH_BUILDS:
                        self._builds += 1  # warn once
                        logger.warning(
                            "compiled graph over %s was built %d times; staying on plain actor calls "
                            "(each build leaks a little shared memory in Ray 2.60; raise "
                            "WorkerOptions.idle_release_s to rebuild less often)",
                            self._names,
                            MAX_GRAPH_BUILDS,
                        )
                    pending = _Pending(self._fallback.submit(messages), via_graph=False)
                    self._in_flight = True
                    return pending
                logger.debug("rebuilding the compiled graph over %s", self._names)
                self._build()
            refs = list(self._dag.execute(*[NOOP_REQUEST if m is None else m for m in messages]))
            self._in_flight = True
            return _Pending(refs, via_graph=True)

    def fetch(self, pending: _Pending, timeout_s: float | None, command: str) -> list[bytes | None]:
        try:
            if pending.via_graph:
                return self._fetch_graph(pending.refs, timeout_s, command)
            try:
                return self._fallback.fetch(pending.refs, timeout_s, command)
            except (WorkerTimeoutError, TransportError) as exc:
                self.broken = str(exc)
                raise
        finally:
            with self._lock:
                self._in_flight = False
                self._last_used = time.monotonic()

    def release_if_idle(self, idle_s: float) -> bool:
        """Tear the graph down if nothing used it for ``idle_s`` seconds; True if it did."""
        with self._lock:
            idle = time.monotonic() - self._last_used >= idle_s
            if self._dag is None or self._in_flight or self.broken or not idle:
                return False
            self._teardown()
            return True

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._teardown()

    # ------------------------------------------------------------------ internals
    def _build(self) -> None:
        """Compile the graph and run one no-op through it, under the start-up time limit."""
        with InputNode() as inp:
            graph = MultiOutputNode([actor.handle.bind(inp[i]) for i, actor in enumerate(self._actors)])
        self._dag = graph.experimental_compile(
            _submit_timeout=-1 if self._submit_timeout_s is None else self._submit_timeout_s,
        )
        self._builds += 1
        try:
            # The first execution sets up the workers' graph loops (and imports torch there when
            # installed: seconds on a small machine).
            refs = list(self._dag.execute(*[NOOP_REQUEST] * len(self._actors)))
            self._fetch_graph(refs, self._start_timeout_s, "start")
        except BaseException:
            self._teardown()
            raise

    def _fetch_graph(self, pending: list[Any], timeout_s: float | None, command: str) -> list[bytes | None]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        replies: list[bytes | None] = []
        for w, ref in enumerate(pending):
            remaining = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                replies.append(ref.get(timeout=remaining))
            except RayChannelTimeoutError:
                # Keep the un-fetched refs alive until teardown: dropping them earlier makes Ray
                # try to release their buffers, which waits on the hung execution.
                self._stale.extend(pending[w:])
                busy, detail = probe_busy_workers(self._actors)
                error = timeout_error(
                    self._names,
                    busy or list(range(len(pending))),
                    command,
                    float(timeout_s or 0.0),
                    f" ({detail})" if detail else "",
                )
                self.broken = str(error)
                raise error from None
            except Exception as exc:
                self._stale.extend(pending[w + 1 :])
                self.broken = (
                    f"compiled graph failed during {command!r} "
                    f"(workers: {describe_workers(self._names, range(len(self._names)))}): {exc}"
                )
                raise TransportError(self.broken) from exc
        return replies

    def _teardown(self) -> None:
        dag, self._dag = self._dag, None
        if dag is not None:
            dag.teardown()
        self._stale.clear()


def _release_when_idle(ref: weakref.ref[CompiledTransport], stop: threading.Event, idle_s: float) -> None:
    """Background loop: release the graph of ``ref`` once it has been idle for ``idle_s``."""
    while not stop.wait(min(1.0, idle_s / 4)):
        transport = ref()
        if transport is None:
            return
        try:
            if transport.release_if_idle(idle_s):
                logger.debug("released the compiled graph over %s after %.1fs idle", transport._names, idle_s)
        except Exception:
            logger.warning("releasing an idle compiled graph failed", exc_info=True)
        del transport
