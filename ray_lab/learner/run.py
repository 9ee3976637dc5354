"""One training run, top to bottom: envs on workers → model → learn with eval rounds → run folder.

This runs inside the learner actor (see `ray_lab.learner.actor`), on the node that holds the
learner's bundle; the env workers it starts sit in the same placement group.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

from ray_lab.config.schema import ExperimentConfig
from ray_lab.evaluation.callback import EvalHistory, SeededEvalCallback, evaluation_points
from ray_lab.evaluation.seeded import EpisodeResults
from ray_lab.learner.artifacts import model_artifact_files, save_model
from ray_lab.learner.build import build_eval_env, build_model, build_train_env, load_pretrained_vecnormalize
from ray_lab.learner.callbacks import (
    CheckpointCallback,
    ProgressCallback,
    ProgressState,
    VideoUploadCallback,
    checkpoint_points,
)
from ray_lab.learner.logger import build_logger
from ray_lab.learner.resume import restore_run_state, save_checkpoint
from ray_lab.learner.startup import in_background, open_sink
from ray_lab.learner.summary import RunSummary
from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.plots import plot_learning_curve
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.tracking.wandb_sink import NullSink, Sink
from ray_lab.workers.launch import LaunchedWorkers, kill_actors

logger = logging.getLogger(__name__)


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
    round numbers and the best score go on. An eval round comes before a checkpoint at the same point,
    so the checkpoint holds the round's counters.
    """
    loop = config.loop
    start = model.num_timesteps
    state.eval_rounds = history.rounds if history is not None else 0

    def on_checkpoint(path: Path, timesteps: int) -> None:
        state.checkpoints += 1
        if config.tracking.log_model_artifacts:
            aliases = [f"step-{timesteps}", "latest"]
            log_model_artifact(sink, layout, path, f"{layout.root.name}-checkpoint", aliases)

    def on_round(timesteps: int, results: EpisodeResults) -> None:
        state.eval_return = results.mean_return
        state.eval_rounds += 1
        if round_hook is not None:
            round_hook(model, timesteps, results)

    callbacks: list[BaseCallback] = [ProgressCallback(state, stop)]
    if config.environment.video_wrapper and not isinstance(sink, NullSink):
        callbacks.append(VideoUploadCallback(layout.videos_dir, lambda video, t: sink.log_video(video, VIDEO_KEY, t)))
    eval_callback = None
    if eval_env is not None:
        evaluated = max(start, history.last_timesteps) if history is not None else start
        eval_callback = SeededEvalCallback(
            eval_env,
            points=_points(evaluation_points(loop.total_timesteps, loop.eval.num_evals), evaluated, resume),
            seed=loop.eval.seed,
            num_episodes=loop.eval.num_episodes,
            deterministic=loop.eval.deterministic,
            evaluations_csv=layout.evaluations_csv,
            best_model_zip=layout.best_model_zip,
            on_round=on_round,
            history=history,
        )
        callbacks.append(eval_callback)
    if loop.log_points:
        points = _points(checkpoint_points(loop.total_timesteps, loop.log_points), start, resume)
        saver = checkpoint_saver(config, model, eval_callback, history)
        callbacks.append(CheckpointCallback(layout.checkpoints_dir, points, on_checkpoint, saver))
    return callbacks, eval_callback


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


def _finish_outputs(config: ExperimentConfig, layout: RunLayout, model: BaseAlgorithm, env: VecEnv, sink: Sink) -> None:
    """Final model, learning curve and artifacts."""
    model.logger.close()  # TensorBoard's last events on disk before W&B's sync reads them
    save_model(model, layout.model_zip, env)
    plot_learning_curve(
        layout.progress_csv,
        layout.evaluations_csv,
        layout.learning_curve_png,
        title=f"{config.training.algorithm.upper()} on {config.environment.name}",
    )
    if config.tracking.log_model_artifacts:
        log_model_artifact(sink, layout, layout.model_zip, f"{layout.root.name}-model", ["final", "latest"])
        if layout.best_model_zip.is_file():
            log_model_artifact(sink, layout, layout.best_model_zip, f"{layout.root.name}-best", ["best"])


