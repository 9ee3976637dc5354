"""`ray-lab train` and `ray-lab play` end to end, in real processes with their own local Ray."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "configs" / "cartpole_ppo.yaml"

SHORT = [
    "training.training.total_timesteps=2048",
    "training.training.log_points=2",
    "training.training.eval.num_evals=2",
    "training.training.eval.num_episodes=3",
    "training.algorithm_parameters.n_epochs=2",
    "workers.eval_envs_per_worker=2",
    "environment.video_wrapper=true",
    "environment.video_trigger=128",
    "environment.video_length=20",
]


def ray_lab(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode not in (0, 2):
        print(result.stdout[-4000:], result.stderr[-8000:])
    return result


def run_folders(out: Path) -> list[Path]:
    return sorted(p for p in (out / "CartPole-v1" / "ppo").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, ray_env_module: dict[str, str]) -> Path:
    """One short real training run; the tests below inspect, replay and continue it.

    The env is named with its module (`module:EnvId`, as for an env a user's package registers): the run
    folder is still `<output_dir>/CartPole-v1/ppo/<name>_<time>`, where `play` looks for it.
    """
    work = tmp_path_factory.mktemp("train")
    args = ["train", "--config", str(CARTPOLE), "--set", f"experiment.output_dir={work / 'out'}"]
    args += ["--set", "environment.id=gymnasium.envs.classic_control:CartPole-v1"]
    for item in SHORT:
        args += ["--set", item]
    result = ray_lab(args, ray_env_module, work)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "training finished" in result.stdout
    (folder,) = run_folders(work / "out")
    assert str(folder) in result.stdout
    return folder


def test_run_folder_holds_every_output(trained: Path) -> None:
    for name in ("config.yaml", "model.zip", "best_model.zip", "evaluations.csv", "progress.csv"):
        assert (trained / name).is_file(), name
    assert (trained / "learning_curve.png").stat().st_size > 1000
    assert len(list((trained / "checkpoints").glob("model_*_steps.zip"))) == 2
    assert any((trained / "tensorboard").rglob("events.out.tfevents.*"))
    assert list((trained / "videos").glob("*.mp4"))
    assert (trained / "wandb").is_dir()
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["timesteps"] >= 2048 and summary["eval_rounds"] == 2
    assert not list(trained.rglob("*.tmp*")), "temporary files left behind"


def test_evaluation_rounds_use_the_same_seeds(trained: Path) -> None:
    with (trained / "evaluations.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2
    assert {row["seeds"] for row in rows} == {"1000;1001;1002"}
    assert [int(r["timesteps"]) for r in rows] == sorted(int(r["timesteps"]) for r in rows)


def test_second_run_with_same_name_gets_a_new_folder(trained: Path, ray_env_module: dict[str, str]) -> None:
    out = trained.parents[2]
    args = [
        "train",
        "--config",
        str(trained / "config.yaml"),
        "--set",
        "training.training.total_timesteps=512",
    ]
    args += ["--set", "environment.video_wrapper=false", "--set", "training.training.eval.num_evals=1"]
    args += ["--set", f"training.pretrained_model={trained}"]
    result = ray_lab(args, ray_env_module, out.parent)
    assert result.returncode == 0, result.stderr[-4000:]
    folders = run_folders(out)
    assert len(folders) == 2 and trained in folders
    new = next(f for f in folders if f != trained)
    # continued from the pretrained model: its timestep counter goes on
    assert json.loads((new / "summary.json").read_text())["timesteps"] > 2048


def test_play_replays_the_run_and_records(trained: Path, ray_env_module: dict[str, str]) -> None:
    result = ray_lab(["play", "--run", str(trained), "--episodes", "2", "--record"], ray_env_module, trained)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "seed 1000" in result.stdout and "seed 1001" in result.stdout
    assert list((trained / "videos").glob("play_*.mp4"))


def test_play_finds_the_run_by_name_through_its_config(trained: Path, ray_env_module: dict[str, str]) -> None:
    """`ray-lab play --config X --set play.experiment=NAME`: the folder `train` made for a `module:EnvId` env."""
    args = ["play", "--config", str(trained / "config.yaml"), "--set", f"play.experiment={trained.name}"]
    result = ray_lab([*args, "--episodes", "1"], ray_env_module, trained)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "seed 1000" in result.stdout


def test_incompatible_pretrained_model_is_a_config_error(
    trained: Path, ray_env_module: dict[str, str], tmp_path: Path
) -> None:
    args = ["train", "--config", str(ROOT / "configs" / "pendulum_ppo.yaml")]
    args += [
        "--set",
        f"training.pretrained_model={trained / 'model.zip'}",
        "--set",
        f"experiment.output_dir={tmp_path}",
    ]
    result = ray_lab(args, ray_env_module, tmp_path)
    assert result.returncode == 2
    assert "training.pretrained_model" in result.stderr and "observation_space mismatch" in result.stderr
    assert not list(tmp_path.iterdir())


def test_missing_pretrained_model_is_a_config_error(ray_env_module: dict[str, str], tmp_path: Path) -> None:
    args = ["train", "--config", str(CARTPOLE), "--set", f"training.pretrained_model={tmp_path / 'gone.zip'}"]
    args += ["--set", f"experiment.output_dir={tmp_path / 'out'}"]
    result = ray_lab(args, ray_env_module, tmp_path)
    assert result.returncode == 2
    assert "training.pretrained_model" in result.stderr and "gone.zip" in result.stderr
    assert not (tmp_path / "out").exists()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def test_semantic_config_error_stops_the_ray_it_started(ray_env_module: dict[str, str], tmp_path: Path) -> None:
    """Ray starts while the config's semantic checks run; an error there exits 2 and leaves no Ray behind."""
    args = ["train", "--config", str(CARTPOLE), "--set", "training.algorithm_parameters.n_stepz=64"]
    args += ["--set", f"experiment.output_dir={tmp_path / 'out'}"]
    result = ray_lab(args, ray_env_module, tmp_path)
    assert result.returncode == 2, result.stderr[-4000:]
    assert "training.algorithm_parameters.n_stepz" in result.stderr and "n_steps" in result.stderr
    assert not (tmp_path / "out").exists()
    ray_temp = ray_env_module["RAY_LAB_RAY_TEMP_DIR"]
    deadline = time.monotonic() + 10
    while _processes_mentioning(ray_temp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(ray_temp) == []


@pytest.mark.parametrize(
    "signum, said",
    [
        (signal.SIGTERM, "Terminated (SIGTERM): stopping after the current step"),
        (signal.SIGINT, "Interrupted: stopping after the current step"),
    ],
    ids=["sigterm", "ctrl-c"],
)
def test_sigterm_and_ctrl_c_stop_and_save(
    ray_env_module: dict[str, str], tmp_path: Path, signum: signal.Signals, said: str
) -> None:
    """`ray job stop`, Kubernetes and Slurm send SIGTERM; users press Ctrl-C. Either way the training stops
    after the current step and saves the model and a checkpoint, within 30 s."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "ray_lab", "train", "--config", str(CARTPOLE)]
    for item in [f"experiment.output_dir={out}", "training.training.total_timesteps=10000000"]:
        args += ["--set", item]
    args += ["--set", "training.training.eval.num_evals=0", "--set", "training.training.log_points=0"]
    with (tmp_path / "log.txt").open("w") as log:
        proc = subprocess.Popen(args, env=ray_env_module, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while not list(out.rglob("progress.csv")) or _data_rows(next(out.rglob("progress.csv"))) < 2:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "log.txt").read_text()
                time.sleep(0.5)
            proc.send_signal(signum)
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = (tmp_path / "log.txt").read_text()
    assert code == 0, text[-4000:]
    assert said in text and "training failed" not in text
    (folder,) = run_folders(out)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["stopped_early"] is True and 0 < summary["timesteps"] < 10_000_000
    assert (folder / "model.zip").is_file()
    assert (folder / "checkpoints" / f"model_{summary['timesteps']}_steps.zip").is_file()
    deadline = time.monotonic() + 10
    while _processes_mentioning(ray_env_module["RAY_LAB_RAY_TEMP_DIR"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(ray_env_module["RAY_LAB_RAY_TEMP_DIR"]) == []


def _data_rows(csv_path: Path) -> int:
    return max(0, len(csv_path.read_text().splitlines()) - 1)


def test_a_second_ctrl_c_aborts_and_leaves_no_simulator_behind(ray_env_module: dict[str, str], tmp_path: Path) -> None:
    """Ctrl-C twice: the second aborts the save; the players (reference sims) and Ray end with the command."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "ray_lab", "train", "--config", str(ROOT / "configs" / "reference_nav_ppo.yaml")]
    for item in [
        f"experiment.output_dir={out}",
        "training.training.eval.num_evals=0",
        "training.training.log_points=0",
        "training.use_wandb=false",
        "workers.num_workers=1",
        "workers.envs_per_worker=2",
        "environment.unity.extra_args=[--light]",
    ]:
        args += ["--set", item]
    with (tmp_path / "log.txt").open("w") as log:
        proc = subprocess.Popen(args, env=ray_env_module, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while len(list(out.rglob("*.log"))) < 2 or not list(out.rglob("progress.csv")):
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "log.txt").read_text()
                time.sleep(0.5)
            players = [pid for pid in _processes_mentioning(str(out)) if pid != proc.pid]
            assert players, "no simulator process found while training"
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)  # impatient: abort instead of saving
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(out)) == [], (tmp_path / "log.txt").read_text()[-3000:]
    while _processes_mentioning(ray_env_module["RAY_LAB_RAY_TEMP_DIR"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(ray_env_module["RAY_LAB_RAY_TEMP_DIR"]) == []
