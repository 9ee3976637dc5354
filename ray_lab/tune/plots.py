"""Sweep plots: every trial's eval curve with the best configuration highlighted, and metric against each swept key.

Uses the Agg canvas directly (no pyplot, no display, safe in threads); PNGs are written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ray_lab.tracking.atomic import atomic_path
from ray_lab.tune.report import format_value
from ray_lab.tune.results import (
    ConfigRanking,
    TrialRecord,
    plain,
    rank_configurations,
    read_trial_metrics,
)

NO_DATA = "no evaluation rounds yet"
LOG_SPAN_DECADES = 2.0


def _save(figure: Figure, path: Path) -> Path:
    out = Path(path)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png")
    return out


def _no_data(axes: Axes, text: str = NO_DATA) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=13, color="dimgray")


def _short(values: dict[str, Any]) -> str:
    """`a.b.lr=0.001, a.net_arch=[64, 64]` → `lr=0.001, net_arch=[64, 64]` (last component of each key)."""
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={format_value(value)}" for key, value in values.items())


def plot_sweep_curves(
    path: Path,
    records: Sequence[TrialRecord],
    metric: str,
    mode: str,
    best_trial_ids: set[str],
    *,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Plot `metric` against timesteps for every trial; the trials in `best_trial_ids` are highlighted.

    Other trials are thin grey lines; trials without evaluation rounds are skipped (the figure
    says so when none has any). Returns `path`.
    """
    figure = Figure(figsize=(9.0, 5.0), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    drawn, highlighted, best_values = _draw_trials(axes, records, metric, mode, best_trial_ids)
    if drawn == 0:
        _no_data(axes)
    skipped = len(records) - drawn
    note = f"{drawn} trials plotted" + (f", {skipped} without evaluation rounds" if skipped else "")
    axes.text(0.99, 0.01, note, transform=axes.transAxes, ha="right", va="bottom", fontsize=8, color="dimgray")
    if highlighted:
        legend_title = "best configuration" + (f": {_short(best_values)}" if best_values else "")
        axes.legend(loc="best", fontsize=8, title=legend_title, title_fontsize=8)
    axes.set_title(title or f"{metric} per trial (mode {mode}); best configuration highlighted")
    axes.set_xlabel("timesteps")
    axes.set_ylabel(metric)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _draw_trials(
    axes: Axes, records: Sequence[TrialRecord], metric: str, mode: str, best_trial_ids: set[str]
) -> tuple[int, int, dict[str, Any] | None]:
    """One line per trial with evaluation rounds; (lines drawn, highlighted, the first best trial's values)."""
    colours = [f"C{i}" for i in range(10)]
    drawn = highlighted = 0
    best_values: dict[str, Any] | None = None
    for record in records:
        points = read_trial_metrics(record, metric, mode).points
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        drawn += 1
        if record.trial_id in best_trial_ids:
            label = record.trial_id if record.seed is None else f"{record.trial_id} (seed {record.seed})"
            colour = colours[highlighted % len(colours)]
            axes.plot(xs, ys, color=colour, linewidth=2.2, marker="o", markersize=3, zorder=3, label=label)
            highlighted += 1
            best_values = best_values or record.values
        else:
            axes.plot(xs, ys, color="0.55", linewidth=0.8, alpha=0.5, zorder=2)
    return drawn, highlighted, best_values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def axis_kind(values: Sequence[Any]) -> str:
    """`"log"` for positive numbers spanning more than 2 decades, `"linear"` for other numbers, else `"categorical"`."""
    if not values or not all(_is_number(v) for v in values):
        return "categorical"
    low, high = min(values), max(values)
    if low > 0 and math.log10(high / low) > LOG_SPAN_DECADES:
        return "log"
    return "linear"


def _as_rankings(items: Sequence[ConfigRanking] | Sequence[TrialRecord], metric: str) -> list[ConfigRanking]:
    rankings = [item for item in items if isinstance(item, ConfigRanking)]
    records = [item for item in items if isinstance(item, TrialRecord)]
    if records and rankings:
        raise ValueError("give either configuration rankings or trial records, not a mix of both")
    return rankings or rank_configurations(records, metric, "max", "last")


def _draw_parameter(axes: Axes, rankings: Sequence[ConfigRanking], key: str, ylabel: str) -> None:
    """Each scored trial's value at its configuration's `key` value, with the configuration means marked."""
    rows = [(plain(r.values[key]), r) for r in rankings if key in r.values and r.mean is not None]
    if not rows:
        _no_data(axes, "no finished trials yet")
    kind = axis_kind([value for value, _ in rows])
    categories = sorted({str(value) for value, _ in rows})
    for i, (value, ranking) in enumerate(rows):
        x = categories.index(str(value)) if kind == "categorical" else float(value)
        scores = [s for s in ranking.per_seed if s is not None]
        first = i == 0  # one legend entry each
        axes.scatter([x] * len(scores), scores, color="tab:blue", alpha=0.6, s=18, label="trial" if first else None)
        mean = sum(scores) / len(scores)
        axes.scatter([x], [mean], color="tab:red", marker="D", s=40, zorder=3, label="mean" if first else None)
    if kind == "log":
        axes.set_xscale("log")
    elif kind == "categorical" and categories:
        axes.set_xticks(range(len(categories)), categories, rotation=20 if len(categories) > 3 else 0, fontsize=8)
        axes.set_xlim(-0.5, len(categories) - 0.5)
    if rows:
        axes.legend(loc="best", fontsize=7)
    axes.set_title(key, fontsize=9)
    axes.set_ylabel(ylabel, fontsize=8)
    axes.grid(True, alpha=0.3)


def plot_metric_vs_params(
    path: Path,
    rankings_or_records: Sequence[ConfigRanking] | Sequence[TrialRecord],
    metric: str,
    space_keys: list[str],
    *,
    dpi: int = 120,
) -> Path:
    """One subplot per swept key: each trial's score (records: the last eval value) against the key's value.

    Positive numbers spanning more than 2 decades get a log x axis; strings, lists and bools are
    categories. The mean of each configuration is marked. Returns `path`.
    """
    rankings = _as_rankings(rankings_or_records, metric)
    count = max(1, len(space_keys))
    columns = min(3, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(4.6 * columns, 3.8 * rows), dpi=dpi)
    FigureCanvasAgg(figure)
    score = rankings[0].score if rankings else "last"
    for index in range(count):
        axes = figure.add_subplot(rows, columns, index + 1)
        if not space_keys:
            _no_data(axes, "no swept keys")
            continue
        _draw_parameter(axes, rankings, space_keys[index], f"{metric} ({score})")
    figure.suptitle(f"{metric} against the swept parameters ({score} value per trial)", fontsize=11)
    figure.tight_layout()
    return _save(figure, path)
