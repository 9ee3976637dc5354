"""The callbacks of one training run: progress, training videos, seeded eval rounds (and the curriculum they
move on), and resumable checkpoints."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.parameters import apply_lesson
from ray_lab.evaluation.callback import EvalHistory, SeededEvalCallback, evaluation_points
from ray_lab.evaluation.curriculum import Curriculum
from ray_lab.evaluation.seeded import EpisodeResults
from ray_lab.learner.callbacks import (
    CheckpointCallback,
    LessonCallback,
    ProgressCallback,
    ProgressState,
    VideoUploadCallback,
    checkpoint_points,
)
from ray_lab.learner.resume import save_checkpoint
from ray_lab.tracking.artifacts import model_artifact_files
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.tracking.wandb_sink import NullSink, Sink

__all__ = ["VIDEO_KEY", "RoundHook", "Saver", "checkpoint_saver", "log_model_artifact", "make_callbacks"]

RoundHook = Callable[[BaseAlgorithm, int, EpisodeResults], None]
"""Called after every evaluation round with the model, its timesteps and the round's results (sweeps report here)."""

VIDEO_KEY = "videos/train"
"""The W&B key of the training videos (`environment.video_wrapper`), logged at the timestep they were seen."""

Saver = Callable[[Path], Path]
"""Writes a resumable checkpoint at a path (see :func:`ray_lab.learner.resume.save_checkpoint`)."""


def _points(points: list[int], start: int, resume: bool) -> list[int]:
    """Continuing a model shifts the schedule by its timesteps; resuming a run skips the points already passed."""
    return [p for p in points if p > start] if resume else [p + start for p in points]


def make_callbacks(
    config: ExperimentConfig,
    layout: RunLayout,
    eval_env: VecEnv | Future[VecEnv] | None,
    sink: Sink,
    state: ProgressState,
    stop: threading.Event,
    model: BaseAlgorithm,
    resume: bool = False,
    round_hook: RoundHook | None = None,
    history: EvalHistory | None = None,
) -> tuple[list[BaseCallback], SeededEvalCallback | None]:
    """Progress, a seeded eval round every `total/num_evals` steps, and checkpoints every `total/log_points`.

    A resumed run passes its evaluation `history`: points it evaluated already are not run again, and
    round numbers, the best score and the curriculum's lesson go on. An eval round comes before a
    checkpoint at the same point, so the checkpoint holds the round's counters.
    """
    loop, start = config.loop, model.num_timesteps
    state.eval_rounds = history.rounds if history is not None else 0
    callbacks: list[BaseCallback] = [ProgressCallback(state, stop)]
    if config.environment.video_wrapper and not isinstance(sink, NullSink):
        callbacks.append(VideoUploadCallback(layout.videos_dir, lambda video, t: sink.log_video(video, VIDEO_KEY, t)))
    eval_callback = None
    if eval_env is not None:
        evaluated = max(start, history.last_timesteps) if history is not None else start
        points = _points(evaluation_points(loop.total_timesteps, loop.eval.num_evals), evaluated, resume)
        on_round = _round_recorder(state, model, round_hook)
        curriculum = start_curriculum(config, model, history)
        eval_callback = _eval_callback(config, layout, eval_env, points, on_round, history, curriculum)
        callbacks.append(eval_callback)
        if curriculum is not None:
            callbacks.append(LessonCallback(curriculum))
    if loop.log_points:
        points = _points(checkpoint_points(loop.total_timesteps, loop.log_points), start, resume)
        saver = checkpoint_saver(config, model, eval_callback, history)
        on_checkpoint = _checkpoint_recorder(config, layout, sink, state)
        callbacks.append(CheckpointCallback(layout, points, on_checkpoint, saver))
    return callbacks, eval_callback


def _eval_callback(
    config: ExperimentConfig,
    layout: RunLayout,
    eval_env: VecEnv | Future[VecEnv],
    points: list[int],
    on_round: Callable[[int, EpisodeResults], None],
    history: EvalHistory | None,
    curriculum: Curriculum | None,
) -> SeededEvalCallback:
    """Seeded eval rounds at `points`, with the run's evaluations CSV and best model."""
    loop = config.loop
    return SeededEvalCallback(
        eval_env,
        points=points,
        seed=loop.eval.seed,
        num_episodes=loop.eval.num_episodes,
        deterministic=loop.eval.deterministic,
        evaluations_csv=layout.evaluations_csv,
        best_model_zip=layout.best_model_zip,
        on_round=on_round,
        history=history,
        curriculum=curriculum,
    )


def start_curriculum(config: ExperimentConfig, model: BaseAlgorithm, history: EvalHistory | None) -> Curriculum | None:
    """The run's curriculum, in the lesson a resumed run had reached (its training envs moved there before
    their first reset); None without `environment.curriculum`."""
    section = config.environment.curriculum
    if section is None:
        return None
    curriculum = Curriculum(section, history.position if history is not None else None)
    env = model.get_env()
    if curriculum.lesson > 0 and env is not None:
        apply_lesson(env, curriculum.lesson)
        print(f"Curriculum: resuming in lesson {curriculum.lesson} '{curriculum.name}'", flush=True)
    return curriculum


def _round_recorder(
    state: ProgressState, model: BaseAlgorithm, round_hook: RoundHook | None
) -> Callable[[int, EpisodeResults], None]:
    """Counts every eval round in `state` (with its return), then calls `round_hook`."""

    def on_round(timesteps: int, results: EpisodeResults) -> None:
        state.eval_return = results.mean_return
        state.eval_rounds += 1
        if round_hook is not None:
            round_hook(model, timesteps, results)

    return on_round


def _checkpoint_recorder(
    config: ExperimentConfig, layout: RunLayout, sink: Sink, state: ProgressState
) -> Callable[[Path, int], None]:
    """Counts every checkpoint in `state`; logs it as a model artifact when configured."""

    def on_checkpoint(path: Path, timesteps: int) -> None:
        state.checkpoints += 1
        if config.tracking.log_model_artifacts:
            aliases = [f"step-{timesteps}", "latest"]
            log_model_artifact(sink, layout, path, f"{layout.root.name}-checkpoint", aliases)

    return on_checkpoint


def checkpoint_saver(
    config: ExperimentConfig,
    model: BaseAlgorithm,
    eval_callback: SeededEvalCallback | None,
    history: EvalHistory | None,
) -> Saver:
    """Writes resumable checkpoints of `model`: with the replay buffer unless switched off, and the eval counters."""

    def save(path: Path) -> Path:
        current = eval_callback.history if eval_callback is not None else history
        replay_buffer = config.loop.checkpoint_replay_buffer
        return save_checkpoint(model, path, model.get_env(), replay_buffer=replay_buffer, history=current)

    return save


def log_model_artifact(sink: Sink, layout: RunLayout, model_zip: Path, name: str, aliases: list[str]) -> None:
    """Log `model_zip` as artifact `name`, with its VecNormalize statistics and the run's `config.yaml` beside it.

    A `wandb:` URI naming the zip then brings back everything `ray-lab play` and
    `training.pretrained_model` need (see :func:`ray_lab.tracking.wandb_models.resolve_wandb_model`).
    """
    extra = model_artifact_files(model_zip, layout.config_yaml)
    sink.log_artifact(model_zip, name=name, aliases=aliases, extra_files=extra)
