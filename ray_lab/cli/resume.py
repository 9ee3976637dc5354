"""`ray-lab train --resume RUN_DIR`: check the run folder before anything starts.

A resumed run uses the run folder's own `config.yaml` (the resolved config it started with), so
`--config` and `--set` are refused: a changed config would not match the checkpoint or the history
already in the folder. Every problem is a config error (exit code 2) naming the path and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ray_lab.config.errors import ConfigError
from ray_lab.tracking.run_dir import RunLayout

RESUME_KEY = "--resume"


@dataclass(frozen=True)
class ResumeTarget:
    """A run folder to continue: its config and the checkpoint training goes on from."""

    run_dir: Path
    config_yaml: Path
    checkpoint: Path


def _error(path: Path | str, message: str) -> ConfigError:
    return ConfigError.single(str(path), RESUME_KEY, message)


def _check_args(run_dir: str, config_path: str | None, overrides: Sequence[str]) -> None:
    if config_path is not None:
        raise _error(
            run_dir,
            f"--resume uses the run folder's own config.yaml; --config {config_path} cannot be combined with it "
            "(drop --config, or start a new run with --config)",
        )
    if overrides:
        raise _error(
            run_dir,
            f"--resume uses the run folder's own config.yaml; --set {' '.join(overrides)} cannot change it "
            "(drop --set, or start a new run from this one with --set training.pretrained_model=RUN_DIR)",
        )


def _check_not_finished(layout: RunLayout) -> None:
    if not layout.summary_json.is_file():
        return
    try:
        summary = json.loads(layout.summary_json.read_text())
    except (OSError, ValueError):
        return
    if isinstance(summary, dict) and not summary.get("stopped_early", True):
        raise _error(
            layout.root,
            f"this run finished its training ({summary.get('timesteps')} timesteps in summary.json); to train "
            f"further, start a new run: ray-lab train --config {layout.config_yaml} "
            f"--set training.pretrained_model={layout.root}",
        )


def check_resume(run_dir: str, config_path: str | None, overrides: Sequence[str]) -> ResumeTarget:
    """The run folder `run_dir` as a resume target.

    Raises:
        ConfigError: `--config`/`--set` given too, the folder is missing or is no run folder (no
            `config.yaml`), has no checkpoint in `checkpoints/`, or finished its training already.
    """
    _check_args(run_dir, config_path, overrides)
    layout = RunLayout(Path(run_dir).expanduser())
    if not layout.root.is_dir():
        raise _error(layout.root, "no such folder; pass the run folder printed as 'Run folder:' by ray-lab train")
    if not layout.config_yaml.is_file():
        raise _error(
            layout.root,
            f"not a run folder: {layout.config_yaml.name} is missing; pass a folder under "
            "experiments/<env id>/<algorithm>/ that ray-lab train created",
        )
    checkpoint = layout.latest_checkpoint()
    if checkpoint is None:
        raise _error(
            layout.root,
            f"no checkpoint in {layout.checkpoints_dir} to resume from (the run stopped before its first one); "
            f"start it again: ray-lab train --config {layout.config_yaml}",
        )
    _check_not_finished(layout)
    return ResumeTarget(layout.root.resolve(), layout.config_yaml, checkpoint)
