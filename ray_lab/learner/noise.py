"""``training.algorithm_parameters.action_noise`` from YAML: checked when the config loads, built from
SB3's own noise classes when the model is made, sized to the env's action space.

YAML: ``action_noise: {type: normal, sigma: 0.1}`` or
``action_noise: {type: ornstein_uhlenbeck, sigma: 0.1, theta: 0.15, dt: 0.01}`` (theta and dt optional).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise

from ray_lab.models.errors import did_you_mean

__all__ = ["NOISE_TYPES", "action_noise_problems", "build_action_noise"]

NOISE_TYPES: Mapping[str, tuple[type[ActionNoise], frozenset[str]]] = {
    "normal": (NormalActionNoise, frozenset({"type", "sigma"})),
    "ornstein_uhlenbeck": (OrnsteinUhlenbeckActionNoise, frozenset({"type", "sigma", "theta", "dt"})),
}
"""SB3's action-noise class for each ``type``, and the keys a spec of that type may hold."""

EXAMPLE = "{type: normal, sigma: 0.1} or {type: ornstein_uhlenbeck, sigma: 0.1, theta: 0.15}"


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _type_problem(spec: Mapping[str, Any]) -> str | None:
    kind = spec.get("type")
    if kind is None:
        return f"action_noise needs a 'type', e.g. {EXAMPLE}"
    if kind not in NOISE_TYPES:
        hint = did_you_mean(str(kind), NOISE_TYPES)
        return f"unknown action_noise type {kind!r}{hint}; expected one of: {', '.join(NOISE_TYPES)}"
    return None


def action_noise_problems(spec: object) -> list[tuple[str, str]]:
    """(sub-key, problem) for each thing wrong with an ``action_noise`` spec ('' for the spec itself)."""
    if spec is None or isinstance(spec, ActionNoise):
        return []
    if not isinstance(spec, Mapping):
        return [("", f"action_noise must be a mapping such as {EXAMPLE}, got {spec!r}")]
    problem = _type_problem(spec)
    if problem is not None:
        return [("type", problem)]
    kind = spec["type"]
    allowed = NOISE_TYPES[kind][1]
    problems = []
    for key in sorted(set(spec) - allowed, key=str):
        hint = did_you_mean(str(key), allowed) or f" (accepted for {kind}: {', '.join(sorted(allowed))})"
        problems.append((str(key), f"action_noise of type {kind} does not take {key!r}{hint}"))
    if "sigma" not in spec:
        problems.append(("sigma", f"action_noise needs 'sigma', the noise's standard deviation, e.g. {EXAMPLE}"))
    for key in sorted(allowed & set(spec) - {"type"}):
        if not _positive(spec[key]):
            problems.append((key, f"action_noise {key} must be a positive number, got {spec[key]!r}"))
    return problems


def build_action_noise(spec: object, action_space: spaces.Space) -> ActionNoise | None:
    """SB3's noise for a checked ``spec``: mean 0, standard deviation ``sigma`` in every action dimension.

    Raises:
        ValueError: the action space is not a Box (noise is added to continuous actions only).
    """
    if spec is None or isinstance(spec, ActionNoise):
        return spec
    if not isinstance(action_space, spaces.Box):
        raise ValueError(
            f"training.algorithm_parameters.action_noise needs a continuous (Box) action space, the env's is "
            f"{action_space}: remove action_noise"
        )
    assert isinstance(spec, Mapping)  # checked when the config loaded (action_noise_problems)
    mean, sigma = np.zeros(action_space.shape), float(spec["sigma"]) * np.ones(action_space.shape)
    if spec["type"] == "normal":
        return NormalActionNoise(mean=mean, sigma=sigma)
    theta, dt = float(spec.get("theta", 0.15)), float(spec.get("dt", 1e-2))  # SB3's defaults
    return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma, theta=theta, dt=dt)
