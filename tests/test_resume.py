"""`ray-lab train --resume`: a killed training goes on in its own folder with its history intact.

Real processes throughout: a training is killed with SIGKILL after its first checkpoint and resumed
with the CLI; off-policy checkpoints are inspected on disk.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stable_baselines3.common.logger import Logger

from ray_lab.evaluation.callback import read_eval_history
from ray_lab.learner.logger import AppendingCSVOutputFormat

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "configs" / "cartpole_ppo.yaml"
PENDULUM_SAC = ROOT / "configs" / "pendulum_sac.yaml"
TOTAL = 8192  # 4 checkpoints and 4 eval rounds, every 2048 steps (8 envs x n_steps 32 divide it)
KILLABLE = [
    f"training.training.total_timesteps={TOTAL}",
    "training.training.log_points=4",
    "training.training.eval.num_evals=4",
    "training.training.eval.num_episodes=2",
    "training.algorithm_parameters.n_epochs=5",
]


def _args(config: Path, out: Path, sets: list[str]) -> list[str]:
    args = [sys.executable, "-m", "ray_lab", "train", "--config", str(config), "--set", f"experiment.output_dir={out}"]
    for item in sets:
        args += ["--set", item]
    return args


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture
def second_ray_env(ray_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The resumed process gets a Ray temp dir of its own (the killed one's daemons may linger a moment)."""
    temp_dir = tempfile.mkdtemp(prefix="rl_r_", dir="/tmp")
    yield {**ray_env, "RAY_LAB_RAY_TEMP_DIR": temp_dir}
    shutil.rmtree(temp_dir, ignore_errors=True)


def _train_until_first_checkpoint(ray_env: dict[str, str], out: Path, log: Path) -> Path:
    """Start a training, SIGKILL it once its first checkpoint and eval round are on disk; its run folder."""
    with log.open("w") as stream:
        proc = subprocess.Popen(
            _args(CARTPOLE, out, KILLABLE), env=ray_env, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        while not list(out.rglob("checkpoints/model_*_steps.zip")):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the Ray daemons this training started
    (folder,) = (p.parent.parent for p in out.rglob("checkpoints/model_*_steps.zip"))
    return folder


def test_kill_9_then_resume_keeps_history_and_completes_the_budget(
    ray_env: dict[str, str], second_ray_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    folder = _train_until_first_checkpoint(ray_env, out, tmp_path / "first.log")
    assert not (folder / "summary.json").exists(), "the training finished before it was killed"
    progress_before = _rows(folder / "progress.csv")
    evals_before = _rows(folder / "evaluations.csv")
    assert progress_before and evals_before
    run_id = json.loads((folder / "run.json").read_text())["wandb_run_id"]

    args = [sys.executable, "-m", "ray_lab", "train", "--resume", str(folder)]
    result = subprocess.run(args, env=second_ray_env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert [p.parent for p in out.rglob("checkpoints")] == [folder]  # no new run folder

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["timesteps"] == TOTAL and summary["stopped_early"] is False
    evals = _rows(folder / "evaluations.csv")
    assert [int(r["round"]) for r in evals] == [1, 2, 3, 4]
    assert evals[: len(evals_before)] == evals_before
    assert summary["eval_rounds"] == 4
    assert summary["best_eval_return"] == pytest.approx(max(float(r["mean_return"]) for r in evals))

    progress = _rows(folder / "progress.csv")
    steps = [int(float(r["time/total_timesteps"])) for r in progress if r.get("time/total_timesteps")]
    steps_before = [int(float(r["time/total_timesteps"])) for r in progress_before if r.get("time/total_timesteps")]
    assert steps[: len(steps_before)] == steps_before and len(steps) > len(steps_before)
    assert max(steps) >= TOTAL

    assert json.loads((folder / "run.json").read_text())["wandb_run_id"] == run_id
    assert len(list((folder / "wandb").glob(f"offline-run-*-{run_id}"))) == 2  # both parts: one W&B run id
    assert list((folder / "checkpoints").glob("model_*_steps_resume.pkl"))


@pytest.mark.parametrize("keep_buffer", [True, False], ids=["default", "switched-off"])
def test_off_policy_checkpoints_hold_the_replay_buffer(
    ray_env: dict[str, str], tmp_path: Path, keep_buffer: bool
) -> None:
    sets = [
        "training.training.total_timesteps=300",
        "training.training.log_points=1",
        "training.training.eval.num_evals=0",
        "training.algorithm_parameters.learning_starts=100",
        "training.architecture.net_arch=[32, 32]",
        "training.use_wandb=false",
    ]
    if not keep_buffer:
        sets.append("training.training.checkpoint_replay_buffer=false")
    result = subprocess.run(
        _args(PENDULUM_SAC, tmp_path / "out", sets),
        env=ray_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    (checkpoints,) = (tmp_path / "out").rglob("checkpoints")
    assert (checkpoints / "model_300_steps.zip").is_file()
    assert (checkpoints / "model_300_steps_resume.pkl").is_file()
    assert (checkpoints / "model_300_steps_replay_buffer.pkl").is_file() is keep_buffer


def _bad_folders(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    started = tmp_path / "started"
    (started / "checkpoints").mkdir(parents=True)
    shutil.copy(CARTPOLE, started / "config.yaml")
    return {
        "missing": ([str(tmp_path / "gone")], "no such folder"),
        "not-a-run-folder": ([str(empty)], "not a run folder"),
        "no-checkpoint": ([str(started)], "no checkpoint in"),
        "with-config": ([str(started), "--config", str(CARTPOLE)], "cannot be combined"),
    }


@pytest.mark.parametrize("case", ["missing", "not-a-run-folder", "no-checkpoint", "with-config"])
def test_bad_resume_is_a_config_error(ray_env: dict[str, str], tmp_path: Path, case: str) -> None:
    extra, said = _bad_folders(tmp_path)[case]
    args = [sys.executable, "-m", "ray_lab", "train", "--resume", *extra]
    result = subprocess.run(args, env=ray_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert said in result.stderr and extra[0] in result.stderr and "--resume" in result.stderr


def test_progress_csv_is_continued_not_started_over(tmp_path: Path) -> None:
    path = tmp_path / "progress.csv"
    first = Logger(folder=str(tmp_path), output_formats=[AppendingCSVOutputFormat(str(path))])
    first.record("a", 1)
    first.dump(1)
    first.close()
    path.write_text(path.read_text() + "2")  # a row cut short by a kill -9
    second = Logger(folder=str(tmp_path), output_formats=[AppendingCSVOutputFormat(str(path))])
    second.record("a", 3)
    second.record("b", 4)  # a new column widens the earlier rows
    second.dump(3)
    second.close()
    assert path.read_text().splitlines() == ["a,b", "1,", "2,", "3,4"]


def test_eval_history_is_read_back_from_evaluations_csv(tmp_path: Path) -> None:
    path = tmp_path / "evaluations.csv"
    path.write_text("round,timesteps,mean_return\n1,100,5.0\n2,200,9.5\n3,300,7.0\n4,40")
    history = read_eval_history(path)
    # the cut row's round still counts: its number is never used again
    assert (history.rounds, history.best_mean_return, history.last_timesteps) == (4, 9.5, 300)
    assert read_eval_history(tmp_path / "none.csv").rounds == 0
