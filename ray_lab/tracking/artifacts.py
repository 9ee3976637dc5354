"""Saving models, VecNormalize statistics and replay buffers atomically, and finding them again."""

from __future__ import annotations

import pickle
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, unwrap_vec_normalize

from ray_lab.tracking.atomic import atomic_path, atomic_write_bytes
from ray_lab.tracking.run_dir import RunLayout, vecnormalize_path_for

__all__ = [
    "find_vecnormalize",
    "load_replay_buffer",
    "load_vecnormalize_stats",
    "model_artifact_files",
    "replay_buffer_path_for",
    "resume_state_path_for",
    "save_model",
    "save_replay_buffer",
    "save_vecnormalize",
    "vecnormalize_path_for",
]


def save_model(model: BaseAlgorithm, path: Path, env: VecEnv | None = None) -> Path:
    """Write `model` to `path` (and its VecNormalize statistics beside it), each file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vec_normalize = unwrap_vec_normalize(env) if env is not None else None
    if vec_normalize is not None:  # first: a model zip on disk always has its statistics beside it
        save_vecnormalize(vec_normalize, vecnormalize_path_for(path))
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def save_vecnormalize(vec_normalize: VecNormalize, path: Path) -> None:
    """Pickle the statistics of `vec_normalize` to `path`, atomically (its `__getstate__` drops the envs)."""
    atomic_write_bytes(path, pickle.dumps(vec_normalize))


def find_vecnormalize(model_zip: Path) -> Path | None:
    """The statistics file that belongs to `model_zip`, if there is one."""
    for candidate in (vecnormalize_path_for(model_zip), RunLayout(model_zip.parent).vecnormalize):
        if candidate.is_file():
            return candidate
    return None


def model_artifact_files(model_zip: Path, config_yaml: Path) -> list[Path]:
    """What goes into a model's W&B artifact beside the zip: its VecNormalize statistics (when it
    has some, under the same name rule) and the run's `config.yaml` (when there is one)."""
    companions = [vecnormalize_path_for(model_zip), config_yaml]
    return [path for path in companions if path.is_file()]


def load_vecnormalize_stats(path: Path) -> VecNormalize:
    """The VecNormalize saved at `path`, without envs (read its `obs_rms` / `ret_rms`)."""
    with path.open("rb") as file:
        loaded = pickle.load(file)  # our own run folder's file, written by save_vecnormalize
    if not isinstance(loaded, VecNormalize):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, expected VecNormalize statistics")
    return loaded


def resume_state_path_for(model_zip: Path) -> Path:
    """Where the resume state (RNG states, evaluation counters) saved with `model_zip` lives: `model_resume.pkl`."""
    return model_zip.with_name(f"{model_zip.stem}_resume.pkl")


def replay_buffer_path_for(model_zip: Path) -> Path:
    """Where the replay buffer saved with `model_zip` lives: `model.zip` → `model_replay_buffer.pkl`."""
    return model_zip.with_name(f"{model_zip.stem}_replay_buffer.pkl")


def save_replay_buffer(model: BaseAlgorithm, model_zip: Path) -> Path | None:
    """Save an off-policy model's replay buffer beside `model_zip` (atomically); None for on-policy models."""
    if getattr(model, "replay_buffer", None) is None:
        return None
    path = replay_buffer_path_for(model_zip)
    with atomic_path(path) as tmp:
        model.save_replay_buffer(tmp)  # type: ignore[attr-defined]
    return path


def load_replay_buffer(model: BaseAlgorithm, model_zip: Path) -> bool:
    """Load the replay buffer saved beside `model_zip` into an off-policy model; False when there is none."""
    path = replay_buffer_path_for(model_zip)
    if not path.is_file() or getattr(model, "replay_buffer", None) is None:
        return False
    model.load_replay_buffer(path)  # type: ignore[attr-defined]
    return True
