"""Run folders never collide; the layout and `find_model` resolve the standard files."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

import pytest

from ray_lab.tracking.run_dir import (
    RunLayout,
    create_run_dir,
    ensure_run_id,
    find_model,
    prepare_run,
    runs_parent,
    sanitize_component,
    trial_run_dir,
)

NOW = datetime(2026, 1, 2, 3, 4, 5)


def test_run_dir_path_and_sanitized_env_id(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path, "ALE/Pong-v5", "ppo", "pong", now=NOW)
    assert run == tmp_path / "ALE-Pong-v5" / "ppo" / "pong_20260102-030405"
    assert run.is_dir()
    other = create_run_dir(tmp_path, "ray_lab/Sleep-v0", "sac", "sleep", now=NOW)
    assert other.relative_to(tmp_path).parts == ("ray_lab-Sleep-v0", "sac", "sleep_20260102-030405")


def test_same_name_in_the_same_second_gets_a_suffix(tmp_path: Path) -> None:
    first = create_run_dir(tmp_path, "CartPole-v1", "ppo", "exp", now=NOW)
    (first / "model.zip").write_bytes(b"keep me")
    second = create_run_dir(tmp_path, "CartPole-v1", "ppo", "exp", now=NOW)
    third = create_run_dir(tmp_path, "CartPole-v1", "ppo", "exp", now=NOW)
    assert [first.name, second.name, third.name] == [
        "exp_20260102-030405",
        "exp_20260102-030405_2",
        "exp_20260102-030405_3",
    ]
    assert (first / "model.zip").read_bytes() == b"keep me"
    assert list(second.iterdir()) == []


def test_concurrent_creation_gives_distinct_folders(tmp_path: Path) -> None:
    results: list[Path] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def make() -> None:
        barrier.wait()
        path = create_run_dir(tmp_path, "CartPole-v1", "ppo", "race", now=NOW)
        with lock:
            results.append(path)

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert len(set(results)) == 16
    assert all(path.is_dir() for path in results)


@pytest.mark.parametrize("bad", ["", "   ", "/", "..", "./."])
def test_empty_names_are_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="empty folder name"):
        create_run_dir(tmp_path, "CartPole-v1", "ppo", bad, now=NOW)


def test_sanitize_component() -> None:
    assert sanitize_component("ALE/Pong-v5") == "ALE-Pong-v5"
    assert sanitize_component("my run: 1") == "my-run--1"
    assert sanitize_component("../up") == "-up"
    assert sanitize_component("a\\b") == "a-b"


def test_layout_paths(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    assert layout.model_zip == tmp_path / "model.zip"
    assert layout.best_model_zip == tmp_path / "best_model.zip"
    assert layout.vecnormalize == tmp_path / "vecnormalize.pkl"
    assert layout.checkpoints_dir == tmp_path / "checkpoints"
    assert layout.evaluations_csv.name == "evaluations.csv"
    assert layout.progress_csv.name == "progress.csv"
    assert layout.tensorboard_dir.name == "tensorboard"
    assert layout.learning_curve_png.name == "learning_curve.png"
    assert layout.summary_json.name == "summary.json"
    assert layout.config_yaml.name == "config.yaml"
    assert RunLayout(str(tmp_path)).root == tmp_path  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        layout.root = tmp_path  # type: ignore[misc]


def test_find_model_prefers_model_then_best_then_newest_checkpoint(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.checkpoints_dir.mkdir()
    for steps in (900, 10_000, 2_000):
        (layout.checkpoints_dir / f"model_{steps}_steps.zip").write_bytes(b"c")
    (layout.checkpoints_dir / ".tmp-1-ab.model_99999_steps.zip").write_bytes(b"unfinished")
    # the oldest file on disk has the most timesteps: the number in the name decides
    os.utime(layout.checkpoints_dir / "model_10000_steps.zip", (1, 1))
    assert find_model(tmp_path) == layout.checkpoints_dir / "model_10000_steps.zip"
    layout.best_model_zip.write_bytes(b"b")
    assert find_model(tmp_path) == layout.best_model_zip
    layout.model_zip.write_bytes(b"m")
    assert find_model(tmp_path) == layout.model_zip
    assert find_model(layout.best_model_zip) == layout.best_model_zip


def test_find_model_errors_say_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.zip, best_model\.zip, checkpoints/\*\.zip"):
        find_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_model(tmp_path / "nope")
    config = tmp_path / "config.yaml"
    config.write_text("a: 1")
    with pytest.raises(FileNotFoundError, match=r"expected a \.zip"):
        find_model(config)


def test_train_play_and_sweeps_agree_on_a_module_prefixed_env_s_run_folder(tmp_path: Path) -> None:
    """`module:EnvId` envs: the run folder is named by the env id alone, and `play` finds it by name."""
    from ray_lab.cli.play_source import resolve_run_dir
    from ray_lab.learner.experiment import load_experiment

    config_path = tmp_path / "c.yaml"
    config_path.write_text(
        "environment: {id: 'gymnasium.envs.classic_control:CartPole-v1'}\n"
        f"experiment: {{name: prefixed, output_dir: {tmp_path / 'out'}}}\n"
    )
    config = load_experiment(config_path)
    layout = prepare_run(config)
    assert layout.root.parent == runs_parent(tmp_path / "out", "CartPole-v1", config.training.algorithm)
    assert layout.config_yaml.is_file() and layout.run_json.is_file()
    run_id = ensure_run_id(layout)
    config.play.experiment = layout.root.name
    assert resolve_run_dir(config, str(config_path)) == str(layout.root)
    again = prepare_run(config, layout.root)  # a resume or a Tune retry reuses the folder and its W&B run
    assert again.root == layout.root and ensure_run_id(again) == run_id
    trial = prepare_run(config, trial_run_dir(tmp_path / "sweep", "trial_00001"))
    assert trial.root == tmp_path / "sweep" / "trials" / "trial_00001" and trial.config_yaml.is_file()


def test_named_models_and_checkpoints_resolve_in_a_run_folder(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.checkpoints_dir.mkdir()
    for path in (layout.model_zip, layout.checkpoint_zip(2048), layout.checkpoint_zip(4096, at_failure=True)):
        path.write_bytes(b"zip")
    assert layout.named_model(None) == layout.model_zip
    assert layout.named_model("model_2048_steps.zip") == layout.checkpoint_zip(2048)
    assert layout.named_model("best_model") is None
    assert layout.model_names() == ["model", "model_2048_steps", "model_4096_steps_at_failure"]
