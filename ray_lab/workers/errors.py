"""Errors raised by env workers and :class:`~ray_lab.workers.RayVecEnv`."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass


class WorkerError(RuntimeError):
    """An exception raised inside an env worker, re-raised in the caller.

    When the original exception type can be loaded in the caller, the raised object is also an
    instance of it (e.g. ``except AttributeError`` still works for a missing attribute).

    :ivar worker_index: index of the worker that failed.
    :ivar env_indices: global indices of the environments the failing call touched.
    :ivar command: the worker command that failed (``"step"``, ``"reset"``, ...).
    :ivar cause_type: qualified name of the original exception type.
    :ivar remote_traceback: the traceback text, as formatted inside the worker.
    """

    def __init__(
        self,
        message: str,
        *,
        worker_index: int,
        env_indices: Sequence[int] = (),
        command: str = "",
        cause_type: str = "",
        remote_traceback: str = "",
    ) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.worker_index = worker_index
        self.env_indices = list(env_indices)
        self.command = command
        self.cause_type = cause_type
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need an explicit reduce to survive pickling.
        return (
            _rebuild_worker_error,
            (
                self.message,
                self.worker_index,
                self.env_indices,
                self.command,
                self.cause_type,
                self.remote_traceback,
            ),
        )


def _rebuild_worker_error(
    message: str, worker_index: int, env_indices: list[int], command: str, cause_type: str, tb: str
) -> WorkerError:
    return WorkerError(
        message,
        worker_index=worker_index,
        env_indices=env_indices,
        command=command,
        cause_type=cause_type,
        remote_traceback=tb,
    )


class WorkerTimeoutError(TimeoutError):
    """A remote call did not finish within ``WorkerOptions.step_timeout_s``.

    :ivar worker_indices: workers that had not answered when the time ran out.
    :ivar command: the command that timed out.
    :ivar timeout_s: the limit that was exceeded.
    """

    def __init__(self, message: str, *, worker_indices: Sequence[int], command: str, timeout_s: float) -> None:
        super().__init__(message)
        self.worker_indices = list(worker_indices)
        self.command = command
        self.timeout_s = timeout_s


class VecEnvStateError(RuntimeError):
    """The vectorized env was used out of order (step_wait without step_async, use after close...)."""


class TransportError(RuntimeError):
    """The channel to the workers broke (an actor died, a compiled graph failed)."""


@dataclass(frozen=True)
class RemoteFailure:
    """What a worker sends back instead of a result when a command raised."""

    worker_index: int
    env_indices: tuple[int, ...]
    command: str
    exc_module: str
    exc_qualname: str
    message: str
    traceback: str
    exc_type_pickle: bytes | None

    @property
    def cause_type(self) -> str:
        return f"{self.exc_module}.{self.exc_qualname}"


def describe_failure(
    exc: BaseException, tb: str, *, worker_index: int, env_indices: Sequence[int], command: str
) -> RemoteFailure:
    """Package an exception raised inside a worker so that it can cross the process boundary."""
    exc_type = type(exc)
    try:
        type_pickle: bytes | None = pickle.dumps(exc_type)
    except Exception:
        type_pickle = None
    return RemoteFailure(
        worker_index=worker_index,
        env_indices=tuple(env_indices),
        command=command,
        exc_module=exc_type.__module__,
        exc_qualname=exc_type.__qualname__,
        message=str(exc),
        traceback=tb,
        exc_type_pickle=type_pickle,
    )


_CLASS_CACHE: dict[type[BaseException], type[WorkerError]] = {}
_CLASS_LOCK = threading.Lock()


def _error_class(type_pickle: bytes | None) -> type[WorkerError]:
    """A WorkerError subclass that is also an instance of the original type, when possible."""
    if type_pickle is None:
        return WorkerError
    try:
        original = pickle.loads(type_pickle)
    except Exception:
        return WorkerError
    if not isinstance(original, type) or not issubclass(original, Exception):
        return WorkerError
    if issubclass(original, WorkerError):
        return WorkerError
    with _CLASS_LOCK:
        cached = _CLASS_CACHE.get(original)
        if cached is None:
            try:
                cached = type(f"WorkerError[{original.__name__}]", (WorkerError, original), {})
            except TypeError:  # incompatible instance layouts
                cached = WorkerError
            _CLASS_CACHE[original] = cached
    return cached


def to_worker_error(failure: RemoteFailure, worker_name: str = "") -> WorkerError:
    """Turn a :class:`RemoteFailure` into the exception raised in the caller."""
    who = f"worker {failure.worker_index}" + (f" ({worker_name!r})" if worker_name else "")
    message = (
        f"{who} (envs {list(failure.env_indices)}) failed in {failure.command!r}: "
        f"{failure.exc_qualname}: {failure.message}\n\nRemote traceback:\n{failure.traceback}"
    )
    cls = _error_class(failure.exc_type_pickle)
    return cls(
        message,
        worker_index=failure.worker_index,
        env_indices=failure.env_indices,
        command=failure.command,
        cause_type=failure.cause_type,
        remote_traceback=failure.traceback,
    )
