"""One sweep trial: a whole ray-lab training inside a Tune trial, reporting every evaluation round with a checkpoint.

The trial runs in bundle 0 of its own placement group (the learner bundle); its env workers take the
bundles after it, exactly as in `ray-lab train`. Every evaluation round reports `eval/*` metrics and
a checkpoint (model, VecNormalize statistics, the replay buffer unless switched off, RNG states; the
timestep counter is in the model), so ASHA/PBT act on seeded evaluation returns and a retried trial
goes on from there. A retry, `sweep --resume` and a PBT exploit restore it exactly as
`ray-lab train --resume` does (:func:`ray_lab.learner.resume.restore_run_state`) into the same trial
folder: `progress.csv` and `evaluations.csv` go on, round numbers and the best score too.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from ray_lab.config.schema import ExperimentConfig
from ray_lab.evaluation.seeded import EpisodeResults
from ray_lab.learner.callbacks import ProgressState
from ray_lab.learner.plan import plan_training
from ray_lab.learner.resume import save_checkpoint
from ray_lab.learner.run import train
from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.run_dir import prepare_run, trial_run_dir
from ray_lab.tune.space import SEED_KEY, decode_values, derive_trial
from ray_lab.tune.spec import SweepSpec

__all__ = ["CHECKPOINT_MODEL", "RUN_DIR_LINK", "TRIAL_INFO", "SweepContext", "run_trial"]

CHECKPOINT_MODEL = "model.zip"
CHECKPOINT_META = "meta.json"
RUN_DIR_LINK = "ray_lab_run_dir.txt"  # in Tune's trial folder: where the trial's run folder is
TRIAL_INFO = "trial.json"
REPEAT_INDEX_KEY = "__trial_index__"  # set by Tune's Repeater (Optuna with seeds)


@dataclass(frozen=True)
class SweepContext:
    """What every trial needs besides its sampled values (plain data, shipped once via the object store)."""

    spec: SweepSpec
    checked: ExperimentConfig
    spec_source: str
    sweep_dir: str
    learner_gpus: float


def trial_seed(spec: SweepSpec, params: dict[str, Any]) -> int | None:
    """The training seed of a trial: from the seed grid, or `seeds[repeat index]` under Optuna's Repeater."""
    if SEED_KEY in params:
        return int(params[SEED_KEY])
    if REPEAT_INDEX_KEY in params and spec.seeds:
        return spec.seeds[int(params[REPEAT_INDEX_KEY]) % len(spec.seeds)]
    return spec.seeds[0] if spec.seeds else None


def _trial_setup(context: SweepContext, params: dict[str, Any], trial_name: str) -> tuple[ExperimentConfig, Path]:
    """The trial's typed config and its run folder (kept across retries) with config.yaml and trial.json."""
    values = decode_values(context.spec, params)
    seed = trial_seed(context.spec, params)
    group = context.checked.tracking.group or Path(context.sweep_dir).name
    named = {"experiment.name": trial_name, "tracking.group": group}
    config = derive_trial(context.checked, {**values, **named}, seed, context.spec_source)
    run_dir = prepare_run(config, trial_run_dir(context.sweep_dir, trial_name)).root
    import ray

    node = ray.get_runtime_context().get_node_id()
    info = {"trial": trial_name, "values": values, "seed": seed, "pid": os.getpid(), "host": socket.gethostname()}
    info["node_id"] = node
    previous = run_dir / TRIAL_INFO
    if previous.is_file():  # a retry: keep the record of earlier resumes
        info["resumed_from_timesteps"] = json.loads(previous.read_text()).get("resumed_from_timesteps", [])
    atomic_write_text(previous, json.dumps(info, indent=2))
    return config, run_dir


class RoundReporter:
    """The round hook of a trial: `tune.report` the round's metrics with a fresh checkpoint."""

    def __init__(self, with_replay_buffer: bool) -> None:
        self.with_replay_buffer = with_replay_buffer

    def __call__(self, model: BaseAlgorithm, timesteps: int, results: EpisodeResults) -> None:
        from ray import tune

        metrics: dict[str, Any] = {
            "timesteps": int(timesteps),
            "eval/mean_return": results.mean_return,
            "eval/std_return": results.std_return,
            "eval/mean_ep_length": results.mean_length,
        }
        if results.success_rate is not None:
            metrics["eval/success_rate"] = results.success_rate
        with tempfile.TemporaryDirectory(prefix="ray_lab_ckpt_") as folder:
            model_zip = Path(folder) / CHECKPOINT_MODEL
            # the evaluation counters are the trial folder's own (evaluations.csv), also after a PBT exploit
            save_checkpoint(model, model_zip, model.get_env(), replay_buffer=self.with_replay_buffer, history=None)
            atomic_write_text(Path(folder) / CHECKPOINT_META, json.dumps({"timesteps": int(timesteps)}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _note_resume(run_dir: Path, checkpoint_dir: Path) -> None:
    """Record in trial.json that this attempt resumed, and from which timestep."""
    meta = json.loads((checkpoint_dir / CHECKPOINT_META).read_text())
    info_path = run_dir / TRIAL_INFO
    info = json.loads(info_path.read_text())
    info["resumed_from_timesteps"] = [*info.get("resumed_from_timesteps", []), int(meta["timesteps"])]
    atomic_write_text(info_path, json.dumps(info, indent=2))
    print(f"[{run_dir.name}] resuming from the checkpoint at {meta['timesteps']} timesteps", flush=True)


def _with_replay_buffer(spec: SweepSpec, config: ExperimentConfig) -> bool:
    """The spec's `checkpoint.replay_buffer`, else the config's `training.training.checkpoint_replay_buffer`."""
    chosen = spec.checkpoint.replay_buffer
    return config.loop.checkpoint_replay_buffer if chosen is None else chosen


def run_trial(params: dict[str, Any], context: SweepContext) -> None:
    """Tune's function trainable: train one configuration (resuming from the trial's checkpoint if any)."""
    import ray
    import torch
    from ray import tune

    trial_name = tune.get_context().get_trial_name()
    config, run_dir = _trial_setup(context, params, trial_name)
    atomic_write_text(Path(tune.get_context().get_trial_dir()) / RUN_DIR_LINK, str(run_dir.resolve()))
    torch.set_num_threads(max(1, int(config.learner.num_cpus)))
    checkpoint = tune.get_checkpoint()
    resume_dir = Path(checkpoint.to_directory()) if checkpoint is not None else None
    if resume_dir is not None:
        _note_resume(run_dir, resume_dir)
    train(
        config,
        plan_training(config, context.learner_gpus),
        run_dir,
        ray.util.get_current_placement_group(),
        resume_dir / CHECKPOINT_MODEL if resume_dir is not None else None,
        ProgressState(),
        threading.Event(),
        resume=resume_dir is not None,
        round_hook=RoundReporter(_with_replay_buffer(context.spec, config)),
    )
