"""`ray-lab train`: validate the config, check the env and pretrained model, then train on Ray.

Order matters: everything that can be wrong with the config is found before a run folder exists,
so a bad config leaves nothing behind under `experiments/`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ray_lab.cli.errors import print_config_error
from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError
from ray_lab.config.loader import ParsedConfig
from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.experiment import check_experiment, parse_config, preflight
from ray_lab.tracking.run_dir import RunLayout, prepare_run

if TYPE_CHECKING:
    from ray_lab.cli.ray_connect import RayStart
    from ray_lab.learner.summary import RunSummary
    from ray_lab.tracking.wandb_sink import Sink

DEFAULT_CONFIG = "quickstart.yaml"
_IMPORTED_AT = time.time()


def default_config_path() -> Path:
    """The quick-start config bundled with the package."""
    return Path(str(resources.files("ray_lab.defaults").joinpath(DEFAULT_CONFIG)))


def _resume_preflight(config: ExperimentConfig, source: str) -> None:
    """A resumed run checks its env as a new one does; its checkpoint replaces any `pretrained_model`."""
    checked = config.model_copy(deep=True)
    checked.training.pretrained_model = None
    preflight(checked, source)


def check_before_launch(
    parsed: ParsedConfig, path: Path, checkpoint: Path | None = None
) -> tuple[ExperimentConfig, Path | None]:
    """What `train` checks before its run folder exists (`ray-lab check` too): the semantic checks, then the
    preflight (one env built here, the pretrained model resolved and checked; resuming, `checkpoint` replaces it).

    Returns the checked config and the model to start from (None for a fresh policy). Raises ConfigError.
    """
    config = check_experiment(parsed)
    if checkpoint is not None:
        _resume_preflight(config, str(path))
        return config, checkpoint
    return config, preflight(config, str(path))


def print_checked_config(config: ExperimentConfig, title: str) -> None:
    """The resolved config under `title`, with how the env count comes about (as `train` and `check` print it)."""
    from ray_lab.learner.plan import plan_training
    from ray_lab.tracking.console import print_config

    counts = plan_training(config, 0).train.count_envs()  # GPUs change the learner's device, not the counts
    print_config(config.model_dump(mode="json"), title=f"{title} ({counts})")


def run_train(config_path: str | None, overrides: Sequence[str], resume: str | None = None) -> int:
    """Train once, or continue the run folder `resume` in place; returns the exit code.

    ConfigError propagates (exit code 2 in `main`).
    """
    from ray_lab.cli.ray_connect import RayStart

    path, overrides, run_dir, checkpoint = _train_source(config_path, overrides, resume)
    parsed = parse_config(path, overrides)
    local = not os.environ.get("RAY_ADDRESS")  # a Ray of our own: the learner runs in this process
    ray_start = RayStart.begin()  # Ray's daemons come up (seconds) while the checks import SB3 and torch
    try:
        config, pretrained = check_before_launch(parsed, path, checkpoint)
    except ConfigError as exc:
        print_config_error(exc)  # at once: stopping the Ray that was starting takes seconds
        ray_start.abandon()
        return CONFIG_ERROR_EXIT_CODE
    except BaseException:
        ray_start.abandon()
        raise
    return _train_checked(config, path, pretrained, checkpoint, run_dir, local, ray_start)


def _train_source(
    config_path: str | None, overrides: Sequence[str], resume: str | None
) -> tuple[Path, Sequence[str], Path | None, Path | None]:
    """The config file and overrides to train with; resuming, the run folder's own, the folder and its checkpoint."""
    if resume is None:
        return (Path(config_path) if config_path else default_config_path()), overrides, None, None
    from ray_lab.cli.resume import check_resume

    target = check_resume(resume, config_path, overrides)
    return target.config_yaml, (), target.run_dir, target.checkpoint


