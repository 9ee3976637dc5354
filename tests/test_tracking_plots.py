"""Learning-curve PNGs from SB3-style CSV logs, including missing and empty ones."""

from __future__ import annotations

from pathlib import Path

from ray_lab.tracking.atomic import append_csv_row
from ray_lab.tracking.plots import plot_learning_curve, read_series

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVAL_FIELDS = ["round", "timesteps", "mean_return", "std_return"]


def write_progress(path: Path) -> None:
    """Like SB3's CSV logger: sorted columns, empty cells where a key was not recorded."""
    path.write_text(
        "rollout/ep_len_mean,rollout/ep_rew_mean,time/fps,time/total_timesteps,train/loss\n"
        ",,900,512,\n"
        "22.5,22.5,880,1024,0.9\n"
        "30.1,30.1,870,1536,\n"
        "41.0,41.0,860,2048,0.7\n"
    )


def write_evaluations(path: Path) -> None:
    for i, (steps, mean, std) in enumerate([(1024, 20.0, 3.0), (2048, 45.0, 5.5)], start=1):
        append_csv_row(path, {"round": i, "timesteps": steps, "mean_return": mean, "std_return": std}, EVAL_FIELDS)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp-")] == []


def test_read_series_skips_rows_without_values(tmp_path: Path) -> None:
    progress = tmp_path / "progress.csv"
    write_progress(progress)
    series = read_series(progress, "time/total_timesteps", "rollout/ep_rew_mean")
    assert series.x == [1024, 1536, 2048]
    assert series.y == [22.5, 30.1, 41.0]
    assert series.note is None
    evaluations = tmp_path / "evaluations.csv"
    write_evaluations(evaluations)
    assert read_series(evaluations, "timesteps", "mean_return", "std_return").std == [3.0, 5.5]


def test_plot_from_both_logs(tmp_path: Path) -> None:
    write_progress(tmp_path / "progress.csv")
    write_evaluations(tmp_path / "evaluations.csv")
    out = plot_learning_curve(
        tmp_path / "progress.csv",
        tmp_path / "evaluations.csv",
        tmp_path / "learning_curve.png",
        "PPO on CartPole-v1",
    )
    assert out == tmp_path / "learning_curve.png"
    assert_png(out)


def test_plot_without_evaluations_file(tmp_path: Path) -> None:
    write_progress(tmp_path / "progress.csv")
    missing = tmp_path / "evaluations.csv"
    assert read_series(missing, "timesteps", "mean_return").note == "evaluations.csv not found"
    assert_png(plot_learning_curve(tmp_path / "progress.csv", missing, tmp_path / "curve.png", "t"))


def test_plot_with_no_data_at_all(tmp_path: Path) -> None:
    empty = tmp_path / "progress.csv"
    empty.write_text("")
    header_only = tmp_path / "evaluations.csv"
    header_only.write_text("round,timesteps,mean_return,std_return\n")
    assert_png(plot_learning_curve(empty, header_only, tmp_path / "a.png", "empty"))
    assert_png(plot_learning_curve(None, None, tmp_path / "b.png", "nothing"))
