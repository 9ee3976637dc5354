"""Pretrained models: resolve `training.pretrained_model` to a zip and check that it fits the env."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from ray_lab.config.errors import ConfigError
from ray_lab.tracking.run_dir import find_model
from ray_lab.tracking.wandb_sink import resolve_wandb_model

KEY = "training.pretrained_model"


def resolve_pretrained(spec: str, source: str, cache_dir: Path) -> Path:
    """A run folder, a `.zip` path or `wandb:entity/project/run_id/file.zip` → the local model zip."""
    if spec.startswith("wandb:"):
        try:
            return resolve_wandb_model(spec, cache_dir)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError.single(source, KEY, str(exc)) from None
    path = Path(spec).expanduser()
    if not path.exists() and path.suffix != ".zip" and path.with_suffix(".zip").is_file():
        path = path.with_suffix(".zip")
    try:
        return find_model(path).resolve()
    except FileNotFoundError as exc:
        raise ConfigError.single(source, KEY, f"no model at {spec!r}: {exc}") from None


def _describe(space: gym.Space) -> str:
    return repr(space)


def check_compatible(model_zip: Path, observation_space: gym.Space, action_space: gym.Space, source: str) -> None:
    """Raise ConfigError naming the path and the mismatch when the model does not fit these spaces."""
    try:
        from stable_baselines3.common.save_util import load_from_zip_file  # torch: only when a model is given

        data, _, _ = load_from_zip_file(model_zip, load_data=True, device="cpu", print_system_info=False)
    except Exception as exc:  # a foreign or corrupt zip: any failure is the user's file
        raise ConfigError.single(source, KEY, f"{model_zip} is not a Stable-Baselines3 model: {exc}") from None
    if data is None:
        raise ConfigError.single(source, KEY, f"{model_zip} holds no model data")
    problems = []
    for name, expected in (("observation_space", observation_space), ("action_space", action_space)):
        saved = data.get(name)
        if saved is not None and saved != expected:
            problems.append(f"{name} mismatch: the model has {_describe(saved)}, the env has {_describe(expected)}")
    if problems:
        raise ConfigError.single(source, KEY, f"{model_zip} does not fit this env: " + "; ".join(problems))
