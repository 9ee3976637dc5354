"""How requests reach the env workers: the transport interface and plain actor calls.

A transport sends one ``bytes`` request to each worker (``None``: the worker takes no part) and
returns one ``bytes`` reply per worker, in worker order. ``submit`` starts the calls, ``fetch``
waits for them, so a vector step can be split into ``step_async``/``step_wait``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import ray
from ray.exceptions import GetTimeoutError, RayError

from ray_lab.workers.errors import TransportError, WorkerTimeoutError


class Transport(Protocol):
    """One request/reply round over every worker."""

    name: str
    broken: str | None

    def submit(self, messages: Sequence[bytes | None]) -> Any:
        """Start one call per worker that got a message; return a handle for :meth:`fetch`."""
        ...

    def fetch(self, pending: Any, timeout_s: float | None, command: str) -> list[bytes | None]:
        """Wait for the replies of :meth:`submit` (``None`` for workers without a message).

        Raises :class:`WorkerTimeoutError` after ``timeout_s`` and :class:`TransportError` when
        the channel broke; the transport is unusable (``broken`` is set) after either.
        """
        ...

    def close(self) -> None:
        """Release the transport (idempotent); the actors are not killed here."""
        ...


def describe_workers(names: Sequence[str], indices: Sequence[int]) -> str:
    """``"worker 1 ('train-w1-ab12cd')"``-style list for error messages."""
    return ", ".join(f"worker {i} ({names[i]!r})" for i in indices)


def timeout_error(
    names: Sequence[str],
    slow: Sequence[int],
    command: str,
    timeout_s: float,
    detail: str = "",
) -> WorkerTimeoutError:
    """Build the error raised when ``slow`` workers did not answer ``command`` in time."""
    limit_name = "start_timeout_s" if command == "start" else "step_timeout_s"
    advice = (
        "The vectorized env cannot be used any more; close() it and build a new one"
        if command != "start"
        else "The workers were killed"
    )
    message = (
        f"{describe_workers(names, slow)} did not finish {command!r} within {limit_name}={timeout_s}s"
        f"{detail}. {advice} (raise WorkerOptions.{limit_name} if this is legitimately slow)."
    )
    return WorkerTimeoutError(message, worker_indices=slow, command=command, timeout_s=timeout_s)


class ActorTransport:
    """Plain Ray actor method calls: ``worker.handle.remote(message)``."""

    name = "actor"

    def __init__(self, actors: Sequence[Any], names: Sequence[str]) -> None:
        self._actors = list(actors)
        self._names = list(names)
        self.broken: str | None = None

    def submit(self, messages: Sequence[bytes | None]) -> list[Any]:
        return [
            None if message is None else actor.handle.remote(message)
            for actor, message in zip(self._actors, messages, strict=True)
        ]

    def fetch(self, pending: list[Any], timeout_s: float | None, command: str) -> list[bytes | None]:
        refs = [ref for ref in pending if ref is not None]
        try:
            values = iter(ray.get(refs, timeout=timeout_s))
        except GetTimeoutError:
            _, not_ready = ray.wait(refs, num_returns=len(refs), timeout=0)
            slow = [w for w, ref in enumerate(pending) if ref is not None and ref in not_ready]
            error = timeout_error(self._names, slow or list(range(len(pending))), command, float(timeout_s or 0.0))
            self.broken = str(error)
            raise error from None
        except RayError as exc:
            failed = self._failed_workers(pending)
            self.broken = f"{describe_workers(self._names, failed)} failed during {command!r}: {exc}"
            raise TransportError(self.broken) from exc
        return [None if ref is None else next(values) for ref in pending]

    def close(self) -> None:
        return None

    def _failed_workers(self, pending: list[Any]) -> list[int]:
        failed = []
        for w, ref in enumerate(pending):
            if ref is None:
                continue
            try:
                ray.get(ref, timeout=0)
            except Exception:
                failed.append(w)
        return failed or list(range(len(pending)))


def probe_busy_workers(actors: Sequence[Any], probe_timeout_s: float = 2.0) -> tuple[list[int], str]:
    """Ask every worker (on its main thread) which command it is running, if any.

    Only meaningful with the compiled transport, where commands run on a separate thread.
    Returns the busy worker indices and a text summary (empty when the probe failed).
    """
    deadline = time.monotonic() + probe_timeout_s
    refs = [actor.status.remote() for actor in actors]
    busy: list[int] = []
    parts: list[str] = []
    for w, ref in enumerate(refs):
        try:
            status = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
        except Exception:
            busy.append(w)
            parts.append(f"worker {w}: no answer to a status probe")
            continue
        if status.get("command"):
            busy.append(w)
            parts.append(
                f"worker {w} (pid {status['pid']}): running {status['command']!r} for {status['busy_for_s']:.2f}s"
            )
    return busy, "; ".join(parts)
