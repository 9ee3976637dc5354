"""`ray-lab sweep` end to end: real Ray Tune runs on a local Ray, in real CLI processes.

Small CartPole sweeps (a few thousand steps per trial) exercise ASHA, seed repetition, a killed
trial resuming from its checkpoint, an interrupted sweep resuming, and bad specs (exit code 2).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from test_tracking_wandb import wandb_records

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "configs" / "cartpole_ppo.yaml"

COMMON = f"""
base: {CARTPOLE}
set:
  training.training.log_points: 0
  training.training.eval.num_episodes: 3
  training.algorithm_parameters.batch_size: 64
  training.algorithm_parameters.n_epochs: 4
  workers.eval_envs_per_worker: 3
resources: {{learner_cpus: 0.5, num_workers: 1, envs_per_worker: 2, worker_cpus: 0.25}}
"""


def write_spec(folder: Path, name: str, body: str, out: Path, wandb: bool = False) -> Path:
    path = folder / f"{name}.yaml"
    common = COMMON if wandb else COMMON.replace("set:\n", "set:\n  training.use_wandb: false\n", 1)
    path.write_text(f"name: {name}\noutput_dir: {out}\n{common}\n{body}")
    return path


def ray_lab(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 400) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        print(result.stdout[-5000:], result.stderr[-5000:])
    return result


def start_sweep(spec: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`ray-lab sweep --spec` in the background (the test interrupts or kills parts of it)."""
    argv = [sys.executable, "-m", "ray_lab", "sweep", "--spec", str(spec)]
    return subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sweep_dir(out: Path) -> Path:
    (folder,) = [p for p in (out / "CartPole-v1" / "ppo").iterdir() if p.is_dir()]
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cluster_env(ray_session: None, ray_env_module: dict[str, str]) -> dict[str, str]:
    """Subprocess env that joins the session's local Ray."""
    return {**ray_env_module, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}