def _train_checked(
    config: ExperimentConfig,
    path: Path,
    pretrained: Path | None,
    checkpoint: Path | None,
    run_dir: Path | None,
    local: bool,
    ray_start: RayStart,
) -> int:
    """Train the checked `config` (resuming from `checkpoint` in `run_dir` when given); returns the exit code."""
    from ray_lab.learner.actor import run_training
    from ray_lab.tracking.progress import print_summary

    title = f"ray-lab train --resume {run_dir} (from {checkpoint.name})" if checkpoint else f"ray-lab train: {path}"
    print_checked_config(config, title)
    run_dir, opening = _start(config, local, ray_start, run_dir)
    try:
        summary = run_training(
            config,
            run_dir,
            pretrained,
            started_at=command_started_at(),
            in_process=local,
            opening=opening,
            resume=checkpoint is not None,
        )
    except Exception as exc:
        return _report_failure(exc, run_dir)
    print_summary(_summary_rows(config, summary, run_dir), title="ray-lab: training finished")
    return 0


def _start(
    config: ExperimentConfig, local: bool, ray_start: RayStart, run_dir: Path | None = None
) -> tuple[Path, Future[Sink] | None]:
    """The run folder (a new one, or `run_dir` when resuming), then Ray. A local run opens W&B (seconds) and
    imports the learner's modules (seconds) while Ray finishes starting."""
    from ray_lab.cli.ray_connect import storage_warning
    from ray_lab.learner.startup import in_background, open_sink, warm_learner_imports

    layout = prepare_run(config, run_dir)  # config.yaml, and run.json: the W&B run id a later --resume continues
    run_dir = layout.root
    opening = in_background(open_sink, config, layout) if local else None
    try:
        if local:
            warm_learner_imports(config)
        print(ray_start.result())
    except BaseException:
        if opening is not None and opening.exception() is None:
            opening.result().finish(exit_code=1)
        raise
    warning = storage_warning(config.experiment.output_dir)
    if warning:
        print(warning, file=sys.stderr)
    print(f"Run folder: {run_dir}")
    return run_dir, opening


def _summary_rows(config: ExperimentConfig, summary: RunSummary, run_dir: Path) -> list[tuple[str, str]]:
    rows = [
        ("run folder", summary.run_dir),
        ("timesteps", f"{summary.timesteps:,}"),
        ("wall time", f"{summary.wall_time_s:.1f} s"),
        ("steps/s", f"{summary.steps_per_s:,.0f}"),
        ("start-up", "-" if summary.startup_s is None else f"{summary.startup_s:.1f} s to the first env step"),
        ("learner device", summary.device),
        ("eval rounds", str(summary.eval_rounds)),
        ("last eval return", _fmt(summary.final_eval_return)),
        ("best eval return", _fmt(summary.best_eval_return)),
        ("checkpoints", str(summary.checkpoints)),
        ("W&B", summary.wandb_url or ("offline: wandb sync " + str(run_dir / "wandb"))),
    ]
    if config.environment.unity is not None:
        rows.append(("simulator restarts", str(summary.env_restarts)))
    if summary.stopped_early:
        rows.append(("stopped early", "yes (interrupted); model.zip holds the model at that point"))
    return rows


def command_started_at() -> float:
    """When this process started (wall clock): the start of the user's command.

    Linux keeps the start in ``/proc/self/stat`` (clock ticks since boot); elsewhere, when this
    module was imported.
    """
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            uptime_s = float(uptime.read().split()[0])
        return time.time() - (uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _report_failure(exc: Exception, run_dir: Path) -> int:
    """Print why training failed (the worker's traceback when a worker failed); exit code 1."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ConfigError):
        raise cause from None
    print(f"ray-lab: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"ray-lab: the run folder keeps what was written so far: {run_dir}", file=sys.stderr)
    checkpoints = sorted(RunLayout(run_dir).checkpoints_dir.glob("*.zip"), key=lambda p: p.stat().st_mtime)
    if checkpoints:
        print(f"ray-lab: last checkpoint: {checkpoints[-1]}", file=sys.stderr)
        print(f"ray-lab: continue it with: ray-lab train --resume {run_dir}", file=sys.stderr)
    return 1
