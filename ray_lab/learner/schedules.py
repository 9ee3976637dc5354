"""Hyperparameters given as schedules of SB3's ``progress_remaining`` (1 at the start, 0 at the end).

``lin_<start>`` decays linearly from ``start`` to 0 (``lin_<start>_<end>``: to ``end``);
``exp_<start>_<end>`` decays exponentially (geometrically) from ``start`` to ``end``, both positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any

__all__ = [
    "SCHEDULE_KEYS",
    "ExponentialSchedule",
    "LinearSchedule",
    "apply_schedules",
    "is_schedule_text",
    "parse_schedule",
]

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
"""Algorithm parameters that accept a schedule in PPO (each algorithm's own come from
:func:`ray_lab.learner.algorithms.schedule_parameter_names`)."""

_PREFIXES = ("lin_", "exp_")
_ACCEPTED = (
    "a number, a numeric string such as '0.0003', a linear schedule 'lin_<start>' such as 'lin_1e-3' "
    "(to 0; 'lin_<start>_<end>' to end), or an exponential schedule 'exp_<start>_<end>' such as 'exp_1e-3_1e-5'"
)


def _clamped(progress_remaining: float) -> float:
    # SB3's progress_remaining goes below 0 when the last rollout overshoots total_timesteps.
    return min(max(float(progress_remaining), 0.0), 1.0)


class LinearSchedule:
    """From ``start`` at the beginning of training to ``end`` (default 0) at the end, linearly.

    ``progress_remaining`` is clamped to [0, 1]: an overshooting last rollout never passes ``end``.

    A plain class (not a closure) so that models holding it pickle with cloudpickle and travel to Ray actors.
    """

    def __init__(self, start: float, end: float = 0.0) -> None:
        self.start = float(start)
        self.end = float(end)

    def __call__(self, progress_remaining: float) -> float:
        progress = _clamped(progress_remaining)
        return self.start * progress if self.end == 0.0 else self.end + (self.start - self.end) * progress

    def __repr__(self) -> str:
        return f"LinearSchedule({self.start!r})" if self.end == 0.0 else f"LinearSchedule({self.start!r}, {self.end!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinearSchedule) and (other.start, other.end) == (self.start, self.end)

    def __hash__(self) -> int:
        return hash((LinearSchedule, self.start, self.end))


class ExponentialSchedule:
    """``start * (end / start) ** (1 - progress_remaining)``: ``start`` at the beginning, ``end`` at the end,
    the same factor per unit of progress in between (both positive). Picklable like :class:`LinearSchedule`."""

    def __init__(self, start: float, end: float) -> None:
        self.start = float(start)
        self.end = float(end)

    def __call__(self, progress_remaining: float) -> float:
        return self.start * (self.end / self.start) ** (1.0 - _clamped(progress_remaining))

    def __repr__(self) -> str:
        return f"ExponentialSchedule({self.start!r}, {self.end!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExponentialSchedule) and (other.start, other.end) == (self.start, self.end)

    def __hash__(self) -> int:
        return hash((ExponentialSchedule, self.start, self.end))


def _finite_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_schedule_text(value: object) -> bool:
    """Whether ``value`` is written as a schedule (a string starting ``lin_`` or ``exp_``)."""
    return isinstance(value, str) and value.strip().lower().startswith(_PREFIXES)


def _parse_schedule_text(value: str, key: str) -> LinearSchedule | ExponentialSchedule:
    """``lin_<start>[_<end>]`` or ``exp_<start>_<end>`` (the caller checked the prefix)."""
    text = value.strip().lower()
    kind, rest = text[:3], text[4:]
    numbers = [_finite_float(part) for part in rest.split("_")] if rest else [None]
    if any(number is None for number in numbers) or len(numbers) > 2:
        raise ValueError(f"{key}: cannot read the numbers of schedule {value!r}; expected {_ACCEPTED}")
    values = [float(n) for n in numbers if n is not None]
    if kind == "lin":
        return LinearSchedule(*values)
    if len(values) != 2 or min(values) <= 0:
        raise ValueError(f"{key}: exponential schedule {value!r} needs a positive start and end; expected {_ACCEPTED}")
    return ExponentialSchedule(values[0], values[1])


def parse_schedule(value: object, key: str) -> float | Callable[[float], float]:
    """A constant or an SB3-compatible schedule (``progress_remaining`` 1 -> 0) for ``key``.

    * ``int``/``float`` -> ``float``;
    * ``"0.0003"`` -> ``0.0003``;
    * ``"lin_0.001"`` / ``"lin_1e-3"`` -> :class:`LinearSchedule` from 0.001 to 0 (``"lin_1e-3_1e-4"``: to 1e-4);
    * ``"exp_1e-3_1e-5"`` -> :class:`ExponentialSchedule` from 1e-3 to 1e-5;
    * a callable (already a schedule) is returned unchanged.

    Raises:
        ValueError: anything else (booleans, non-finite numbers, other strings), naming ``key``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected {_ACCEPTED}, got boolean {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{key}: expected {_ACCEPTED}, got {value!r}")
        return float(value)
    if isinstance(value, str):
        if is_schedule_text(value):
            return _parse_schedule_text(value, key)
        number = _finite_float(value.strip())
        if number is not None:
            return number
        raise ValueError(f"{key}: expected {_ACCEPTED}, got {value!r}")
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"{key}: expected {_ACCEPTED}, got {value!r} ({type(value).__name__})")


def apply_schedules(params: dict[str, Any], keys: Collection[str] = SCHEDULE_KEYS) -> dict[str, Any]:
    """A copy of ``params`` with the ``keys`` present (and not ``None``) parsed.

    Raises:
        ValueError: a schedule key holds an unreadable value (see :func:`parse_schedule`).
    """
    converted = dict(params)
    for key in keys:
        if converted.get(key) is not None:
            converted[key] = parse_schedule(converted[key], key)
    return converted