@pytest.fixture(scope="module")
def asha_sweep(tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]) -> Path:
    work = tmp_path_factory.mktemp("asha")
    spec = write_spec(
        work,
        "asha",
        """
space:
  training.algorithm_parameters.learning_rate: {loguniform: [1.0e-5, 3.0e-3]}
  training.algorithm_parameters.n_steps: {choice: [32, 64]}
search: {algorithm: random, seed: 3, max_concurrent_trials: 2}
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
num_samples: 4
budget: {timesteps: 4096}
""",
        work / "out",
    )
    spec.write_text(spec.read_text().replace("set:\n", "set:\n  training.training.eval.num_evals: 4\n", 1))
    result = ray_lab(["sweep", "--spec", str(spec)], cluster_env, work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Best configuration" in result.stdout
    return sweep_dir(work / "out")


def test_asha_sweep_writes_every_output(asha_sweep: Path) -> None:
    for name in ("results.csv", "summary.md", "best_config.yaml", "eval_curves.png", "metric_vs_params.png"):
        assert (asha_sweep / name).is_file(), name
    assert (asha_sweep / "spec.yaml").is_file() and (asha_sweep / "base_config.yaml").is_file()
    rows = read_csv(asha_sweep / "results.csv")
    assert len(rows) == 4 and {"training.algorithm_parameters.learning_rate", "best_eval/mean_return"} <= set(rows[0])
    rounds = sorted(int(row["eval_rounds"]) for row in rows)
    assert rounds[-1] == 4 and rounds[0] < 4, rounds  # ASHA stopped at least one weak trial early
    assert any(row["status"] == "STOPPED_EARLY" for row in rows)
    for row in rows:
        assert (asha_sweep / "trials" / row["trial_id"] / "evaluations.csv").is_file()
    summary = (asha_sweep / "summary.md").read_text()
    assert "eval/mean_return" in summary and "learning_rate" in summary


def test_best_config_trains(asha_sweep: Path, cluster_env: dict[str, str], tmp_path: Path) -> None:
    best = asha_sweep / "best_config.yaml"
    args = ["train", "--config", str(best), "--set", f"experiment.output_dir={tmp_path}"]
    args += ["--set", "training.training.total_timesteps=1024", "--set", "training.training.eval.num_evals=1"]
    result = ray_lab(args, cluster_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training finished" in result.stdout


def test_configurations_repeat_over_seeds_and_rank_by_their_mean(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    spec = write_spec(
        tmp_path,
        "seeds",
        """
space:
  training.algorithm_parameters.learning_rate: {choice: [3.0e-4, 1.0e-3]}
search: {algorithm: random, seed: 0, max_concurrent_trials: 2}
num_samples: 2
seeds: [0, 1]
budget: {timesteps: 2048}
""",
        tmp_path / "out",
        wandb=True,
    )
    set_line = (
        "  training.training.eval.num_evals: 2\n  training.use_wandb: true\n  tracking.log_model_artifacts: false\n"
    )
    spec.write_text(spec.read_text().replace("set:\n", "set:\n" + set_line, 1))
    result = ray_lab(["sweep", "--spec", str(spec)], cluster_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = sweep_dir(tmp_path / "out")
    rows = read_csv(folder / "results.csv")
    assert len(rows) == 4
    by_value: dict[str, set[str]] = {}
    for row in rows:
        by_value.setdefault(row["training.algorithm_parameters.learning_rate"], set()).add(row["seed"])
    assert all(seeds == {"0", "1"} for seeds in by_value.values()), by_value  # every configuration, every seed
    episode_seeds = {
        row["seeds"] for trial in rows for row in read_csv(folder / "trials" / trial["trial_id"] / "evaluations.csv")
    }
    assert episode_seeds == {"1000;1001;1002"}  # every round of every trial: the same episode seeds
    for row in rows:  # every trial is an offline W&B run, grouped by the sweep, with its config
        (run_file,) = (folder / "trials" / row["trial_id"] / "wandb").rglob("run-*.wandb")
        (run,) = [r.run for r in wandb_records(run_file) if r.WhichOneof("record_type") == "run"]
        assert run.run_group == folder.name and run.display_name == row["trial_id"]
        config = {item.key: item.value_json for item in run.config.update}
        assert row["training.algorithm_parameters.learning_rate"] in config["training"]
    summary = (folder / "summary.md").read_text()
    assert "±" in summary
    means = {
        value: [
            float(r["last_eval/mean_return"]) for r in rows if r["training.algorithm_parameters.learning_rate"] == value
        ]
        for value in by_value
    }
    best_value = max(means, key=lambda v: sum(means[v]) / len(means[v]))
    first_row = next(line for line in summary.splitlines() if line.startswith("| 1 "))
    assert format(float(best_value), "g") in first_row or best_value in first_row


def _wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_killed_trial_resumes_from_its_checkpoint(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    spec = write_spec(
        tmp_path,
        "killed",
        """
space:
  training.algorithm_parameters.learning_rate: {choice: [1.0e-3]}
num_samples: 1
max_failures: 1
budget: {timesteps: 8192}
""",
        tmp_path / "out",
    )
    spec.write_text(spec.read_text().replace("set:\n", "set:\n  training.training.eval.num_evals: 4\n", 1))
    proc = start_sweep(spec, cluster_env, tmp_path)
    try:
        out = tmp_path / "out"
        _wait_for(lambda: out.exists() and any(out.rglob("checkpoint_000000/model.zip")), 240, "a checkpoint")
        (info_path,) = out.rglob("trials/*/trial.json")
        pid = json.loads(info_path.read_text())["pid"]
        os.kill(pid, signal.SIGKILL)  # the trial's process dies: Tune retries it from the checkpoint
        _stdout, stderr = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    info = json.loads(info_path.read_text())
    assert info["pid"] != pid and info["resumed_from_timesteps"] and info["resumed_from_timesteps"][0] >= 2048
    rounds = read_csv(info_path.parent / "evaluations.csv")
    timesteps = [int(row["timesteps"]) for row in rounds]
    assert timesteps == sorted(set(timesteps)) and timesteps[-1] >= 8192  # went on, never from zero
    assert [int(row["round"]) for row in rounds] == list(range(1, len(rounds) + 1))  # numbering went on too
    summary = json.loads((info_path.parent / "summary.json").read_text())
    assert summary["timesteps"] >= 8192


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    spec = write_spec(
        tmp_path,
        "resume",
        """
space:
  training.algorithm_parameters.learning_rate: {grid: [3.0e-4, 1.0e-3]}
search: {algorithm: random, max_concurrent_trials: 1}
num_samples: 1
budget: {timesteps: 2048}
""",
        tmp_path / "out",
    )
    spec.write_text(spec.read_text().replace("set:\n", "set:\n  training.training.eval.num_evals: 2\n", 1))
    proc = start_sweep(spec, cluster_env, tmp_path)
    out = tmp_path / "out"
    try:
        # One trial at a time: once the second has started, Tune has recorded the first as finished.
        _wait_for(lambda: out.exists() and len(list(out.rglob("trials/*/trial.json"))) >= 2, 240, "a finished trial")
        proc.send_signal(signal.SIGINT)  # Ctrl-C: Tune saves its state and stops
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = sweep_dir(out)
    finished = {p.parent.name: p.stat().st_mtime for p in folder.rglob("trials/*/summary.json")}
    assert len(finished) == 1  # the first trial; the second was cut short
    result = ray_lab(["sweep", "--resume", str(folder)], cluster_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(folder / "results.csv")
    assert len(rows) == 2 and all(row["status"] == "TERMINATED" for row in rows)
    for trial, mtime in finished.items():
        assert (folder / "trials" / trial / "summary.json").stat().st_mtime == mtime  # not trained again


@pytest.mark.parametrize(
    "body, key, words",
    [
        (
            "space:\n  training.algorithm_paramters.learning_rate: {uniform: [0.1, 0.2]}\n",
            "space.training",
            ["did you mean 'algorithm_parameters'"],
        ),
        (
            "space:\n  training.algorithm_parameters.learning_rate: {gaussian: [0, 1]}\n",
            "space.training",
            ["unknown distribution 'gaussian'"],
        ),
        ("space: {}\n", "space", ["empty"]),
        (
            "space:\n  training.algorithm_parameters.learning_rate: {uniform: [0.1, 0.2]}\n"
            "resources: {learner_gpus: 1}\n",
            "resources",
            ["GPU 1", "largest node has 0"],
        ),
    ],
)
def test_bad_specs_exit_2_and_start_nothing(
    tmp_path: Path, cluster_env: dict[str, str], body: str, key: str, words: list[str]
) -> None:
    spec = tmp_path / "bad.yaml"
    text = f"name: bad\noutput_dir: {tmp_path / 'out'}\nbase: {CARTPOLE}\n{body}"
    if "resources:" in body:
        text = text.replace(
            "resources: {learner_gpus: 1}", "resources: {learner_gpus: 1}\nset: {training.use_wandb: false}"
        )
    spec.write_text(text)
    result = ray_lab(["sweep", "--spec", str(spec)], cluster_env, tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{spec}: {key}" in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not (tmp_path / "out").exists()
