"""Console output: progress lines off a terminal, the summary table, the printed config."""

from __future__ import annotations

import io

import pytest
import yaml

from ray_lab.tracking.console import print_config
from ray_lab.tracking.progress import TrainingProgress, format_duration, print_summary
from ray_lab.tracking.redact import REDACTED


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_non_tty_progress_prints_plain_lines_at_most_every_interval() -> None:
    out, clock = io.StringIO(), FakeClock()
    with TrainingProgress(2000, stream=out, plain_interval_s=10, clock=clock) as progress:
        assert progress.plain
        for t, steps in [(0, 0), (1, 100), (5, 500), (10, 1000), (12, 1200), (15, 1500)]:
            clock.now = 1000.0 + t
            progress.update(steps, train_return=None if t < 5 else 12.5, eval_return=None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # t=0, t=10, and the final state on exit
    assert lines[0].startswith("[training] 0/2,000 timesteps (0.0%) | starting | train return -")
    assert lines[1] == (
        "[training] 1,000/2,000 timesteps (50.0%) | 100 steps/s | train return 12.50 | eval return -"
        " | elapsed 0:00:10 | ETA 0:00:10"
    )
    assert lines[2].startswith("[training] 1,500/2,000 timesteps (75.0%)")
    assert "\x1b[" not in out.getvalue()


def test_rate_counts_from_the_first_steps_not_from_start_up() -> None:
    """Seconds of start-up (workers launching) at 0 timesteps do not drag the steps/s down."""
    clock = FakeClock()
    progress = TrainingProgress(10_000, stream=io.StringIO(), clock=clock)
    for t, steps in [(0, 0), (8, 0), (9, 0), (10, 500), (11, 1000)]:
        clock.now = 1000.0 + t
        progress.update(steps)
    assert progress.steps_per_s == 500.0
    assert progress.rate_text() == "500 steps/s"


def test_returns_keep_their_last_known_value() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = TrainingProgress(100, stream=out, clock=clock)
    progress.update(10, train_return=1.0, eval_return=2.0)
    progress.update(20, train_return=None, eval_return=None)
    assert (progress.train_return, progress.eval_return) == (1.0, 2.0)
    assert "ETA" in progress.line()


def test_live_bar_renders_without_errors() -> None:
    out = io.StringIO()
    with TrainingProgress(100, stream=out, plain=False) as progress:
        progress.update(50, 1.0, 2.0)
        progress.update(100, 1.5, None)
    assert "100/100" in out.getvalue()


def test_progress_validates_total() -> None:
    with pytest.raises(ValueError, match="got 0"):
        TrainingProgress(0)


def test_format_duration() -> None:
    assert format_duration(3725.9) == "1:02:05"
    assert format_duration(None) == "-"
    assert format_duration(float("nan")) == "-"


def test_print_summary_keeps_long_paths_on_one_line() -> None:
    out = io.StringIO()
    path = "/very/long/experiments/CartPole-v1/ppo/" + "x" * 120 + "_20260102-030405"
    print_summary([("run folder", path), ("W&B", "[offline] wandb sync dir")], title="ray-lab: done", stream=out)
    text = out.getvalue()
    assert "ray-lab: done" in text
    assert path in text
    assert "[offline] wandb sync dir" in text


def test_print_config_plain_is_the_yaml_with_secrets_redacted() -> None:
    out = io.StringIO()
    config = {"training": {"algorithm": "ppo", "learning_rate": 0.0003}, "tracking": {"api_key": "k" * 40}}
    print_config(config, title="ray-lab train: quickstart.yaml", stream=out)
    title, _, body = out.getvalue().partition("\n")
    assert title == "ray-lab train: quickstart.yaml"
    assert yaml.safe_load(body) == {
        "training": {"algorithm": "ppo", "learning_rate": 0.0003},
        "tracking": {"api_key": REDACTED},
    }
    assert list(yaml.safe_load(body)) == ["training", "tracking"]
