"""Hyperparameters given as schedules: ``lin_<start>`` decays linearly from ``start`` to 0."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["SCHEDULE_KEYS", "LinearSchedule", "apply_schedules", "parse_schedule"]

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
"""Algorithm parameters that accept a schedule."""

_PREFIX = "lin_"
_ACCEPTED = "a number, a numeric string such as '0.0003', or a linear schedule 'lin_<start>' such as 'lin_1e-3'"


class LinearSchedule:
    """``start * progress_remaining``: ``start`` at the beginning of training, 0 at the end.

    ``progress_remaining`` is clamped to [0, 1]: an overshooting last rollout never yields a negative value.

    A plain class (not a closure) so that models holding it pickle with cloudpickle and travel to Ray actors.
    """

    def __init__(self, start: float) -> None:
        self.start = float(start)

    def __call__(self, progress_remaining: float) -> float:
        # SB3's progress_remaining goes below 0 when the last rollout overshoots total_timesteps.
        return self.start * min(max(float(progress_remaining), 0.0), 1.0)

    def __repr__(self) -> str:
        return f"LinearSchedule({self.start!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinearSchedule) and other.start == self.start

    def __hash__(self) -> int:
        return hash((LinearSchedule, self.start))


def _finite_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_schedule(value: object, key: str) -> float | Callable[[float], float]:
    """A constant or an SB3-compatible schedule (``progress_remaining`` 1 -> 0) for ``key``.

    * ``int``/``float`` -> ``float``;
    * ``"0.0003"`` -> ``0.0003``;
    * ``"lin_0.001"`` / ``"lin_1e-3"`` -> :class:`LinearSchedule` from 0.001 to 0;
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
        text = value.strip()
        if text.lower().startswith(_PREFIX):
            start = _finite_float(text[len(_PREFIX) :])
            if start is None:
                raise ValueError(f"{key}: cannot read the start of linear schedule {value!r}; expected {_ACCEPTED}")
            return LinearSchedule(start)
        number = _finite_float(text)
        if number is not None:
            return number
        raise ValueError(f"{key}: expected {_ACCEPTED}, got {value!r}")
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"{key}: expected {_ACCEPTED}, got {value!r} ({type(value).__name__})")


def apply_schedules(params: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with the :data:`SCHEDULE_KEYS` present (and not ``None``) parsed.

    Raises:
        ValueError: a schedule key holds an unreadable value (see :func:`parse_schedule`).
    """
    converted = dict(params)
    for key in SCHEDULE_KEYS:
        if converted.get(key) is not None:
            converted[key] = parse_schedule(converted[key], key)
    return converted
