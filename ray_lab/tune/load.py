"""Load a sweep spec and its base config; every problem is a ConfigError naming the file and the key (exit code 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ray_lab.config.errors import ConfigError, Problem
from ray_lab.config.loader import none_strings_to_null, read_yaml_mapping
from ray_lab.config.schema import ExperimentConfig
from ray_lab.config.validation_errors import problems_from_validation
from ray_lab.tune.distributions import Distribution
from ray_lab.tune.space import check_space, derive_trial, trial_config
from ray_lab.tune.spec import SweepSpec

__all__ = ["LoadedSweep", "load_sweep"]


@dataclass(frozen=True)
class LoadedSweep:
    """A checked spec, the raw base config it varies, its checked config, and one trial's config as a sample.

    `checked` is the base config with the spec's fixed keys, validated once: every trial's config
    derives from it (:func:`ray_lab.tune.space.derive_trial`).
    """

    spec: SweepSpec
    spec_path: Path
    base_path: Path
    base: dict[str, Any]
    checked: ExperimentConfig
    sample: ExperimentConfig

    @property
    def source(self) -> str:
        """The spec file, as problems name it."""
        return str(self.spec_path)


def _parse_space(raw: Any, source: str) -> tuple[dict[str, Distribution], list[Problem]]:
    """Each `space` entry on its own, so every bad distribution is reported under its own key."""
    if not isinstance(raw, dict):
        return {}, [Problem(source, "space", f"expected a mapping of dotted keys to distributions, got {raw!r}")]
    space: dict[str, Distribution] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        try:
            space[str(key)] = Distribution.model_validate(value)
        except ValidationError as exc:
            messages = "; ".join(str(err["msg"]).removeprefix("Value error, ") for err in exc.errors())
            problems.append(Problem(source, f"space.{key}", messages))
    return space, problems


def _parse_spec(path: Path) -> SweepSpec:
    data = none_strings_to_null(read_yaml_mapping(path))
    space, problems = _parse_space(data.get("space", {}), str(path))
    # With bad distributions, the rest of the spec is still checked (against a one-key stand-in space),
    # so one run of the command lists every problem.
    try:
        spec = SweepSpec.model_validate({**data, "space": space if not problems else {"_": {"choice": [0]}}})
    except ValidationError as exc:
        problems += problems_from_validation(exc, SweepSpec, lambda _key: str(path))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return spec


def _check_metric(loaded: LoadedSweep) -> list[Problem]:
    loop = loaded.sample.loop
    if loop.eval.num_evals == 0:
        return [
            Problem(
                loaded.source,
                "metric",
                f"{loaded.spec.metric} comes from evaluation rounds, but the base config runs none; set "
                "training.training.eval.num_evals >= 1 (in the base config or the spec's `set`)",
            )
        ]
    schedulers = ("asha", "pbt", "pb2")
    if loaded.spec.scheduler.type in schedulers and loop.eval.num_evals < 2:
        return [Problem(loaded.source, "scheduler.type", "ASHA/PBT/PB2 need at least 2 evaluation rounds per trial")]
    return []


def load_sweep(spec_path: str | Path, base_override: Path | None = None) -> LoadedSweep:
    """Read and check the spec and its base config. Raises ConfigError listing every problem.

    `base_override` replaces the spec's `base` (a resumed sweep reads the copy in its folder).
    """
    path = Path(spec_path)
    spec = _parse_spec(path)
    base_path = (path.parent / spec.base).resolve() if not Path(spec.base).is_absolute() else Path(spec.base)
    base_path = base_override if base_override is not None else base_path
    if not base_path.is_file():
        raise ConfigError.single(str(path), "base", f"base config not found: {base_path}")
    base = none_strings_to_null(read_yaml_mapping(base_path))
    problems = check_space(base, spec, str(path))
    if problems:
        raise ConfigError(problems)
    firsts = {key: dist.examples()[0] for key, dist in spec.space.items()}
    checked = trial_config(base, spec, {}, None, str(path))
    sample = derive_trial(checked, firsts, spec.seeds[0] if spec.seeds else None, str(path))
    loaded = LoadedSweep(spec, path.resolve(), base_path, base, checked, sample)
    problems = _check_metric(loaded)
    if problems:
        raise ConfigError(problems)
    from ray_lab.tune.algorithms import build_scheduler, build_search

    build_search(spec, loaded.source)  # a missing optional library (PB2's GPy) is a config error now,
    build_scheduler(spec, loaded.source)  # not after the cluster has started
    return loaded
