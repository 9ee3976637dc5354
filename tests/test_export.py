"""`ray-lab export`: ONNX policies of real trained runs match `predict(deterministic=True)` in onnxruntime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import yaml
from gymnasium import spaces

from ray_lab.cli.main import main
from ray_lab.export import export_policy
from ray_lab.learner.actor import run_training
from ray_lab.learner.algorithms import resolve_algorithm
from ray_lab.learner.experiment import load_experiment
from ray_lab.tracking.artifacts import find_vecnormalize, load_vecnormalize_stats
from ray_lab.tracking.run_dir import prepare_run

ROOT = Path(__file__).resolve().parents[1]
GOAL_ENV = "ray_lab.envs.testing:ray_lab/Goal-v0"
OFF_POLICY = {"learning_starts": 50, "batch_size": 32, "buffer_size": 1000}
ON_POLICY = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}
VECNORM = {"vec_normalize": {"enabled": True}}

# case: (algorithm, env id, algorithm_parameters, wrappers)
CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    "sac": ("sac", "Pendulum-v1", OFF_POLICY, {}),
    "td3": ("td3", "Pendulum-v1", OFF_POLICY, {}),
    "ddpg": ("ddpg", "Pendulum-v1", OFF_POLICY, {}),
    "ppo box, VecNormalize, CLI": ("ppo", "Pendulum-v1", ON_POLICY, VECNORM),
    "a2c": ("a2c", "Pendulum-v1", {"n_steps": 8}, {}),
    "ppo discrete": ("ppo", "CartPole-v1", ON_POLICY, {}),
    "dqn": ("dqn", "CartPole-v1", {**OFF_POLICY, "learning_starts": 100}, {}),
    "sac dict, VecNormalize": ("sac", GOAL_ENV, {**OFF_POLICY, "policy": "MultiInputPolicy"}, VECNORM),
}


def train(tmp_path: Path, algorithm: str, env_id: str, params: dict[str, Any], wrappers: dict[str, Any]) -> Path:
    """A real ~300-step training through `run_training` (one worker, no evaluation rounds); its run folder."""
    data: dict[str, Any] = {
        "experiment": {"name": "export", "output_dir": str(tmp_path / "out")},
        "environment": {"id": env_id},
        "training": {
            "algorithm": algorithm,
            "use_wandb": False,
            "algorithm_parameters": params,
            "architecture": {"net_arch": [32, 32]},
            "training": {"total_timesteps": 300, "log_points": 0, "eval": {"num_evals": 0}, "verbose": 0},
        },
        "workers": {"num_workers": 1, "envs_per_worker": 1, "eval_envs_per_worker": 1},
        "learner": {"num_cpus": 0.5},
        "wrappers": wrappers,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_experiment(path)
    run_dir = prepare_run(config).root
    run_training(config, run_dir, None, in_process=True)
    return run_dir


def random_batch(space: spaces.Space, n: int = 64) -> dict[str, np.ndarray]:
    """`n` observations sampled from `space`, as the graph's float32 inputs (`obs`, or one per Dict key)."""
    space.seed(0)
    samples = [space.sample() for _ in range(n)]
    if isinstance(space, spaces.Dict):
        return {key: np.stack([s[key] for s in samples]).astype(np.float32) for key in sorted(space.spaces)}
    return {"obs": np.stack(samples).astype(np.float32)}


def export_by_cli(run_dir: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "export", "--run", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=run_dir,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "WANDB_MODE": "offline"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = Path(result.stdout.strip().splitlines()[-1])
    assert printed == run_dir / "export" / "model.onnx" and printed.is_file()
    return printed


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_matches_predict(ray_session: None, tmp_path: Path, case: str) -> None:
    algorithm, env_id, params, wrappers = CASES[case]
    run_dir = train(tmp_path, algorithm, env_id, params, wrappers)
    model_zip = run_dir / "model.zip"
    model = resolve_algorithm(algorithm).load(model_zip, device="cpu")
    if "CLI" in case:
        onnx_path = export_by_cli(run_dir)
    else:
        onnx_path = export_policy(model, model_zip, tmp_path / "policy.onnx").onnx_path
    batch = random_batch(model.observation_space)
    got = ort.InferenceSession(str(onnx_path)).run(None, batch)[0]

    stats_path = find_vecnormalize(model_zip)
    assert (stats_path is not None) == bool(wrappers)
    obs: Any = batch if isinstance(model.observation_space, spaces.Dict) else batch["obs"]
    if stats_path is not None:
        obs = load_vecnormalize_stats(stats_path).normalize_obs(obs)
    want, _ = model.predict(obs, deterministic=True)
    assert got.shape == want.shape and got.dtype == want.dtype
    if isinstance(model.action_space, spaces.Discrete):
        assert got.dtype == np.int64 and np.array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)

    described = json.loads(onnx_path.with_suffix(".json").read_text())
    assert [i["name"] for i in described["inputs"]] == sorted(batch)
    assert described["outputs"][0]["name"] == "action" and described["vecnormalize_folded"] == bool(wrappers)
    assert described["algorithm"] == type(model).__name__
    if "CLI" in case:
        check_bad_model_name(run_dir)


def check_bad_model_name(run_dir: Path) -> None:
    """`--model` that names no model in the run folder: exit 2, naming the choices."""
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "export", "--run", str(run_dir), "--model", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--model" in result.stderr and "'nope'" in result.stderr and "choices: model" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_run_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--run", str(tmp_path / "missing")]) == 2
    assert "--run" in capsys.readouterr().err
    assert main(["export", "--run", str(tmp_path)]) == 2
    assert "no config.yaml" in capsys.readouterr().err


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray_lab.export._deps import require_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    with pytest.raises(ImportError, match=r"pip install 'ray-lab\[export\]'"):
        require_onnx()
