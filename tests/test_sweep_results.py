"""A sweep's result files from real trial folders: results.csv, the ranking, summary.md, best YAML, plots."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from ray_lab.evaluation.callback import EVALUATION_FIELDS
from ray_lab.learner.experiment import experiment_from_mapping
from ray_lab.tracking.atomic import append_csv_row
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.tune.plots import axis_kind, plot_metric_vs_params, plot_sweep_curves
from ray_lab.tune.report import (
    best_config_header,
    best_config_yaml,
    print_ranking,
    write_summary_md,
)
from ray_lab.tune.results import (
    EVAL_COLUMNS,
    TrialRecord,
    metric_column,
    rank_configurations,
    read_trial_metrics,
    write_results_csv,
)

REPO = Path(__file__).resolve().parents[1]
LR = "training.algorithm_parameters.learning_rate"
ARCH = "training.architecture.net_arch"
CONFIG_A = {LR: 1e-3, ARCH: [64, 64]}
CONFIG_B = {LR: 3e-4, ARCH: [32, 32]}
CONFIG_C = {LR: 3e-6, ARCH: [256, 256]}
# (timesteps, mean_return, mean_length) per round, for each seed of each configuration.
CURVES_A = {
    0: [(1000, 200.0, 90.0), (2000, 470.0, 60.0), (3000, 450.0, 55.0)],
    1: [(1000, 150.0, 80.0), (3000, 480.0, 40.0)],
    2: [(3000, 500.0, 45.0)],
}
CURVES_B = {
    0: [(1000, 100.0, 70.0), (3000, 300.0, 30.0)],
    1: [(1000, 120.0, 75.0), (3000, 350.0, 20.0)],
    2: [(1000, 400.0, 50.0), (3000, 200.0, 35.0)],  # best (400) is not last (200)
}


def write_trial(
    root: Path,
    trial_id: str,
    values: dict[str, Any],
    seed: int,
    rounds: list[tuple[int, float, float]],
    status: str = "TERMINATED",
    error: str | None = None,
) -> TrialRecord:
    """A run folder with a real evaluations.csv (one row per round, as the eval callback writes it)."""
    run_dir = root / trial_id
    run_dir.mkdir(parents=True)
    for index, (steps, mean_return, mean_length) in enumerate(rounds, start=1):
        row = {
            "round": index,
            "timesteps": steps,
            "mean_return": mean_return,
            "std_return": 5.0,
            "mean_length": mean_length,
            "std_length": 2.0,
            "num_episodes": 3,
            "seeds": "1000;1001;1002",
            "returns": ";".join(f"{mean_return + d:.6g}" for d in (-5.0, 0.0, 5.0)),
            "wall_time_s": round(1.5 * index, 3),
            "success_rate": "",
        }
        append_csv_row(RunLayout(run_dir).evaluations_csv, row, EVALUATION_FIELDS)
    return TrialRecord(trial_id, run_dir, dict(values), seed, status, 12.5 if rounds else None, error)


@pytest.fixture
def records(tmp_path: Path) -> list[TrialRecord]:
    """2 configurations x 3 seeds, plus a third configuration whose only trial errored before any round."""
    out = []
    for name, values, curves in (("a", CONFIG_A, CURVES_A), ("b", CONFIG_B, CURVES_B)):
        for seed, rounds in curves.items():
            out.append(write_trial(tmp_path / "runs", f"run_trial_{name}_{seed:05d}", values, seed, rounds))
    out.append(write_trial(tmp_path / "runs", "run_trial_c_00000", CONFIG_C, 0, [], "ERROR", "RuntimeError: boom"))
    return out


def last_returns(curves: dict[int, list[tuple[int, float, float]]], column: int = 1) -> list[float]:
    return [rounds[-1][column] for _, rounds in sorted(curves.items())]


def test_metric_columns_match_the_evaluation_callback() -> None:
    assert set(EVAL_COLUMNS) <= set(EVALUATION_FIELDS)
    assert metric_column("eval/mean_return") == "mean_return"
    assert metric_column("eval/success_rate") == "success_rate"
    assert metric_column("eval/mean_ep_length") == "mean_length"
    with pytest.raises(ValueError, match="eval/nope"):
        metric_column("eval/nope")


def test_read_trial_metrics_best_last_and_missing_csv(records: list[TrialRecord]) -> None:
    metrics = read_trial_metrics(records[0], "eval/mean_return")
    assert (metrics.best, metrics.best_timesteps, metrics.last, metrics.last_timesteps) == (470.0, 2000, 450.0, 3000)
    assert metrics.rounds == 3 and metrics.points[0] == (1000, 200.0)
    lengths = read_trial_metrics(records[0], "eval/mean_length", mode="min")
    assert (lengths.best, lengths.best_timesteps) == (55.0, 3000)
    errored = read_trial_metrics(records[-1], "eval/mean_return")
    assert (errored.best, errored.last, errored.last_timesteps) == (None, None, None)
    assert errored.rounds == 0 and errored.points == ()
    no_success = read_trial_metrics(records[0], "eval/success_rate")
    assert no_success.rounds == 3 and no_success.last is None
    with pytest.raises(ValueError, match="'best'"):
        read_trial_metrics(records[0], "eval/mean_return", mode="best")


def test_results_csv_one_row_per_trial(tmp_path: Path, records: list[TrialRecord]) -> None:
    summary = RunLayout(records[1].run_dir).summary_json
    summary.write_text(json.dumps({"wall_time_s": 42.25}))
    records[1] = replace(records[1], wall_time_s=None)
    path = tmp_path / "sweep" / "results.csv"
    rows = write_results_csv(path, records, "eval/mean_return", "max")
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        written = list(reader)
    assert reader.fieldnames == [
        *("trial_id", "status", "seed", LR, ARCH, "best_eval/mean_return", "last_eval/mean_return"),
        *("timesteps", "eval_rounds", "wall_time_s", "error"),
    ]
    assert len(rows) == len(written) == 7
    first = written[0]
    assert first["trial_id"] == "run_trial_a_00000" and first["status"] == "TERMINATED" and first["seed"] == "0"
    assert float(first[LR]) == 1e-3 and json.loads(first[ARCH]) == [64, 64]
    assert (first["best_eval/mean_return"], first["last_eval/mean_return"]) == ("470.0", "450.0")
    assert (first["timesteps"], first["eval_rounds"], first["wall_time_s"], first["error"]) == ("3000", "3", "12.5", "")
    assert written[1]["wall_time_s"] == "42.25"  # from summary.json
    errored = written[-1]
    assert errored["status"] == "ERROR" and errored["error"] == "RuntimeError: boom"
    assert errored["best_eval/mean_return"] == errored["timesteps"] == errored["wall_time_s"] == ""
    assert errored["eval_rounds"] == "0"
    assert [p.name for p in path.parent.iterdir()] == ["results.csv"]
    with pytest.raises(ValueError, match="'maximum'"):
        write_results_csv(path, records, "eval/mean_return", "maximum")


def test_rank_configurations_by_mean_over_seeds(records: list[TrialRecord]) -> None:
    rankings = rank_configurations(records, "eval/mean_return", "max")
    assert [r.values for r in rankings] == [CONFIG_A, CONFIG_B, CONFIG_C]
    best = rankings[0]
    expected = np.array(last_returns(CURVES_A))
    assert best.mean == pytest.approx(expected.mean()) and best.std == pytest.approx(expected.std())
    assert best.seeds == (0, 1, 2) and best.per_seed == (450.0, 480.0, 500.0) and best.n_finished == 3
    assert best.trial_ids == ("run_trial_a_00000", "run_trial_a_00001", "run_trial_a_00002")
    assert rankings[1].mean == pytest.approx(np.mean(last_returns(CURVES_B)))
    last = rankings[2]
    assert (last.mean, last.std, last.n_finished, last.statuses, last.per_seed) == (None, None, 0, ("ERROR",), (None,))

    by_best = rank_configurations(records, "eval/mean_return", "max", score="best")
    assert by_best[1].per_seed == (300.0, 350.0, 400.0) and by_best[1].score == "best"
    with pytest.raises(ValueError, match="'first'"):
        rank_configurations(records, "eval/mean_return", "max", score="first")  # type: ignore[arg-type]


def test_rank_configurations_min_mode(records: list[TrialRecord]) -> None:
    rankings = rank_configurations(records, "eval/mean_ep_length", "min")
    assert [r.values for r in rankings] == [CONFIG_B, CONFIG_A, CONFIG_C]  # shorter episodes first
    expected = np.array(last_returns(CURVES_B, column=2))
    assert rankings[0].mean == pytest.approx(expected.mean()) and rankings[0].std == pytest.approx(expected.std())
    best_min = rank_configurations(records, "eval/mean_ep_length", "min", score="best")
    assert best_min[0].per_seed == (30.0, 20.0, 35.0)


def test_unfinished_trials_are_not_scored(records: list[TrialRecord]) -> None:
    running = [replace(r, status="RUNNING") if r.seed == 2 else r for r in records]
    rankings = rank_configurations(running, "eval/mean_return", "max")
    assert rankings[0].n_finished == 2 and rankings[0].per_seed == (450.0, 480.0, None)
    everything = rank_configurations(running, "eval/mean_return", "max", statuses={"TERMINATED", "RUNNING"})
    assert everything[0].n_finished == 3


def test_summary_md_lists_best_first(tmp_path: Path, records: list[TrialRecord]) -> None:
    rankings = rank_configurations(records, "eval/mean_return", "max")
    path = tmp_path / "summary.md"
    write_summary_md(path, rankings, "eval/mean_return", "max", "cartpole-lr", extra_lines=["7 trials, 1 error"])
    text = path.read_text(encoding="utf-8")
    assert "# Sweep `cartpole-lr`" in text and "**eval/mean_return** (mode: max" in text and "7 trials, 1 error" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].split(" | ")[1:3] == [LR, ARCH]
    assert table[2].startswith("| 1 | 0.001 | [64, 64] | 476.67 ± 20.55 | 0: 450.00, 1: 480.00, 2: 500.00 | 3/3 |")
    assert table[3].startswith("| 2 | 0.0003 | [32, 32] |")
    assert table[4].startswith("| 3 | 3e-06 | [256, 256] | - | 0: ERROR | 0/1 | run_trial_c_00000 |")
    assert len(table) == 5


def test_print_ranking_shows_the_top_configurations(records: list[TrialRecord]) -> None:
    rankings = rank_configurations(records, "eval/mean_return", "max")
    stream = io.StringIO()
    print_ranking(rankings, "eval/mean_return", "max", stream=stream, top=2)
    text = stream.getvalue()
    assert "Top 2 of 3 configurations" in text and LR in text
    assert text.index("476.67 ± 20.55") < text.index("[32, 32]") and "[256, 256]" not in text


def test_best_config_yaml_sets_nested_keys_and_validates(records: list[TrialRecord]) -> None:
    base = yaml.safe_load((REPO / "configs" / "cartpole_ppo.yaml").read_text(encoding="utf-8"))
    best = rank_configurations(records, "eval/mean_return", "max")[0]
    header = best_config_header("cartpole-lr", "eval/mean_return", "max", best)
    text = best_config_yaml(base, best, header)
    assert text.splitlines()[0] == (
        "# best configuration of sweep cartpole-lr: eval/mean_return 476.67 ± 20.55 over seeds [0, 1, 2] "
        "(last value per trial, mode max)"
    )
    data = yaml.safe_load(text)
    assert data["training"]["algorithm_parameters"]["learning_rate"] == 1e-3
    assert data["training"]["architecture"]["net_arch"] == [64, 64]
    assert data["training"]["algorithm_parameters"]["n_steps"] == 32  # the rest of the base is kept
    assert base["training"]["algorithm_parameters"]["learning_rate"] == "lin_0.001"  # base not modified
    config = experiment_from_mapping(data, "best.yaml")
    assert config.training.algorithm_parameters["learning_rate"] == 1e-3
    assert list(config.training.architecture.net_arch or []) == [64, 64]


def test_best_config_yaml_creates_sections_and_refuses_values(records: list[TrialRecord]) -> None:
    best = rank_configurations(records, "eval/mean_return", "max")[0]
    data = yaml.safe_load(best_config_yaml({"experiment": {"name": "x"}}, best, "line one\nline two"))
    training = {"algorithm_parameters": {"learning_rate": 1e-3}, "architecture": {"net_arch": [64, 64]}}
    assert data == {"experiment": {"name": "x"}, "training": training}
    with pytest.raises(ValueError, match="'training' is 'ppo', not a section"):
        best_config_yaml({"training": "ppo"}, best, "")


def assert_png(path: Path) -> None:
    assert path.stat().st_size > 5_000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp-")] == []


def test_plots(tmp_path: Path, records: list[TrialRecord]) -> None:
    rankings = rank_configurations(records, "eval/mean_return", "max")
    curves = plot_sweep_curves(tmp_path / "curves.png", records, "eval/mean_return", "max", set(rankings[0].trial_ids))
    assert_png(curves)
    params = plot_metric_vs_params(tmp_path / "params.png", rankings, "eval/mean_return", [LR, ARCH])
    assert_png(params)
    from_records = plot_metric_vs_params(tmp_path / "params_records.png", records, "eval/mean_return", [LR, ARCH])
    assert_png(from_records)
    empty = plot_sweep_curves(tmp_path / "empty.png", records[-1:], "eval/mean_return", "max", set())
    assert_png(empty)


def test_axis_kind() -> None:
    assert axis_kind([1e-5, 3e-4, 1e-2]) == "log"
    assert axis_kind([1e-3, 3e-4]) == "linear"
    assert axis_kind([0.0, 1.0, 1000.0]) == "linear"
    assert axis_kind(["Tanh", "ReLU"]) == axis_kind([True, False]) == axis_kind([[64, 64]]) == "categorical"


@pytest.mark.parametrize("spec", sorted((Path(__file__).resolve().parents[1] / "configs" / "sweeps").glob("*.yaml")))
def test_example_sweep_specs_load(spec: Path) -> None:
    from ray_lab.tune.load import load_sweep

    loaded = load_sweep(spec)
    assert loaded.spec.space and loaded.sample.loop.eval.num_evals >= 2
