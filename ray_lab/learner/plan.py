"""How many env workers a training has and how they are configured: light, importable by the driver.

Nothing here imports Stable-Baselines3 or torch, so the CLI and the placement code can plan a
training without paying for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.workers import WorkerOptions


def num_eval_envs(config: ExperimentConfig) -> int:
    """Eval envs: enough for one batch of episodes, at most what the eval workers hold."""
    w = config.workers
    return min(config.loop.eval.num_episodes, w.eval_workers * w.eval_envs_per_worker)


def worker_options(config: ExperimentConfig, role: str, placement_group: Any, bundle_offset: int) -> WorkerOptions:
    """WorkerOptions for the train or eval workers, placed in `placement_group` from `bundle_offset`."""
    w = config.workers
    envs_per_worker = w.envs_per_worker if role == "train" else w.eval_envs_per_worker
    return WorkerOptions(
        envs_per_worker=envs_per_worker,
        num_cpus=w.num_cpus,
        num_gpus=w.num_gpus,
        resources=dict(w.resources),
        step_timeout_s=config.worker_step_timeout_s(envs_per_worker),
        max_restarts=w.max_restarts,
        env_concurrency=w.env_concurrency,
        # Eval workers step in short bursts between long idle stretches: a compiled graph would
        # busy-poll a core each while they wait (see docs/benchmarks.md, "Idle workers").
        transport="auto" if role == "eval" and w.transport == "compiled" else w.transport,
        placement_group=placement_group,
        bundle_offset=bundle_offset,
        name=role,
    )


def num_train_workers(config: ExperimentConfig) -> int:
    """Train worker actors (each owns `envs_per_worker` envs)."""
    return config.workers.num_workers


def num_eval_workers(config: ExperimentConfig) -> int:
    """Eval worker actors actually needed for `num_eval_envs` envs (0 when there are no rounds)."""
    if config.loop.eval.num_evals == 0:
        return 0
    return math.ceil(num_eval_envs(config) / config.workers.eval_envs_per_worker)


def train_env_factories(config: ExperimentConfig, layout: RunLayout) -> list[Callable[[], gym.Env]]:
    """One factory per training env; simulator players log into the run's `unity/` folder."""
    env = config.environment
    return make_env_factories(
        env,
        config.num_envs,
        render_mode="rgb_array" if env.video_wrapper else env.render_mode,
        envs_per_worker=config.workers.envs_per_worker,
        log_dir=str(layout.unity_dir),
        run_name=layout.root.name,
    )