def log_model_artifact(sink: Sink, layout: RunLayout, model_zip: Path, name: str, aliases: list[str]) -> None:
    """Log `model_zip` as artifact `name`, with its VecNormalize statistics and the run's `config.yaml` beside it.

    A `wandb:` URI naming the zip then brings back everything `ray-lab play` and
    `training.pretrained_model` need (see :func:`ray_lab.tracking.wandb_models.resolve_wandb_model`).
    """
    extra = model_artifact_files(model_zip, layout.config_yaml)
    sink.log_artifact(model_zip, name=name, aliases=aliases, extra_files=extra)


def save_stop_checkpoint(model: BaseAlgorithm, layout: RunLayout, save: Saver) -> Path:
    """A training stopped early (Ctrl-C, SIGTERM): `checkpoints/model_<t>_steps.zip`, resumable with `--resume`."""
    path = layout.checkpoints_dir / f"model_{model.num_timesteps}_steps.zip"
    save(path)
    logger.warning("stopped at %d steps; checkpoint %s", model.num_timesteps, path)
    return path


def save_failure_checkpoint(model: BaseAlgorithm, layout: RunLayout, save: Saver | None = None) -> Path | None:
    """Keep the model as it was when training failed: `checkpoints/model_<t>_steps_at_failure.zip`."""
    path = layout.checkpoints_dir / f"model_{model.num_timesteps}_steps_at_failure.zip"
    try:
        if save is not None:
            save(path)
        else:
            save_model(model, path, model.get_env())
    except Exception as exc:  # the failure itself matters more; say why nothing was saved
        logger.error("could not save a checkpoint after the failure: %s", exc)
        return None
    logger.error("training failed at %d steps; the model at that point is in %s", model.num_timesteps, path)
    return path


def prepare_model(
    config: ExperimentConfig,
    layout: RunLayout,
    train_env: VecEnv,
    device: str,
    pretrained: Path | None,
    resume: bool,
) -> tuple[BaseAlgorithm, EvalHistory | None]:
    """The model to train; resuming (`pretrained` is the run's checkpoint), with everything else it saved."""
    if pretrained is not None:
        load_pretrained_vecnormalize(train_env, pretrained)
    model = build_model(config, train_env, device, pretrained)
    if not (resume and pretrained is not None):
        return model, None
    return model, restore_run_state(model, pretrained, config, layout.evaluations_csv)


def _startup_s(started_at: float | None, first_step_at: float | None) -> float | None:
    if started_at is None or first_step_at is None:
        return None
    return round(first_step_at - started_at, 2)


