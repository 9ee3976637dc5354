"""Requests through one Ray Compiled Graph: input = one message per worker, output = the replies.

The graph is ``MultiOutputNode([worker_i.handle.bind(input[i]) ...])``, compiled once. Each
execution writes the messages into shared-memory channels that the workers' graph loops read, and
the replies come back the same way, which avoids the per-call task submission of plain actor
calls. Results are fetched in execution order and exactly once; after a timeout or channel error
the graph is unusable and only :meth:`CompiledTransport.close` is allowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ray.dag import InputNode, MultiOutputNode
from ray.exceptions import RayChannelTimeoutError

from ray_lab.workers.errors import TransportError
from ray_lab.workers.protocol import NOOP_REQUEST
from ray_lab.workers.transport import describe_workers, probe_busy_workers, timeout_error

_DAG_LOGGER = logging.getLogger("ray.dag.compiled_dag_node")


class _DropCancelErrors(logging.Filter):
    """Hide Ray's 'Error cancelling worker task' tracebacks for actors we killed on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Error cancelling worker task" not in record.getMessage()


@contextmanager
def _quiet_teardown() -> Iterator[None]:
    flt = _DropCancelErrors()
    _DAG_LOGGER.addFilter(flt)
    try:
        yield
    finally:
        _DAG_LOGGER.removeFilter(flt)


class CompiledTransport:
    """A compiled Ray graph over the workers' ``handle`` method."""

    name = "compiled"

    def __init__(self, actors: Sequence[Any], names: Sequence[str], submit_timeout_s: float | None) -> None:
        self._actors = list(actors)
        self._names = list(names)
        self.broken: str | None = None
        self._stale: list[Any] = []
        with InputNode() as inp:
            graph = MultiOutputNode([actor.handle.bind(inp[i]) for i, actor in enumerate(self._actors)])
        self._dag: Any = graph.experimental_compile(
            _submit_timeout=-1 if submit_timeout_s is None else submit_timeout_s,
        )

    def submit(self, messages: Sequence[bytes | None]) -> list[Any]:
        if self.broken:
            raise TransportError(f"compiled graph is unusable: {self.broken}")
        return list(self._dag.execute(*[NOOP_REQUEST if m is None else m for m in messages]))

    def fetch(self, pending: list[Any], timeout_s: float | None, command: str) -> list[bytes | None]:
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

    def close(self) -> None:
        dag, self._dag = self._dag, None
        if dag is None:
            return
        with _quiet_teardown():
            dag.teardown()
        self._stale.clear()
