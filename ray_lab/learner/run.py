"""One training run, top to bottom: envs on workers → model → learn with eval rounds → run folder.

This runs inside the learner actor (see `ray_lab.learner.actor`), on the node that holds the
learner's bundle; the env workers it starts sit in the same placement group. Its callbacks are
made in :mod:`ray_lab.learner.run_callbacks`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

from ray_lab.config.schema import ExperimentConfig
from ray_lab.evaluation.callback import EvalHistory, SeededEvalCallback
from ray_lab.learner.build import build_eval_env, build_model, build_train_env, load_pretrained_vecnormalize
from ray_lab.learner.callbacks import ProgressState
from ray_lab.learner.logger import build_logger
from ray_lab.learner.plan import TrainingPlan
from ray_lab.learner.resume import restore_run_state
from ray_lab.learner.run_callbacks import VIDEO_KEY as VIDEO_KEY
from ray_lab.learner.run_callbacks import RoundHook, Saver, checkpoint_saver, log_model_artifact, make_callbacks
from ray_lab.learner.startup import in_background, open_sink
from ray_lab.learner.summary import RunSummary
from ray_lab.tracking.artifacts import save_model
from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.plots import plot_learning_curve
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.tracking.wandb_sink import NullSink, Sink
from ray_lab.workers.launch import LaunchedWorkers, kill_actors

logger = logging.getLogger(__name__)


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


def save_stop_checkpoint(model: BaseAlgorithm, layout: RunLayout, save: Saver) -> Path:
    """A training stopped early (Ctrl-C, SIGTERM): `checkpoints/model_<t>_steps.zip`, resumable with `--resume`."""
    path = layout.checkpoint_zip(model.num_timesteps)
    save(path)
    logger.warning("stopped at %d steps; checkpoint %s", model.num_timesteps, path)
    return path


def save_failure_checkpoint(model: BaseAlgorithm, layout: RunLayout, save: Saver | None = None) -> Path | None:
    """Keep the model as it was when training failed: `checkpoints/model_<t>_steps_at_failure.zip`."""
    path = layout.checkpoint_zip(model.num_timesteps, at_failure=True)
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
    plan: TrainingPlan,
    run_dir: Path,
    placement_group: Any,
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
    """Train as configured and planned (`plan`'s workers in `placement_group`); the run folder gets every output.

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
    run = _TrainingRun(config, plan, layout, state, stop, opening, launched, resume=resume, round_hook=round_hook)
    return run.execute(placement_group, pretrained, start=start, started_at=started_at)


@dataclass
class _TrainingRun:
    """One call of :func:`train`: its settings and what it started so far (for the failure path and the clean-up)."""

    config: ExperimentConfig
    plan: TrainingPlan
    layout: RunLayout
    state: ProgressState
    stop: threading.Event
    opening: Future[Sink]
    launched: LaunchedWorkers | None
    resume: bool = False
    round_hook: RoundHook | None = None
    sink: Sink = field(default_factory=NullSink)
    train_env: VecEnv | None = None
    eval_env: Future[VecEnv] | None = None
    model: BaseAlgorithm | None = None
    saver: Saver | None = None

    def execute(
        self,
        placement_group: Any,
        pretrained: Path | None,
        *,
        start: float,
        started_at: float | None,
    ) -> RunSummary:
        """Build, learn and write the outputs; a failure keeps the model and closes W&B; the envs always close."""
        try:
            train_env, model, history = self._build(placement_group, pretrained)
            callbacks, eval_callback = self._callbacks(model, history)
            self.saver = saver = checkpoint_saver(self.config, model, eval_callback, history)
            stopped = self._learn(model, callbacks, eval_callback, saver, reset_num_timesteps=pretrained is None)
            _finish_outputs(self.config, self.layout, model, train_env, self.sink)
            summary = self._summary(model, eval_callback, stopped, start, started_at)
            atomic_write_text(self.layout.summary_json, json.dumps(asdict(summary), indent=2))
            self.sink.summary({k: v for k, v in asdict(summary).items() if v is not None})
            self.sink.finish(exit_code=0)
            return summary
        except BaseException as exc:
            self._fail(exc)
            raise
        finally:
            self.state.finished = True
            close_envs(self.train_env, self.eval_env, self.launched)

    def _build(self, placement_group: Any, pretrained: Path | None) -> tuple[VecEnv, BaseAlgorithm, EvalHistory | None]:
        """The train envs, the eval envs (in the background), the model, W&B, then the model's logger."""
        config, plan, layout = self.config, self.plan, self.layout
        self.train_env = train_env = build_train_env(config, plan, placement_group, layout, self.launched)
        self.launched = None
        self.eval_env = start_eval_env(config, plan, placement_group, layout)
        self.model, history = prepare_model(config, layout, train_env, plan.device, pretrained, self.resume)
        self.sink = self.opening.result()  # before the logger: W&B hooks TensorBoard's writer when it starts
        self.model.set_logger(build_logger(layout, config.loop.verbose))
        return train_env, self.model, history

    def _callbacks(
        self, model: BaseAlgorithm, history: EvalHistory | None
    ) -> tuple[list[BaseCallback], SeededEvalCallback | None]:
        """This run's callbacks (see :func:`ray_lab.learner.run_callbacks.make_callbacks`)."""
        return make_callbacks(
            self.config,
            self.layout,
            self.eval_env,
            self.sink,
            self.state,
            self.stop,
            model,
            resume=self.resume,
            round_hook=self.round_hook,
            history=history,
        )

    def _learn(
        self,
        model: BaseAlgorithm,
        callbacks: list[BaseCallback],
        eval_callback: SeededEvalCallback | None,
        saver: Saver,
        *,
        reset_num_timesteps: bool,
    ) -> bool:
        """Learn up to `total_timesteps`; whether it was stopped early (then with a stop checkpoint)."""
        total = self.config.loop.total_timesteps
        steps = total - model.num_timesteps if self.resume else total
        model.learn(
            total_timesteps=max(steps, 0),
            callback=CallbackList(callbacks),
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=False,
        )
        stopped = self.stop.is_set()
        if stopped:
            save_stop_checkpoint(model, self.layout, saver)
            self.state.checkpoints += 1
        elif eval_callback is not None:
            eval_callback.finish()
        return stopped

    def _summary(
        self,
        model: BaseAlgorithm,
        eval_callback: SeededEvalCallback | None,
        stopped: bool,
        start: float,
        started_at: float | None,
    ) -> RunSummary:
        """What `summary.json` holds; `start` is when :func:`train` started (monotonic clock)."""
        state = self.state
        return RunSummary(
            run_dir=str(self.layout.root),
            timesteps=int(model.num_timesteps),
            wall_time_s=round(time.monotonic() - start, 2),
            steps_per_s=round(state.steps_per_s, 1),
            eval_rounds=state.eval_rounds,
            final_eval_return=state.eval_return,
            best_eval_return=eval_callback.best if eval_callback is not None else None,
            checkpoints=state.checkpoints,
            stopped_early=stopped,
            wandb_url=getattr(self.sink, "url", None),
            device=str(model.device),
            env_restarts=state.env_restarts,
            worker_restarts=state.worker_restarts,
            startup_s=_startup_s(started_at, state.first_step_at),
        )

    def _fail(self, exc: BaseException) -> None:
        """Keep the model as it was (unless stopped on purpose), close its logger, and close W&B."""
        stopped = isinstance(exc, SystemExit) and exc.code in (0, None)  # e.g. Ray Tune stopping a trial early
        if self.model is not None and not stopped:
            save_failure_checkpoint(self.model, self.layout, self.saver)
        if self.model is not None:
            self.model.logger.close()
        if isinstance(self.sink, NullSink) and self.opening.exception() is None:
            self.sink = self.opening.result()  # W&B came up but training failed before it was needed: close it too
        self.sink.finish(exit_code=0 if stopped else 1)


def start_eval_env(
    config: ExperimentConfig, plan: TrainingPlan, placement_group: Any, layout: RunLayout
) -> Future[VecEnv] | None:
    """Build the plan's eval envs on a background thread (None when it has no eval workers: no rounds)."""
    if plan.eval is None:
        return None
    return in_background(build_eval_env, config, plan.eval, placement_group, layout)


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
