"""A sweep's result files: per-trial metrics, `results.csv`, the configuration ranking, `summary.md`, best YAML.

A trial is one training run (one run folder, see `RunLayout`); a configuration is one set of sampled
values of the swept keys, trained once per seed. Configurations are ranked by the mean over seeds.
Everything here reads run folders and writes files; nothing needs Ray.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.plots import csv_number
from ray_lab.tracking.run_dir import RunLayout

MODES = ("max", "min")
SCORES = ("best", "last")
FINISHED_STATUSES = frozenset({"TERMINATED", "STOPPED_EARLY"})
# Numeric columns of evaluations.csv (see ray_lab.evaluation.callback.EVALUATION_FIELDS).
EVAL_COLUMNS: tuple[str, ...] = ("round", "timesteps", "mean_return", "std_return", "mean_length", "std_length")
EVAL_COLUMNS += ("num_episodes", "wall_time_s", "success_rate")
# Names the SB3 logger uses where they differ from the CSV column.
_METRIC_ALIASES = {"eval/mean_ep_length": "mean_length", "eval/std_ep_length": "std_length"}


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a sweep: where its run folder is, what it was configured with, how it ended."""

    trial_id: str
    run_dir: Path
    values: dict[str, Any]
    seed: int | None
    status: str
    wall_time_s: float | None
    error: str | None = None


@dataclass(frozen=True)
class TrialMetrics:
    """One metric of one trial over its evaluation rounds; all None when there are no rounds."""

    trial_id: str
    column: str
    points: tuple[tuple[int, float], ...]  # (timesteps, value) per round that has a value
    rounds: int  # rows in evaluations.csv
    best: float | None
    best_timesteps: int | None
    last: float | None
    last_timesteps: int | None


@dataclass(frozen=True)
class ConfigRanking:
    """One configuration: its values, each trial's score (None: no score), and mean ± std over scored trials."""

    values: dict[str, Any]
    key: str  # canonical JSON of `values`
    trial_ids: tuple[str, ...]
    seeds: tuple[int | None, ...]
    statuses: tuple[str, ...]
    per_seed: tuple[float | None, ...]  # score of each trial, same order as `trial_ids`
    mean: float | None
    std: float | None  # population std (numpy's default, ddof=0): 0.0 for one seed
    n_finished: int
    score: str = "last"


def check_mode(mode: str) -> None:
    """Raise ValueError unless `mode` is "max" or "min"."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")


def metric_column(metric: str) -> str:
    """The evaluations.csv column of a metric as Tune sees it: `eval/mean_return` → `mean_return`.

    Raises:
        ValueError: the metric has no numeric column in evaluations.csv.
    """
    column = _METRIC_ALIASES.get(metric, metric.removeprefix("eval/"))
    if column not in EVAL_COLUMNS:
        known = [f"eval/{c}" for c in EVAL_COLUMNS] + list(_METRIC_ALIASES)
        raise ValueError(f"metric {metric!r} is not in evaluations.csv; known metrics: {known}")
    return column


def read_trial_metrics(record: TrialRecord, metric: str, mode: str = "max") -> TrialMetrics:
    """Best (by `mode`) and last value of `metric` in the trial's evaluations.csv, with their timesteps.

    A missing or empty file (a trial that failed before its first round) gives None values.
    Rows without a number for the metric (e.g. no success rate) are skipped.
    """
    check_mode(mode)
    column = metric_column(metric)
    path = RunLayout(record.run_dir).evaluations_csv
    points: list[tuple[int, float]] = []
    rounds = 0
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                rounds += 1
                steps, value = csv_number(row.get("timesteps")), csv_number(row.get(column))
                if steps is not None and value is not None:
                    points.append((int(steps), value))
    best = (max if mode == "max" else min)(points, key=lambda p: p[1], default=None)  # the first best round
    last = points[-1] if points else None
    best_steps, best_value = best if best is not None else (None, None)
    last_steps, last_value = last if last is not None else (None, None)
    return TrialMetrics(record.trial_id, column, tuple(points), rounds, best_value, best_steps, last_value, last_steps)


def plain(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and tuples as lists (JSON/YAML friendly)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    to_list = getattr(value, "tolist", None)  # numpy scalars and arrays
    return to_list() if callable(to_list) else value


def canonical_key(values: Mapping[str, Any]) -> str:
    """Canonical JSON of a configuration's values (sorted keys): equal configurations, equal keys."""
    return json.dumps(plain(values), sort_keys=True, separators=(",", ":"))


