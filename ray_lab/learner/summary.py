"""What the learner reports to the driver: live progress and the final summary.

Plain data in a module that imports neither Stable-Baselines3 nor torch, so the driver reads both cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class RunSummary:
    """What a finished run reports back to the driver."""

    run_dir: str
    timesteps: int
    wall_time_s: float
    steps_per_s: float
    eval_rounds: int
    final_eval_return: float | None
    best_eval_return: float | None
    checkpoints: int
    stopped_early: bool
    wandb_url: str | None
    device: str
    env_restarts: int = 0
    worker_restarts: int = 0
    startup_s: float | None = None
    """Seconds from the command's start to the first env step (None when the caller gave no start time)."""


@dataclass
class ProgressState:
    """What the driver shows while the learner trains (plain data, safe to send over Ray)."""

    timesteps: int = 0
    total_timesteps: int = 0
    steps_per_s: float = 0.0
    train_return: float | None = None
    eval_return: float | None = None
    eval_rounds: int = 0
    checkpoints: int = 0
    env_restarts: int = 0
    worker_restarts: int = 0
    finished: bool = False
    first_step_at: float | None = None
    """Wall-clock time (``time.time()``) of the first vector step, for the start-up time."""

    def snapshot(self) -> dict[str, float | int | bool | None]:
        """A copy as a dict."""
        return asdict(self)
