"""SB3's logger with ray-lab's outputs: `progress.csv` and TensorBoard (which W&B syncs).

Every metric (`rollout/…`, `train/…`, `eval/…`, `time/…`, `workers/…`) goes through this one logger,
so the CSV, TensorBoard and W&B always hold the same names and steps (env timesteps).
"""

from __future__ import annotations

import sys
from pathlib import Path

from stable_baselines3.common.logger import (
    CSVOutputFormat,
    HumanOutputFormat,
    KVWriter,
    Logger,
    TensorBoardOutputFormat,
)


def build_logger(run_dir: Path, tensorboard_dir: Path, verbose: int) -> Logger:
    """A logger writing `progress.csv` into `run_dir`, TensorBoard events, and stdout at verbose 2."""
    tensorboard_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[KVWriter] = [
        CSVOutputFormat(str(run_dir / "progress.csv")),
        TensorBoardOutputFormat(str(tensorboard_dir)),
    ]
    if verbose >= 2:
        outputs.append(HumanOutputFormat(sys.stdout))
    return Logger(folder=str(run_dir), output_formats=outputs)