def train(
    config: ExperimentConfig,
    run_dir: Path,
    placement_group: Any,
    device: str,
    pretrained: Path | None,
    state: ProgressState,
    stop: threading.Event,
    *,
    resume: bool = False,
    round_hook: RoundHook | None = None,
    started_at: float | None = None,
    launched: LaunchedWorkers | None = None,
    opening: Future[Sink] | None = None,
) -> RunSummary:
    """Train as configured; the run folder gets every output, written atomically.

    ``started_at`` (wall-clock seconds) is when the user's command started; the summary then reports
    the start-up time up to the first env step. ``launched``: the train workers, already started
    (see :func:`ray_lab.learner.startup.launch_train_workers`); ``opening``: the W&B sink, already
    opening (:func:`ray_lab.learner.startup.open_sink`). The eval workers start in the background
    once the train workers are up; the first evaluation round waits for them.

    With `resume`, `pretrained` is this run's own checkpoint: training goes on from its timesteps to
    `total_timesteps` (with its replay buffer when the checkpoint has one), skipping the rounds already done.
    """
    start = time.monotonic()
    layout = RunLayout(run_dir)
    state.total_timesteps = config.loop.total_timesteps
    if opening is None:
        opening = in_background(open_sink, config, layout)  # W&B starts (seconds) while the workers do
    sink: Sink = NullSink()
    train_env: VecEnv | None = None
    eval_env: Future[VecEnv] | None = None
    model: BaseAlgorithm | None = None
    saver: Saver | None = None
    try:
        train_env = build_train_env(config, placement_group, layout, launched)
        launched = None
        eval_env = start_eval_env(config, placement_group, layout)
        model, history = prepare_model(config, layout, train_env, device, pretrained, resume)
        sink = opening.result()  # before the logger: W&B hooks TensorBoard's writer when it starts
        model.set_logger(build_logger(layout.root, layout.tensorboard_dir, config.loop.verbose))
        callbacks, eval_callback = make_callbacks(
            config, layout, eval_env, sink, state, stop, model, resume=resume, round_hook=round_hook, history=history
        )
        saver = checkpoint_saver(config, model, eval_callback, history)
        steps = config.loop.total_timesteps - model.num_timesteps if resume else config.loop.total_timesteps
        model.learn(
            total_timesteps=max(steps, 0),
            callback=CallbackList(callbacks),
            reset_num_timesteps=pretrained is None,
            progress_bar=False,
        )
        stopped = stop.is_set()
        if stopped:
            save_stop_checkpoint(model, layout, saver)
            state.checkpoints += 1
        elif eval_callback is not None:
            eval_callback.finish()
        _finish_outputs(config, layout, model, train_env, sink)
        summary = RunSummary(
            run_dir=str(layout.root),
            timesteps=int(model.num_timesteps),
            wall_time_s=round(time.monotonic() - start, 2),
            steps_per_s=round(state.steps_per_s, 1),
            eval_rounds=state.eval_rounds,
            final_eval_return=state.eval_return,
            best_eval_return=eval_callback.best if eval_callback is not None else None,
            checkpoints=state.checkpoints,
            stopped_early=stopped,
            wandb_url=getattr(sink, "url", None),
            device=str(model.device),
            env_restarts=state.env_restarts,
            worker_restarts=state.worker_restarts,
            startup_s=_startup_s(started_at, state.first_step_at),
        )
        atomic_write_text(layout.summary_json, json.dumps(asdict(summary), indent=2))
        sink.summary({k: v for k, v in asdict(summary).items() if v is not None})
        sink.finish(exit_code=0)
        return summary
    except BaseException as exc:
        stopped = isinstance(exc, SystemExit) and exc.code in (0, None)  # e.g. Ray Tune stopping a trial early
        if model is not None and not stopped:
            save_failure_checkpoint(model, layout, saver)
        if model is not None:
            model.logger.close()
        if isinstance(sink, NullSink) and opening.exception() is None:
            sink = opening.result()  # W&B came up but training failed before it was needed: close it too
        sink.finish(exit_code=0 if stopped else 1)
        raise
    finally:
        state.finished = True
        close_envs(train_env, eval_env, launched)


def start_eval_env(config: ExperimentConfig, placement_group: Any, layout: RunLayout) -> Future[VecEnv] | None:
    """Build the eval envs on a background thread (None when there are no evaluation rounds)."""
    if not config.loop.eval.num_evals:
        return None
    return in_background(build_eval_env, config, placement_group, layout)


def close_envs(train_env: VecEnv | None, eval_env: Future[VecEnv] | None, launched: LaunchedWorkers | None) -> None:
    """Close what a run started: its envs (waiting for eval envs still starting), or unused launched workers."""
    if launched is not None:
        kill_actors(launched.actors)
    if train_env is not None:
        train_env.close()
    if eval_env is not None:
        try:
            eval_env.result().close()
        except Exception as exc:  # it failed to start: the envs it made are gone already
            logger.debug("the eval envs never started: %s", exc)
