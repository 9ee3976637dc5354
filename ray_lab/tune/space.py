"""From a spec to Ray Tune's param space, and from a trial's sampled values back to a typed experiment config.

A trial's Tune config holds each swept dotted key with its sampled value, plus `seed` when the spec
repeats configurations over seeds. Values Optuna cannot store (lists such as `net_arch`) travel as
JSON strings and are decoded here, so every other part sees plain YAML values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from ray_lab.config.errors import ConfigError, Problem
from ray_lab.config.loader import OVERRIDE_SOURCE, set_dotted, with_updates
from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.experiment import experiment_from_mapping
from ray_lab.tune.distributions import Distribution
from ray_lab.tune.spec import SweepSpec

__all__ = ["SEED_KEY", "base_overrides", "decode_values", "derive_trial", "param_space", "trial_config"]

SEED_KEY = "seed"
JSON_PREFIX = "json:"


def _primitive(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _tune_domain(dist: Distribution) -> Any:
    """The Tune domain; choices that are not primitives become `json:` strings (Optuna stores only those)."""
    if dist.kind in ("choice", "grid") and not all(_primitive(v) for v in dist.args):
        encoded = [JSON_PREFIX + json.dumps(v) for v in dist.args]
        return Distribution(kind=dist.kind, args=encoded).to_tune()
    return dist.to_tune()


def param_space(spec: SweepSpec) -> dict[str, Any]:
    """Tune's `param_space`: one domain per swept key, plus a grid over `seeds` when there are several."""
    space = {key: _tune_domain(dist) for key, dist in spec.space.items()}
    if spec.seeds:
        from ray import tune

        space[SEED_KEY] = tune.grid_search(list(spec.seeds)) if len(spec.seeds) > 1 else spec.seeds[0]
    return space


def decode_values(spec: SweepSpec, trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """The swept values of a trial, JSON-encoded choices decoded."""
    values: dict[str, Any] = {}
    for key in spec.space:
        value = trial_params[key]
        if isinstance(value, str) and value.startswith(JSON_PREFIX):
            value = json.loads(value[len(JSON_PREFIX) :])
        values[key] = value
    return values


def base_overrides(spec: SweepSpec) -> dict[str, Any]:
    """Fixed keys of every trial: `set`, the resources, and the timestep budget."""
    fixed = dict(spec.set)
    fixed.update(spec.resources.overrides())
    if spec.budget.timesteps is not None:
        fixed["training.training.total_timesteps"] = spec.budget.timesteps
    return fixed


def trial_config(
    base: Mapping[str, Any], spec: SweepSpec, values: Mapping[str, Any], seed: int | None, source: str
) -> ExperimentConfig:
    """The typed config of one trial: base + fixed overrides + sampled values (+ seed). Raises ConfigError."""
    data = copy.deepcopy(dict(base))
    for key, value in {**base_overrides(spec), **values}.items():
        set_dotted(data, key, value, source)
    if seed is not None:
        set_dotted(data, "training.training.seed", seed, source)
    return experiment_from_mapping(data, source)


def derive_trial(
    checked: ExperimentConfig, values: Mapping[str, Any], seed: int | None, source: str
) -> ExperimentConfig:
    """A trial's config from the sweep's checked config (base + fixed keys, validated once at load).

    The sampled values (and the seed) are set with `model_copy`, validating only the sections they
    change: :func:`check_space` already ran every check on each swept key at its example values.
    """
    updates = dict(values)
    if seed is not None:
        updates["training.training.seed"] = seed
    return with_updates(checked, updates, source)


def check_space(base: Mapping[str, Any], spec: SweepSpec, spec_source: str) -> list[Problem]:
    """Problems of the spec against its base config, each naming the spec key it comes from.

    The base config with the fixed keys is checked first; then each swept key on its own, at each of
    its example values (a bad key or value is reported once); then all keys together.
    """
    try:
        trial_config(base, spec, {}, None, spec_source)
    except ConfigError as exc:
        return [_blame(p, spec, spec_source) for p in exc.problems]
    problems: list[Problem] = []
    for key, dist in spec.space.items():
        for example in dist.examples():
            try:
                trial_config(base, spec, {key: example}, None, spec_source)
            except ConfigError as exc:
                problems += [_value_problem(p, key, example, spec_source) for p in exc.problems]
                break
    if problems:
        return problems
    firsts = {key: dist.examples()[0] for key, dist in spec.space.items()}
    try:
        trial_config(base, spec, firsts, spec.seeds[0] if spec.seeds else None, spec_source)
    except ConfigError as exc:
        return [
            Problem(spec_source, "space", f"with every key at its first value: {p.key}: {p.message}")
            for p in exc.problems
        ]
    return []


def _value_problem(problem: Problem, key: str, value: Any, spec_source: str) -> Problem:
    """A problem of one swept key: the value is named when the key exists but rejects it."""
    if problem.key == key and not problem.message.startswith("unknown"):
        return Problem(spec_source, f"space.{key}", f"value {value!r}: {problem.message}")
    return Problem(
        spec_source,
        f"space.{key}",
        problem.message if key.startswith(problem.key) else f"{problem.key}: {problem.message}",
    )


def _blame(problem: Problem, spec: SweepSpec, spec_source: str) -> Problem:
    """Name the spec key a base-config problem comes from (`space.X`, `set.X`), else the base config's key."""
    for section, keys in (("space", spec.space), ("set", spec.set)):
        for key in keys:
            if problem.key == key or problem.key.startswith(key + ".") or key.startswith(problem.key + "."):
                return Problem(spec_source, f"{section}.{key}", problem.message)
    if problem.source.startswith(OVERRIDE_SOURCE):
        return Problem(spec_source, problem.key, problem.message)
    return problem
