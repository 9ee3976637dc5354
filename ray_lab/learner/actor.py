"""The learner as a Ray actor in bundle 0 of the training's placement group, and the driver side of it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.placement import learner_gpus, reserve
from ray_lab.learner.plan import launch_train_workers
from ray_lab.learner.summary import ProgressState, RunSummary
from ray_lab.tracking.progress import TrainingProgress
from ray_lab.tracking.run_dir import RunLayout

POLL_INTERVAL_S = 0.5


class LearnerActor:
    """Runs `ray_lab.learner.run.train` on its node; answers progress polls while it trains.

    This module imports neither Stable-Baselines3 nor torch: `train` starts the env workers first and
    imports them while the workers start (seconds of start-up on a small machine).
    """

    def __init__(self, num_threads: int) -> None:
        self.num_threads = max(1, num_threads)
        self.state = ProgressState()
        self.stop = threading.Event()

    def train(
        self,
        config: ExperimentConfig,
        run_dir: str,
        placement_group: PlacementGroup,
        device: str,
        pretrained: str | None,
        started_at: float | None = None,
    ) -> RunSummary:
        """Train; returns the run summary (exceptions travel back to the driver)."""
        launched = launch_train_workers(config, placement_group, RunLayout(Path(run_dir)))
        import torch

        from ray_lab.learner.run import train

        torch.set_num_threads(self.num_threads)
        return train(
            config,
            Path(run_dir),
            placement_group,
            device,
            Path(pretrained) if pretrained else None,
            self.state,
            self.stop,
            started_at=started_at,
            launched=launched,
        )

    def progress(self) -> dict[str, Any]:
        """A snapshot of the progress state."""
        return self.state.snapshot()

    def request_stop(self) -> None:
        """Stop after the current step; the model is still saved."""
        self.stop.set()

    def node(self) -> dict[str, Any]:
        """Where the learner runs: node IP and the GPUs Ray gave it."""
        context = ray.get_runtime_context()
        return {
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "gpu_ids": ray.get_gpu_ids(),
            "pid": os.getpid(),
        }


def _resolve_device(config: ExperimentConfig, gpus: float) -> str:
    device = config.loop.device
    if device == "auto":
        return "cuda" if gpus > 0 else "cpu"
    return device


def start_learner(config: ExperimentConfig) -> tuple[Any, PlacementGroup, str]:
    """Reserve the placement group and start the learner actor in its bundle 0."""
    gpus = learner_gpus(config, float(ray.cluster_resources().get("GPU", 0.0)))
    group = reserve(config, gpus)
    actor_cls = ray.remote(LearnerActor)
    actor = actor_cls.options(  # type: ignore[attr-defined]
        num_cpus=config.learner.num_cpus,
        num_gpus=gpus,
        resources=dict(config.learner.resources) or None,
        max_concurrency=4,
        scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=0),
    ).remote(int(config.learner.num_cpus))
    return actor, group, _resolve_device(config, gpus)


def _follow(actor: Any, done_ref: Any, total: int) -> None:
    """Show progress until `done_ref` is ready."""
    with TrainingProgress(total) as bar:
        while True:
            ready, _ = ray.wait([done_ref], timeout=POLL_INTERVAL_S)
            snap = ray.get(actor.progress.remote())
            bar.update(int(snap["timesteps"]), snap["train_return"], snap["eval_return"])
            if ready:
                return


def run_training(
    config: ExperimentConfig, run_dir: Path, pretrained: Path | None, started_at: float | None = None
) -> RunSummary:
    """Driver side: place the learner, follow its progress, and stop it cleanly on Ctrl-C.

    ``started_at``: wall-clock start of the user's command, for the start-up time in the summary.
    """
    actor, group, device = start_learner(config)
    try:
        pretrained_arg = str(pretrained) if pretrained else None
        done = actor.train.remote(config, str(run_dir), group, device, pretrained_arg, started_at)
        try:
            _follow(actor, done, config.loop.total_timesteps)
        except KeyboardInterrupt:
            print("\nInterrupted: stopping after the current step and saving the model (Ctrl-C again to abort).")
            actor.request_stop.remote()
            time.sleep(0.1)
        return ray.get(done)
    finally:
        ray.kill(actor)
        remove_placement_group(group)
