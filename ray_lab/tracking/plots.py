"""The learning curve of a run: train and eval return against timesteps, as a PNG."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ray_lab.tracking.atomic import atomic_path

TRAIN_X = "time/total_timesteps"
TRAIN_Y = "rollout/ep_rew_mean"
EVAL_X = "timesteps"
EVAL_MEAN = "mean_return"
EVAL_STD = "std_return"


@dataclass
class Series:
    """Points read from one CSV log, and why some may be missing."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    note: str | None = None


def csv_number(text: str | None) -> float | None:
    """A finite float from a CSV cell, or None for an empty or non-numeric cell."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_series(path: Path | None, x_column: str, y_column: str, std_column: str | None = None) -> Series:
    """Rows of `path` that have numbers in `x_column` and `y_column` (others are skipped).

    A missing or empty file, or one without those columns, gives an empty series with a note
    saying so. With `std_column`, a missing std counts as 0.
    """
    series = Series()
    if path is None:
        series.note = f"no file given for {y_column}"
        return series
    if not path.is_file():
        series.note = f"{path.name} not found"
        return series
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        columns = reader.fieldnames or []
        if x_column not in columns or y_column not in columns:
            series.note = f"{path.name} has no {x_column!r}/{y_column!r} columns yet"
            return series
        for row in reader:
            x, y = csv_number(row.get(x_column)), csv_number(row.get(y_column))
            if x is None or y is None:
                continue
            series.x.append(x)
            series.y.append(y)
            if std_column is not None:
                series.std.append(csv_number(row.get(std_column)) or 0.0)
    if not series.x:
        series.note = f"{path.name} has no {y_column!r} values yet"
    return series


def _draw(figure: Figure, train: Series, evaluation: Series, title: str) -> None:
    axes = figure.add_subplot(1, 1, 1)
    if train.x:
        marker = "." if len(train.x) < 20 else None  # a lone point still shows
        axes.plot(
            train.x,
            train.y,
            color="tab:blue",
            linewidth=1.5,
            marker=marker,
            label="train (rollout/ep_rew_mean)",
        )
    if evaluation.x:
        low = [m - s for m, s in zip(evaluation.y, evaluation.std, strict=True)]
        high = [m + s for m, s in zip(evaluation.y, evaluation.std, strict=True)]
        axes.fill_between(evaluation.x, low, high, color="tab:orange", alpha=0.25, label="eval ± std")
        axes.plot(evaluation.x, evaluation.y, color="tab:orange", marker="o", markersize=3, label="eval mean return")
    notes = [note for note in (train.note, evaluation.note) if note]
    if notes:
        axes.text(
            0.01,
            0.01,
            "\n".join(notes),
            transform=axes.transAxes,
            fontsize=8,
            color="dimgray",
            verticalalignment="bottom",
        )
    if not train.x and not evaluation.x:
        axes.text(0.5, 0.5, "no data yet", transform=axes.transAxes, ha="center", va="center", fontsize=14)
    else:
        axes.legend(loc="upper left", fontsize=8)
    axes.set_title(title)
    axes.set_xlabel("timesteps")
    axes.set_ylabel("episode return")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()


def plot_learning_curve(
    progress_csv: Path | None,
    evaluations_csv: Path | None,
    out_png: Path,
    title: str,
    *,
    size_inches: Sequence[float] = (8.0, 4.5),
    dpi: int = 120,
) -> Path:
    """Plot train return (from SB3's `progress.csv`) and eval mean return ± std (`evaluations.csv`).

    Either file may be missing or empty: what exists is plotted, with a note for what is not
    (a run without any data still gets a PNG that says so). Uses the Agg canvas directly (no
    pyplot, no display, safe in threads); the PNG is written atomically. Returns `out_png`.
    """
    train = read_series(progress_csv, TRAIN_X, TRAIN_Y)
    evaluation = read_series(evaluations_csv, EVAL_X, EVAL_MEAN, EVAL_STD)
    figure = Figure(figsize=(float(size_inches[0]), float(size_inches[1])), dpi=dpi)
    FigureCanvasAgg(figure)
    _draw(figure, train, evaluation, title)
    out = Path(out_png)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png")
    return out
