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


def _channels_first_images(space: gym.Space) -> gym.Space:
    """``space`` as an SB3 model records it: channels-last images transposed to ``(C, H, W)``, as the
    ``VecTransposeImage`` that SB3 puts around such envs does (also for the image keys of a Dict)."""
    from gymnasium import spaces
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
    from stable_baselines3.common.vec_env import VecTransposeImage

    def transposed(sub: gym.Space) -> gym.Space:
        if isinstance(sub, spaces.Box) and is_image_space(sub) and not is_image_space_channels_first(sub):
            return VecTransposeImage.transpose_space(sub)
        return sub

    if isinstance(space, spaces.Dict):
        return spaces.Dict({key: transposed(sub) for key, sub in space.spaces.items()})
    return transposed(space)


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
        if saved is not None and saved not in (expected, _channels_first_images(expected)):
            problems.append(f"{name} mismatch: the model has {_describe(saved)}, the env has {_describe(expected)}")
    if problems:
        raise ConfigError.single(source, KEY, f"{model_zip} does not fit this env: " + "; ".join(problems))
