"""Environment parameters of reset requests: checked, split per agent, applied to a per-episode config.

A reset carries ``parameter_names`` and ``parameter_values`` (one value per name; for a batch reset,
one agent-major row of values per reset agent). Names outside :data:`~.nav.PARAMETERS` are ignored
(the caller checks its names against the response's ``accepted_parameters``); malformed input is
reported as error lines, never raised, so a bad request cannot crash the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import nav

__all__ = ["episode_config", "parameter_rows"]


def parameter_rows(
    names: Sequence[str], values: Sequence[float], rows: int
) -> tuple[list[dict[str, float]], list[str]]:
    """``rows`` dicts name → value from agent-major ``values``, and the errors.

    When ``values`` does not hold ``rows`` x ``len(names)`` numbers, every row is empty (the
    parameters are ignored) and the one error line says what arrived.
    """
    names, flat = [str(name) for name in names], [float(value) for value in values]
    if len(flat) != rows * len(names):
        error = f"environment parameters ignored: expected {rows} x {len(names)} values for {names}, got {len(flat)}"
        return [{} for _ in range(rows)], [error]
    width = len(names)
    return [dict(zip(names, flat[i * width : (i + 1) * width], strict=True)) for i in range(rows)], []


def _config_value(name: str, value: float) -> float | int:
    """``value`` as the :class:`~.nav.NavConfig` field ``name`` takes it (``max_steps``: a whole number)."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if name == "max_steps":
        if not value.is_integer() or value < 1:
            raise ValueError(f"max_steps must be a whole number >= 1, got {value}")
        return int(value)
    return value


def episode_config(base: nav.NavConfig, parameters: Mapping[str, float]) -> tuple[nav.NavConfig, list[str]]:
    """``base`` with the known ``parameters`` applied, and one error line per rejected value.

    Unknown names are skipped silently; a non-finite or out-of-range value is left out (the
    default stays) and reported, the other parameters still apply.
    """
    cfg, errors = base, []
    for name, value in parameters.items():
        if name not in nav.PARAMETERS:
            continue
        try:
            change: dict[str, Any] = {name: _config_value(name, value)}
            cfg = replace(cfg, **change)
        except ValueError as exc:
            errors.append(f"environment parameter {name}={value} ignored: {exc}")
    return cfg, errors
