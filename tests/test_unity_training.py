"""`ray-lab train` / `play` on `environment.unity` end to end: real CLI processes, real Ray, real simulators.

Two trainings run at the same time on one machine (one with crashes injected, one with hangs), each
on 2 env workers that each own a reference-simulator process and a bridge on a free port.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import ray

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
experiment:
  name: {name}
  output_dir: {out}
environment:
  unity:
    extra_args: {extra_args}
    step_timeout_s: 1.0
    connect_timeout_s: 30
    max_restarts: {max_restarts}
    max_restarts_per_minute: {max_restarts}
training:
  algorithm: ppo
  use_wandb: false
  algorithm_parameters:
    policy: MlpPolicy
    n_steps: 128
    batch_size: 128
    n_epochs: 1
  training:
    total_timesteps: {steps}
    device: cpu
    log_points: 2
    seed: 0
    eval:
      seed: 100
      num_episodes: 2
      num_evals: {num_evals}
workers:
  num_workers: 2
  envs_per_worker: 1
  eval_workers: 1
  eval_envs_per_worker: 1
learner:
  num_cpus: 0.5
"""


def write_config(path: Path, **values: object) -> Path:
    defaults: dict[str, object] = {"max_restarts": 5, "steps": 1024, "num_evals": 1, "extra_args": "[]"}
    path.write_text(CONFIG.format(**{**defaults, **values}))
    return path


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ray_lab", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: int = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if proc.returncode != 0:
        print(out[-3000:], err[-6000:])
    return proc.returncode, out, err


def the_run(out: Path) -> Path:
    (run,) = [p for p in (out / "ReferenceNav" / "ppo").iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def cluster_env(ray_session: None, ray_env_module: dict[str, str]) -> dict[str, str]:
    """Subprocess env that joins the session's local Ray (so two trainings share one cluster)."""
    return {**ray_env_module, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]) -> tuple[Path, Path]:
    """A crashing and a hanging training, started together; returns their run folders."""
    work = tmp_path_factory.mktemp("unity_runs")
    crash = write_config(
        work / "crash.yaml", name="crash", out=work / "out_crash", extra_args='["--crash-after-steps", "300"]'
    )
    hang = write_config(
        work / "hang.yaml", name="hang", out=work / "out_hang", extra_args='["--hang-after-steps", "400"]'
    )
    procs = [start(["train", "--config", str(path)], cluster_env, work) for path in (crash, hang)]
    results = [finish(proc) for proc in procs]
    for code, out, err in results:
        assert code == 0, err[-4000:]
        assert "training finished" in out and "simulator restarts" in out
    return the_run(work / "out_crash"), the_run(work / "out_hang")


def first_port(log: Path) -> int:
    match = re.search(r"connected to 127\.0\.0\.1:(\d+)", log.read_text())
    assert match is not None, log.read_text()[-2000:]
    return int(match.group(1))


def first_starts(run: Path) -> list[Path]:
    """The log of each player's first start (restarts write `<stem>.restart-<n>.log` beside it)."""
    return sorted(p for p in (run / "unity").glob("*.log") if ".restart-" not in p.name)


def all_starts(run: Path, stem: str) -> str:
    """Every start's log of one player, oldest first."""
    restarts = sorted((run / "unity").glob(f"{stem}.restart-*.log"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return "".join(p.read_text() for p in [run / "unity" / f"{stem}.log", *restarts])


def test_each_worker_logs_to_its_own_file_in_the_run_folder(two_runs: tuple[Path, Path]) -> None:
    for run in two_runs:
        assert [p.name for p in first_starts(run)] == ["eval_worker_0.log", "worker_0.log", "worker_1.log"]
        for restart in (run / "unity").glob("*.restart-*.log"):  # every restart kept its own log
            assert restart.name.split(".restart-")[0] in {"eval_worker_0", "worker_0", "worker_1"}


def test_concurrent_trainings_use_distinct_ports(two_runs: tuple[Path, Path]) -> None:
    ports = [first_port(log) for run in two_runs for log in first_starts(run)]
    assert len(ports) == 6 and len(set(ports)) == 6, ports


@pytest.mark.parametrize("which, fault", [(0, "crash injected"), (1, "hang injected")])
def test_faults_restart_players_and_are_counted(two_runs: tuple[Path, Path], which: int, fault: str) -> None:
    run = two_runs[which]
    for worker in (0, 1):
        assert fault in (run / "unity" / f"worker_{worker}.log").read_text()  # the first start's log survived
        log = all_starts(run, f"worker_{worker}")
        assert log.count(fault) >= 1 and log.count("connected to 127.0.0.1") >= 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["timesteps"] >= 1024 and summary["env_restarts"] >= 2
    with (run / "progress.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    restarts = [float(row["workers/env_restarts"]) for row in rows if row.get("workers/env_restarts")]
    assert restarts and restarts[-1] == summary["env_restarts"]


def test_play_records_the_simulator_camera(two_runs: tuple[Path, Path], cluster_env: dict[str, str]) -> None:
    run = two_runs[0]
    proc = start(["play", "--run", str(run), "--episodes", "1", "--record"], cluster_env, run)
    code, _out, err = finish(proc, timeout=120)
    assert code == 0, err[-3000:]
    (video,) = (run / "videos").glob("play_*")
    assert video.stat().st_size > 1000
    assert (run / "unity" / "play_worker_0.log").is_file()


def test_spent_restart_quota_stops_training_and_keeps_a_checkpoint(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    config = write_config(
        tmp_path / "quota.yaml",
        name="quota",
        out=tmp_path / "out",
        extra_args='["--crash-after-steps", "40"]',
        max_restarts=1,
        num_evals=0,
        steps=4096,
    )
    code, _out, err = finish(start(["train", "--config", str(config)], cluster_env, tmp_path))
    assert code == 1
    assert "restart quota exceeded" in err and "on host" in err
    assert re.search(r"worker [01] on host", err)
    run = the_run(tmp_path / "out")
    assert str(run / "unity") in err  # the player log is named
    assert "crash injected" in err  # with its tail
    checkpoints = list((run / "checkpoints").glob("*at_failure.zip"))
    assert checkpoints and f"last checkpoint: {checkpoints[0]}" in err
    assert not (run / "model.zip").exists()


def test_the_seed_s_n_environments_starts_that_many_simulators(ray_session: None, tmp_path: Path) -> None:
    """The seed guide's `n_environments: 3` means three envs in all, one simulator per env worker."""
    from ray_lab.learner.build import build_train_env
    from ray_lab.learner.experiment import load_experiment
    from ray_lab.learner.plan import plan_training
    from ray_lab.tracking.run_dir import prepare_run

    seed_yaml = tmp_path / "seed.yaml"
    seed_yaml.write_text(
        f"n_environments: 3\nexperiment: {{output_dir: {tmp_path / 'out'}}}\n"
        "environment: {unity: {extra_args: [--light], connect_timeout_s: 60}}\n"
        "workers: {num_cpus: 0.1}\n"
    )
    config = load_experiment(seed_yaml)
    layout = prepare_run(config)
    plan = plan_training(config, 0.0)
    assert (plan.train.num_workers, plan.num_envs) == (3, 3)
    venv = build_train_env(config, plan, None, layout)
    try:
        obs = venv.reset()
        assert obs.shape[0] == venv.num_envs == 3
        logs = sorted(p.name for p in layout.unity_dir.glob("*.log"))
        assert logs == ["worker_0.log", "worker_1.log", "worker_2.log"]  # one player per worker, three in all
        assert all("connected to 127.0.0.1" in (layout.unity_dir / name).read_text() for name in logs)
    finally:
        venv.close()
