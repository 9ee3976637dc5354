"""Camera observations end to end: `ray-lab train` on configs/reference_nav_camera.yaml (issue 12, item 2).

A real CLI process, a real local Ray, reference-simulator players rendering 40x40 rgb8 cameras
(`--camera-obs 40`), NavAdapter's camera mode and PPO's MultiInputPolicy (NatureCNN on the image).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.save_util import load_from_zip_file

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "reference_nav_camera.yaml"

SHORT = [
    "training.use_wandb=false",
    "training.training.total_timesteps=1024",
    "training.training.device=cpu",
    "training.training.log_points=1",
    "training.training.eval.num_evals=0",
    "training.algorithm_parameters.n_epochs=1",
    "workers.num_workers=2",
    "workers.envs_per_worker=1",
    "workers.eval_envs_per_worker=1",
    "learner.num_cpus=0.5",
]


def test_ray_lab_train_learns_from_dict_camera_observations(tmp_path: Path, ray_env: dict[str, str]) -> None:
    sets = [f"experiment.output_dir={tmp_path / 'runs'}", *SHORT]
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "train", "--config", str(CONFIG), *(a for s in sets for a in ("--set", s))],
        cwd=tmp_path,
        env=ray_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert "training finished" in result.stdout
    (run,) = (tmp_path / "runs" / "ReferenceNav" / "ppo").iterdir()
    data, _, _ = load_from_zip_file(run / "model.zip", device="cpu", print_system_info=False)
    assert data is not None
    space = data["observation_space"]
    assert isinstance(space, spaces.Dict) and set(space.spaces) == {"camera", "state"}
    camera = space["camera"]  # SB3 saves its VecTransposeImage view: channels first
    assert camera.shape == (3, 40, 40) and camera.dtype == np.uint8
    assert space["state"].shape == (20,)
    assert data["policy_class"].__name__ == "MultiInputActorCriticPolicy"
    assert data["num_timesteps"] >= 1024
