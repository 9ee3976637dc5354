"""Resuming a run in place: what a checkpoint holds besides the model, and putting it all back.

A checkpoint (`checkpoints/model_<t>_steps.zip`, or a Tune trial's `model.zip`) comes with:

- `…_vecnormalize.pkl`: the VecNormalize statistics (when VecNormalize is on);
- `…_replay_buffer.pkl`: an off-policy algorithm's replay buffer (unless
  `training.training.checkpoint_replay_buffer` is off);
- `…_resume.pkl`: the RNG states (Python, numpy, torch, the action space) and the evaluation counters
  (:class:`~ray_lab.evaluation.callback.EvalHistory`: rounds, best return, and with a curriculum the
  lesson reached and the rounds that met its rule so far).

The zip is written last, so a zip on disk always has its companions. `ray-lab train --resume`, Tune
retries, `sweep --resume` and PBT exploits all restore through :func:`restore_run_state`.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from ray_lab.config.schema import ExperimentConfig
from ray_lab.evaluation.callback import EvalHistory, read_eval_history
from ray_lab.tracking.artifacts import load_replay_buffer, resume_state_path_for, save_model, save_replay_buffer
from ray_lab.tracking.atomic import atomic_write_bytes

__all__ = ["capture_rng", "load_resume_state", "restore_rng", "restore_run_state", "save_checkpoint"]

logger = logging.getLogger(__name__)


def capture_rng(model: BaseAlgorithm) -> dict[str, Any]:
    """The RNG states a training draws from: Python's, numpy's, torch's (CPU and CUDA) and the action space's."""
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch_cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(model: BaseAlgorithm, states: dict[str, Any]) -> None:
    """Put back states from :func:`capture_rng` (after SB3's `set_random_seed` reset them to the run's seed)."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    model.action_space.np_random.bit_generator.state = states["action_space"]
    cuda = states.get("torch_cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(
    model: BaseAlgorithm, path: Path, env: VecEnv | None, *, replay_buffer: bool, history: EvalHistory | None
) -> Path:
    """A resumable checkpoint at `path`: replay buffer (when asked), resume state, then the model zip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if replay_buffer:
        save_replay_buffer(model, path)
    state: dict[str, Any] = {"timesteps": int(model.num_timesteps), "rng": capture_rng(model)}
    if history is not None:
        state["eval"] = dataclasses.asdict(history)
    atomic_write_bytes(resume_state_path_for(path), pickle.dumps(state))
    return save_model(model, path, env)


def load_resume_state(model_zip: Path) -> dict[str, Any] | None:
    """The resume state saved with `model_zip`; None for a checkpoint without one (e.g. an older run's)."""
    path = resume_state_path_for(model_zip)
    if not path.is_file():
        return None
    with path.open("rb") as file:
        state = pickle.load(file)  # our own checkpoint's file, written by save_checkpoint
    if not isinstance(state, dict) or "rng" not in state:
        raise ValueError(f"{path} is not a ray-lab resume state; delete it to resume without RNG states")
    return state


def restore_run_state(
    model: BaseAlgorithm, checkpoint: Path, config: ExperimentConfig, evaluations_csv: Path
) -> EvalHistory:
    """Restore what `checkpoint` saved besides the model; returns the evaluation history to continue.

    The replay buffer and the RNG states come back; the envs are reseeded with `seed + timesteps`
    (not the run's first seeds, which SB3's load set again). The evaluation history is the later of
    `evaluations.csv` and the checkpoint's record, so round numbers, the best score and the
    curriculum's lesson go on.
    """
    buffer = load_replay_buffer(model, checkpoint)
    state = load_resume_state(checkpoint)
    env = model.get_env()
    if config.loop.seed is not None and env is not None:
        env.seed(config.loop.seed + int(model.num_timesteps))
    history = read_eval_history(evaluations_csv)
    if state is not None:
        restore_rng(model, state["rng"])
        if "eval" in state:
            history = history.merged(EvalHistory(**state["eval"]))
    logger.warning(
        "resuming from %s at %d timesteps (replay buffer: %s, RNG states: %s, %d evaluation rounds done%s)",
        checkpoint,
        model.num_timesteps,
        "restored" if buffer else "none",
        "restored" if state is not None else "none saved",
        history.rounds,
        f", curriculum lesson {history.lesson}" if config.environment.curriculum is not None else "",
    )
    return history
