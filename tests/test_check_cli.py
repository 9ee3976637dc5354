"""`ray-lab check` and `ray-lab --version`, in real CLI processes: train's checks, no run folder, no training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ray_lab.learner.plan import TrainingPlan

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "configs" / "cartpole_ppo.yaml"
REFERENCE_NAV = ROOT / "configs" / "reference_nav_ppo.yaml"


def ray_lab(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ray_lab", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def check(config: Path, overrides: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    args = ["check", "--config", str(config), "--set", f"experiment.output_dir={cwd / 'out'}"]
    for item in overrides:
        args += ["--set", item]
    return ray_lab(args, env, cwd)


def test_good_config_prints_config_plan_and_bundles_and_starts_nothing(ray_env: dict[str, str], tmp_path: Path) -> None:
    result = check(CARTPOLE, ["workers.num_workers=2", "workers.envs_per_worker=3"], ray_env, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert f"ray-lab check: {CARTPOLE} (n_envs = 2 workers x 3 envs = 6)" in out
    assert "algorithm: ppo" in out and "envs_per_worker: 3" in out  # the resolved config, overrides applied
    assert "Plan: learner {CPU 1} on cpu; 2 train worker(s) x 3 envs (6 in all)" in out
    for line in ("bundle 0: learner {CPU: 1}", "bundle 2: train worker 1 {CPU: 0.25}, envs 3-5", "bundle 3: eval"):
        assert line in out, line
    assert "assumed this machine's: CPU" in out and "the plan fits this machine" in out
    assert "ray-lab check: OK" in out
    assert "Ray:" not in out  # no local Ray was started
    assert not (tmp_path / "out").exists()  # no run folder


def test_bad_key_exits_2_naming_file_and_key(ray_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text(CARTPOLE.read_text().replace("num_workers:", "num_workerz:"))
    result = check(config, [], ray_env, tmp_path)
    assert result.returncode == 2, result.stderr[-4000:]
    assert f"{config}: workers.num_workerz" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("config", "override", "key"),
    [
        (CARTPOLE, "training.pretrained_model={tmp}/gone.zip", "training.pretrained_model"),
        (REFERENCE_NAV, "environment.unity.build={tmp}/Missing.x86_64", "environment.unity.build"),
    ],
    ids=["pretrained-model", "unity-build"],
)
def test_train_s_later_checks_exit_2(
    ray_env: dict[str, str], tmp_path: Path, config: Path, override: str, key: str
) -> None:
    result = check(config, [override.format(tmp=tmp_path)], ray_env, tmp_path)
    assert result.returncode == 2, result.stderr[-4000:]
    assert f"{config}" in result.stderr and key in result.stderr
    assert "Plan:" not in result.stdout and not (tmp_path / "out").exists()


def test_resources_that_cannot_fit_exit_2(ray_env: dict[str, str], tmp_path: Path) -> None:
    workers = (os.cpu_count() or 2) + 1  # one CPU each: more than this machine has, with the learner's
    result = check(CARTPOLE, [f"workers.num_workers={workers}", "workers.num_cpus=1"], ray_env, tmp_path)
    assert result.returncode == 2, result.stderr[-4000:]
    assert "Plan:" in result.stdout  # the plan is shown, then why it does not fit
    assert f"{CARTPOLE}: resources: train would fail to place" in result.stderr
    assert "short of CPU (needs" in result.stderr and "this machine has" in result.stderr


def test_version(ray_env: dict[str, str], tmp_path: Path) -> None:
    from importlib.metadata import version

    result = ray_lab(["--version"], ray_env, tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"ray-lab {version('ray-lab')}"


def test_cluster_check_uses_the_sweep_s_fit_check(ray_session: None, ray_env: dict[str, str], tmp_path: Path) -> None:
    """With RAY_ADDRESS the check connects (a driver, no workers) and asks the cluster; no node has `unity`."""
    import ray

    env = {**ray_env, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    result = check(CARTPOLE, ["workers.resources={unity: 1}"], env, tmp_path)
    assert result.returncode == 2, result.stderr[-4000:]
    assert "Ray: connected to the cluster" in result.stdout and "{CPU: 0.25, unity: 1}" in result.stdout
    assert f"{CARTPOLE}: resources: no node of the cluster can hold env worker bundle 1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_local_shortfall_names_what_this_machine_lacks() -> None:
    """The single-node rule behind the local check, on real plans (`parse_config` + `plan_training`)."""
    from ray_lab.cli.check import local_node_resources, local_shortfall
    from ray_lab.config.loader import parse_config
    from ray_lab.learner.plan import plan_training

    def plan(*overrides: str, gpus: float = 0.0) -> TrainingPlan:
        return plan_training(parse_config(CARTPOLE, overrides).config, gpus)

    node = {"CPU": 2.0, "memory": 1e9}
    assert local_shortfall(plan(), node) is None  # learner 1 + two workers of 0.25
    gpu = local_shortfall(plan(gpus=1.0), node)
    assert gpu is not None and "GPU (needs 1, this machine has 0)" in gpu
    spread = local_shortfall(plan("learner.placement_strategy=STRICT_SPREAD"), node)
    assert spread is not None and "not per node for STRICT_SPREAD" in spread
    assert local_shortfall(plan("workers.resources={unity: 2}"), {**node, "unity": 4.0}) is None
    assert local_node_resources(lambda: {"CPU": 3.0}) == {"CPU": 3.0}
    assert local_node_resources(_moved)["CPU"] == float(os.cpu_count() or 1)


def _moved() -> dict[str, float]:
    raise ImportError("ray._private.resource_and_label_spec moved")
