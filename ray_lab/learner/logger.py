"""SB3's logger with ray-lab's outputs: `progress.csv` and TensorBoard (which W&B syncs).

Every metric (`rollout/…`, `train/…`, `eval/…`, `time/…`, `workers/…`) goes through this one logger,
so the CSV, TensorBoard and W&B always hold the same names and steps (env timesteps).

`progress.csv` is appended to, never started over: a resumed run (`train --resume`, a Tune retry,
`sweep --resume`, a PBT exploit) adds its rows after the earlier ones.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import (
    CSVOutputFormat,
    HumanOutputFormat,
    KVWriter,
    Logger,
    TensorBoardOutputFormat,
    filter_excluded_keys,
)

from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.run_dir import RunLayout


class AppendingCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV output, but an existing file is continued (SB3 opens it with "w+" and starts it over).

    The existing header gives the columns. A metric seen for the first time widens the file as SB3
    does, but through a temp file and a rename, so a crash never leaves it truncated.
    """

    def __init__(self, filename: str) -> None:  # SB3's __init__ would truncate the file
        self.path = Path(filename)
        self.separator = ","
        self.quotechar = '"'
        self.keys: list[str] = _read_header(self.path)
        _end_with_newline(self.path)  # a row cut short by a kill -9 must not run into the next one
        self.file = self.path.open("a", encoding="utf-8")

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        """Append one row (widening the file first when it has new columns)."""
        extra = [key for key in filter_excluded_keys(key_values, key_excluded, "csv") if key not in self.keys]
        if extra:
            self._widen(extra)
        super().write(key_values, key_excluded, step)

    def _widen(self, extra: list[str]) -> None:
        self.file.close()
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.is_file() else []
        self.keys = [*self.keys, *extra]
        rows = [line + self.separator * len(extra) for line in lines[1:]]
        atomic_write_text(self.path, "\n".join([self.separator.join(self.keys), *rows]) + "\n")
        self.file = self.path.open("a", encoding="utf-8")


def _read_header(path: Path) -> list[str]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as file:
        header = file.readline().rstrip("\n")
    return header.split(",") if header else []


def _end_with_newline(path: Path) -> None:
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb+") as file:
            file.seek(-1, 2)
            if file.read(1) != b"\n":
                file.write(b"\n")


def build_logger(layout: RunLayout, verbose: int) -> Logger:
    """A logger appending to the run's `progress.csv`, writing TensorBoard events, and stdout at verbose 2."""
    layout.tensorboard_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[KVWriter] = [
        AppendingCSVOutputFormat(str(layout.progress_csv)),
        TensorBoardOutputFormat(str(layout.tensorboard_dir)),
    ]
    if verbose >= 2:
        outputs.append(HumanOutputFormat(sys.stdout))
    return Logger(folder=str(layout.root), output_formats=outputs)
