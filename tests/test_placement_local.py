"""Placement on the session's local Ray: the seed's `device: cuda` falls back; `learner.num_gpus` does not."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
from ray.util.placement_group import remove_placement_group

from ray_lab.learner.actor import plan_on_cluster, start_learner
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.placement import PlacementError, learner_gpus, reserve
from ray_lab.learner.plan import plan_training

CARTPOLE = Path(__file__).resolve().parents[1] / "configs" / "cartpole_ppo.yaml"

SEED_CONFIG = Path(__file__).resolve().parent / "data" / "seed_base_ppo_config.yaml"


def test_the_seeds_cuda_device_falls_back_to_the_cpu_without_a_gpu(
    ray_session: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The seed's `device: 'cuda'` on a CPU-only cluster: the learner runs on the CPU, with a warning."""
    assert load_experiment(SEED_CONFIG).loop.device == "cuda"
    assert ray.cluster_resources().get("GPU", 0.0) == 0.0
    config = load_experiment(CARTPOLE, ["training.training.device=cuda"])
    with caplog.at_level("WARNING", logger="ray_lab.learner.placement"):
        plan = plan_on_cluster(config)
        actor, group = start_learner(config, plan)
    try:
        assert plan.device == "cpu"
        assert "no GPU: the learner runs on the CPU" in caplog.text and "learner.num_gpus: 1" in caplog.text
        assert ray.get(actor.node.remote())["gpu_ids"] == []
        assert "GPU" not in plan.bundles()[0] and plan.learner_gpus == 0.0
    finally:
        ray.kill(actor)
        remove_placement_group(group)


def test_an_explicit_learner_gpu_is_still_demanded(ray_session: None) -> None:
    config = load_experiment(CARTPOLE, ["training.training.device=cuda", "learner.num_gpus=1"])
    assert learner_gpus(config, 0.0) == 1.0
    assert learner_gpus(load_experiment(CARTPOLE, ["training.training.device=cuda"]), 0.0, lambda: True) == 1.0
    with pytest.raises(PlacementError) as info:
        reserve(plan_training(config, learner_gpus(config, 0.0)), config.learner.placement_timeout_s)
    assert "GPU 1 (largest node has 0)" in str(info.value)
