"""The W&B round trip (issue 10 item 8), with one short real training logged to an offline W&B run.

Model artifacts carry their VecNormalize statistics and the run's config; a model laid out as a
`wandb:` download restores its statistics; `ray-lab play` takes a bare `.zip`; training videos land
in the W&B run. The download itself needs a W&B server, which tests cannot reach: the tests start
from the files a download leaves (the artifact's own files, copied from the offline run).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_tracking_wandb import history_rows, wandb_records
from test_train_cli import CARTPOLE, ray_lab, run_folders

from ray_lab.cli.main import main
from ray_lab.cli.play_source import locate
from ray_lab.learner.build import build_local_env
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.pretrained import resolve_pretrained
from ray_lab.learner.run import VIDEO_KEY, prepare_model
from ray_lab.tracking.artifacts import load_vecnormalize_stats
from ray_lab.tracking.run_dir import RunLayout

TRAINING = [
    "training.training.total_timesteps=2048",
    "training.training.log_points=2",
    "training.training.eval.num_evals=1",
    "training.training.eval.num_episodes=2",
    "training.algorithm_parameters.n_epochs=2",
    "wrappers.vec_normalize.enabled=true",
    "environment.video_wrapper=true",
    "environment.video_trigger=64",
    "environment.video_length=16",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, ray_env_module: dict[str, str]) -> Path:
    """One short training with VecNormalize and training videos, logged to an offline W&B run."""
    work = tmp_path_factory.mktemp("roundtrip")
    env = dict(ray_env_module)
    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        env[var] = str(work / "wandb_home" / var.lower())
    env["NETRC"] = str(work / "no-netrc")
    args = ["train", "--config", str(CARTPOLE), "--set", f"experiment.output_dir={work / 'out'}"]
    for item in TRAINING:
        args += ["--set", item]
    result = ray_lab(args, env, work)
    assert result.returncode == 0, result.stderr[-4000:]
    (folder,) = run_folders(work / "out")
    return folder


def offline_run(run_dir: Path) -> Path:
    (local,) = [p for p in (run_dir / "wandb").glob("offline-run-*") if p.is_dir()]
    return local


def artifacts(run_dir: Path) -> list[Any]:
    (log,) = offline_run(run_dir).glob("*.wandb")
    return [r.artifact for r in wandb_records(log) if r.WhichOneof("record_type") == "artifact"]


def test_model_artifacts_carry_their_vecnormalize_statistics_and_the_config(trained: Path) -> None:
    logged = artifacts(trained)
    names = [a.name.removeprefix(f"{trained.name}-") for a in logged]
    assert sorted(names) == ["best", "checkpoint", "checkpoint", "model"], names
    for artifact in logged:
        entries = {e.path: Path(e.local_path) for e in artifact.manifest.contents}
        (model_zip,) = [path for path in entries if path.endswith(".zip")]
        stem = model_zip.removesuffix(".zip")
        assert set(entries) == {model_zip, f"{stem}_vecnormalize.pkl", "config.yaml"}, artifact.name
        stats = load_vecnormalize_stats(entries[f"{stem}_vecnormalize.pkl"])  # the artifact's own copy
        assert stats.obs_rms.count > 100
        assert entries["config.yaml"].read_text() == (trained / "config.yaml").read_text()
    zips = sorted(next(e.path for e in a.manifest.contents if e.path.endswith(".zip")) for a in logged)
    assert zips[:2] == ["best_model.zip", "model.zip"] and all(z.endswith("_steps.zip") for z in zips[2:])


def test_training_videos_land_in_the_offline_wandb_run(trained: Path) -> None:
    recorded = sorted(p.name for p in (trained / "videos").glob("train-*.mp4"))
    assert recorded
    (log,) = offline_run(trained).glob("*.wandb")
    rows = [row for row in history_rows(log) if f"{VIDEO_KEY}/path" in row]  # media items are nested keys
    # every clip, the one still recording when training ended too (cut there; trigger 64 starts one at the last step)
    assert rows and len(rows) == len(recorded), (recorded, rows)
    for row in rows:
        assert row[f"{VIDEO_KEY}/_type"] == "video-file" and row["global_step"] > 0
        uploaded = offline_run(trained) / "files" / row[f"{VIDEO_KEY}/path"]
        assert uploaded.is_file() and uploaded.stat().st_size == row[f"{VIDEO_KEY}/size"] > 0
    steps = [row["global_step"] for row in rows]
    assert steps == sorted(steps)


def _play(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["play", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_play_takes_a_bare_zip_with_its_statistics_and_config_beside_it(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("model.zip", "model_vecnormalize.pkl", "config.yaml"):
        shutil.copy2(trained / name, bare / name)
    with caplog.at_level(logging.WARNING):
        code, out, err = _play(["--run", str(bare / "model.zip"), "--episodes", "2", "--record"], capsys)
    assert code == 0, err
    assert "seed 1000" in out and "seed 1001" in out
    assert list((bare / "videos").glob("play_*.mp4"))  # beside the zip, not in the training's folder
    assert "VecNormalize" not in caplog.text

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy2(trained / "model.zip", alone / "model.zip")
    code, _, err = _play(["--run", str(alone / "model.zip"), "--episodes", "1"], capsys)
    assert code == 2
    assert "--config" in err and "no config.yaml found with" in err and str(alone / "model.zip") in err

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        code, out, err = _play(["--run", str(alone / "model.zip"), "--config", str(bare / "config.yaml")], capsys)
    assert code == 0, err
    assert "no VecNormalize statistics" in caplog.text and "model_vecnormalize.pkl" in caplog.text


def test_play_finds_the_run_config_of_a_checkpoint_and_refuses_unknown_paths(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = RunLayout(trained).latest_checkpoint()
    assert checkpoint is not None
    where = locate(str(checkpoint), tmp_path, "--run")
    assert where.model_zip == checkpoint and where.config_yaml == trained / "config.yaml" and where.home == trained

    code, _, err = _play(["--run", str(tmp_path / "nothing.zip")], capsys)
    assert code == 2 and "nothing.zip" in err and "does not exist" in err and "wandb:" in err
    code, _, err = _play(["--run", str(checkpoint), "--model", "best_model"], capsys)
    assert code == 2 and "--model" in err and "model file already" in err


def test_a_downloaded_model_artifact_restores_its_vecnormalize_statistics(trained: Path, tmp_path: Path) -> None:
    """Laid out as `resolve_wandb_model` leaves a downloaded artifact.

    That is `<cache>/<entity>/<project>/<run id>/<artifact>-<version>/`, holding the artifact's files.
    """
    (model_artifact,) = [a for a in artifacts(trained) if a.name == f"{trained.name}-model"]
    downloaded = tmp_path / "cache" / "me" / "ray-lab" / "abcd1234" / f"{trained.name}-model-v0"
    downloaded.mkdir(parents=True)
    for entry in model_artifact.manifest.contents:
        shutil.copy2(entry.local_path, downloaded / entry.path)

    model_zip = resolve_pretrained(str(downloaded / "model.zip"), "test", tmp_path / "cache")
    config = load_experiment(downloaded / "config.yaml")
    env = build_local_env(config)
    try:
        model, _ = prepare_model(config, RunLayout(tmp_path / "new_run"), env, "cpu", model_zip, resume=False)
        saved = load_vecnormalize_stats(downloaded / "model_vecnormalize.pkl")
        restored = model.get_vec_normalize_env()
        assert restored is not None and restored.obs_rms.count == saved.obs_rms.count > 100
        np.testing.assert_array_equal(restored.obs_rms.mean, saved.obs_rms.mean)
    finally:
        env.close()