def _trial_wall_time(record: TrialRecord) -> float | None:
    """The record's wall time, else the one in the run's summary.json (when there is one)."""
    if record.wall_time_s is not None:
        return record.wall_time_s
    try:
        summary = json.loads(RunLayout(record.run_dir).summary_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = summary.get("wall_time_s") if isinstance(summary, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def swept_keys(records: Sequence[TrialRecord]) -> list[str]:
    """Every swept key of `records`, in order of first appearance."""
    return list(dict.fromkeys(key for record in records for key in record.values))


def _cell(value: Any) -> Any:
    value = plain(value)
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def write_results_csv(path: Path | str, records: Sequence[TrialRecord], metric: str, mode: str) -> list[dict[str, Any]]:
    """Write one row per trial to `path` (atomically) and return the rows.

    Columns: trial_id, status, seed, each swept key (dotted name; lists JSON-encoded),
    best_<metric>, last_<metric>, timesteps (of the last round), eval_rounds, wall_time_s, error.
    Metric values are rounded to 6 decimals, wall times to 3; unknown values are empty cells.
    """
    check_mode(mode)
    keys = swept_keys(records)
    fixed = ["trial_id", "status", "seed"]
    tail = [f"best_{metric}", f"last_{metric}", "timesteps", "eval_rounds", "wall_time_s", "error"]
    clash = sorted(set(keys) & set(fixed + tail))
    if clash:
        raise ValueError(f"swept keys {clash} clash with result columns {fixed + tail}")
    rows: list[dict[str, Any]] = []
    for record in records:
        metrics = read_trial_metrics(record, metric, mode)
        row: dict[str, Any] = {"trial_id": record.trial_id, "status": record.status, "seed": record.seed}
        row.update({key: _cell(record.values[key]) if key in record.values else None for key in keys})
        row[f"best_{metric}"] = _rounded(metrics.best, 6)
        row[f"last_{metric}"] = _rounded(metrics.last, 6)
        row["timesteps"] = metrics.last_timesteps
        row["eval_rounds"] = metrics.rounds
        row["wall_time_s"] = _rounded(_trial_wall_time(record), 3)
        row["error"] = record.error
        rows.append(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fixed + keys + tail, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return rows


def rank_configurations(
    records: Sequence[TrialRecord],
    metric: str,
    mode: str,
    score: Literal["best", "last"] = "last",
    *,
    statuses: Collection[str] = FINISHED_STATUSES,
) -> list[ConfigRanking]:
    """Group trials by configuration and rank by the mean over seeds of each trial's `score` value.

    A trial is scored when its status is in `statuses` and it has a value for the metric.
    Best first by `mode`; ties go to more scored trials; configurations without any scored
    trial come last, in the order they first appear.
    """
    check_mode(mode)
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
    groups: dict[str, list[tuple[TrialRecord, float | None]]] = {}
    for record in records:
        metrics = read_trial_metrics(record, metric, mode)
        value = metrics.best if score == "best" else metrics.last
        scored = value if record.status in statuses else None
        groups.setdefault(canonical_key(record.values), []).append((record, scored))
    rankings = [_ranking(key, sorted(group, key=_seed_order), score) for key, group in groups.items()]
    sign = -1.0 if mode == "max" else 1.0
    ranked = sorted((r for r in rankings if r.mean is not None), key=lambda r: (sign * (r.mean or 0.0), -r.n_finished))
    return ranked + [r for r in rankings if r.mean is None]


def _seed_order(item: tuple[TrialRecord, float | None]) -> tuple[bool, int, str]:
    record = item[0]
    return (record.seed is None, record.seed or 0, record.trial_id)


def _ranking(key: str, group: list[tuple[TrialRecord, float | None]], score: str) -> ConfigRanking:
    scores = [value for _, value in group if value is not None]
    return ConfigRanking(
        values=plain(group[0][0].values),
        key=key,
        trial_ids=tuple(record.trial_id for record, _ in group),
        seeds=tuple(record.seed for record, _ in group),
        statuses=tuple(record.status for record, _ in group),
        per_seed=tuple(value for _, value in group),
        mean=statistics.fmean(scores) if scores else None,
        std=statistics.pstdev(scores) if scores else None,
        n_finished=len(scores),
        score=score,
    )
