"""What a training starts before its heavy imports (torch, Stable-Baselines3): env workers and W&B.

Both take seconds to come up. The learner starts them first, in the background, and imports torch
meanwhile, so that the three overlap (see ``docs/benchmarks.md``, start-up). Nothing here imports
Stable-Baselines3 or torch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.plan import TrainingPlan, train_env_factories
from ray_lab.tracking.run_dir import RunLayout, ensure_run_id
from ray_lab.tracking.wandb_sink import NullSink, Sink, WandbSink
from ray_lab.workers.launch import LaunchedWorkers, launch_workers

__all__ = ["in_background", "launch_train_workers", "open_sink", "warm_learner_imports"]

T = TypeVar("T")


def in_background(work: Callable[..., T], *args: Any) -> Future[T]:
    """``work(*args)`` on a thread of its own; the future holds its result or its exception."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ray-lab-{getattr(work, '__name__', 'work')}")
    future = pool.submit(work, *args)
    pool.shutdown(wait=False)
    return future


def launch_train_workers(
    config: ExperimentConfig, plan: TrainingPlan, placement_group: Any, layout: RunLayout
) -> LaunchedWorkers:
    """Start the plan's train workers without waiting for them."""
    return launch_workers(train_env_factories(config, plan, layout), plan.train.placed(placement_group))


def open_sink(config: ExperimentConfig, layout: RunLayout) -> Sink:
    """W&B when `use_wandb` is on (offline without an API key), else a sink that drops everything.

    The W&B run id is the run folder's (`run.json`): a resumed run folder continues its W&B run.
    """
    if not config.training.use_wandb or config.tracking.mode == "disabled":
        return NullSink()
    t = config.tracking
    return WandbSink(
        project=t.project,
        entity=t.entity,
        group=t.group or config.environment.name,
        run_name=layout.root.name,
        mode=t.mode,
        tags=list(t.tags),
        config=config.model_dump(mode="json"),
        run_dir=layout.root,
        sync_tensorboard=True,
        tensorboard_dir=layout.tensorboard_dir,
        run_id=ensure_run_id(layout),
    )


def warm_learner_imports(config: ExperimentConfig) -> None:
    """Import what the in-process learner will need (seconds), while Ray's daemons start.

    Beyond torch, the algorithm's module and the training loop, the first torch optimizer imports
    ``torch._dynamo`` (about 2 s on 2 cores; ``torch.optim.Optimizer.__init__`` is wrapped by
    ``torch._disable_dynamo``).
    """
    import torch._dynamo  # noqa: F401  (imported for their side effect: the module cache)

    import ray_lab.learner.run  # noqa: F401
    from ray_lab.learner.algorithms import resolve_algorithm

    resolve_algorithm(config.training.algorithm)
