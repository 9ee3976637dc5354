"""Training callbacks: evenly spaced checkpoints, live progress the driver can poll, video uploads, the lesson."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecVideoRecorder

from ray_lab.envs.parameters import apply_lesson
from ray_lab.evaluation.curriculum import LESSON_KEY, Curriculum
from ray_lab.learner.summary import ProgressState
from ray_lab.tracking.artifacts import save_model
from ray_lab.tracking.run_dir import RunLayout

__all__ = [
    "CheckpointCallback",
    "LessonCallback",
    "ProgressCallback",
    "ProgressState",
    "VideoUploadCallback",
    "checkpoint_points",
]


class ProgressCallback(BaseCallback):
    """Keeps a ProgressState current and stops training cleanly when a stop is requested."""

    def __init__(self, state: ProgressState, stop_requested: threading.Event) -> None:
        super().__init__(verbose=0)
        self.state = state
        self.stop_requested = stop_requested
        self._t0 = time.monotonic()
        self._steps0 = 0
        self._restarts: dict[int, int] = {}

    def _on_training_start(self) -> None:
        self._t0 = time.monotonic()
        self._steps0 = self.num_timesteps

    def _on_step(self) -> bool:
        if self.state.first_step_at is None:
            self.state.first_step_at = time.time()
        self.state.timesteps = self.num_timesteps
        elapsed = time.monotonic() - self._t0
        if elapsed > 0:
            self.state.steps_per_s = (self.num_timesteps - self._steps0) / elapsed
        self._count_restarts(self.locals.get("infos") or ())
        return not self.stop_requested.is_set()

    def _count_restarts(self, infos: Sequence[dict[str, Any]]) -> None:
        """Simulator envs report their restart count as `info["restarts"]`; keep the latest per env."""
        changed = False
        if infos and infos[0].get("worker_restarted"):  # every env's episode ended with the lost step
            self.state.worker_restarts += 1
            self.logger.record("workers/worker_restarts", self.state.worker_restarts)
        for index, info in enumerate(infos):
            count = info.get("restarts")
            if count is not None and self._restarts.get(index) != count:
                self._restarts[index] = int(count)
                changed = True
        if changed:
            self.state.env_restarts = sum(self._restarts.values())

    def _on_rollout_end(self) -> None:
        buffer = self.model.ep_info_buffer
        if buffer:
            self.state.train_return = float(np.mean([info["r"] for info in buffer]))
        self.logger.record("workers/steps_per_s", self.state.steps_per_s)
        self.logger.record("workers/num_envs", self.training_env.num_envs)
        if self._restarts:
            self.logger.record("workers/env_restarts", self.state.env_restarts)


class LessonCallback(BaseCallback):
    """Logs the curriculum's lesson with every rollout (`curriculum/lesson`), and gives it back to the
    training envs of a restarted worker (Ray rebuilds them in the lesson their factories name).

    The evaluation rounds move the curriculum on (:class:`~ray_lab.evaluation.callback.SeededEvalCallback`).
    """

    def __init__(self, curriculum: Curriculum) -> None:
        super().__init__(verbose=0)
        self.curriculum = curriculum

    def _on_step(self) -> bool:
        infos = self.locals.get("infos") or ()
        if infos and infos[0].get("worker_restarted"):
            apply_lesson(self.training_env, self.curriculum.lesson)
        return True

    def _on_rollout_end(self) -> None:
        self.logger.record(LESSON_KEY, self.curriculum.lesson)


def checkpoint_points(total_timesteps: int, log_points: int) -> list[int]:
    """`log_points` timesteps spread evenly over training, the last at `total_timesteps`."""
    return [round(total_timesteps * k / log_points) for k in range(1, log_points + 1)]


class CheckpointCallback(BaseCallback):
    """Saves `layout.checkpoint_zip(timesteps)` (and VecNormalize statistics) at each point.

    `save` writes the checkpoint at a path (default: the model and its VecNormalize statistics; a
    training passes :func:`ray_lab.learner.resume.save_checkpoint`'s resumable checkpoint).
    """

    def __init__(
        self,
        layout: RunLayout,
        points: list[int],
        on_saved: Callable[[Path, int], None] | None = None,
        save: Callable[[Path], Path] | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self.layout = layout
        self.points = list(points)
        self.on_saved = on_saved
        self.save = save
        self.saved: list[Path] = []

    def _on_step(self) -> bool:
        if len(self.saved) < len(self.points) and self.num_timesteps >= self.points[len(self.saved)]:
            self.save_now()
        return True

    def save_now(self) -> Path:
        """Write a checkpoint at the current timestep."""
        path = self.layout.checkpoint_zip(self.num_timesteps)
        if self.save is not None:
            self.save(path)
        else:
            save_model(self.model, path, self.training_env)
        self.saved.append(path)
        if self.on_saved is not None:
            self.on_saved(path, self.num_timesteps)
        return path


class VideoUploadCallback(BaseCallback):
    """Hands each training video that `environment.video_wrapper` finishes in `videos_dir` to `upload`.

    SB3's `VecVideoRecorder` writes `train-step-<a>-to-step-<b>.mp4` within the env step that ends
    the clip; new files are uploaded after each rollout and when training ends (the clip still
    recording then is cut there and uploaded too), with the timestep they were seen at. Videos already
    there when training starts (a resumed run) were uploaded then.
    """

    def __init__(self, videos_dir: Path, upload: Callable[[Path, int], None], pattern: str = "train-*.mp4") -> None:
        super().__init__(verbose=0)
        self.videos_dir = videos_dir
        self.upload = upload
        self.pattern = pattern
        self.uploaded: list[Path] = []
        self._seen: set[Path] = set()

    def _videos(self) -> list[Path]:
        if not self.videos_dir.is_dir():
            return []
        return sorted(p for p in self.videos_dir.glob(self.pattern) if p.is_file() and p not in self._seen)

    def _on_training_start(self) -> None:
        self._seen.update(self._videos())

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        for video in self._videos():
            self._seen.add(video)
            self.upload(video, self.num_timesteps)
            self.uploaded.append(video)

    def _on_training_end(self) -> None:
        _finish_clip(self.training_env)
        self._on_rollout_end()


def _finish_clip(env: VecEnv | None) -> None:
    """Write the clip that a `VecVideoRecorder` in `env`'s wrappers is still recording (as its `close` would)."""
    while env is not None:
        if isinstance(env, VecVideoRecorder) and env.recording:
            env._stop_recording()  # SB3's own close() does this; training ends before the envs close
            return
        env = getattr(env, "venv", None)
