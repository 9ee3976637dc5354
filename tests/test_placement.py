"""The learner lands on a GPU node while the driver's node has none; workers land where their resources are.

A real two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`): a CPU-only head (where the
driver is, as under `ray job submit`) and a node advertising one GPU and `unity` slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from conftest import local_cluster
from ray.cluster_utils import Cluster
from ray.util.placement_group import placement_group_table, remove_placement_group

from ray_lab.learner.actor import start_learner
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.placement import PlacementError, learner_gpus, plan_bundles, reserve

CARTPOLE = Path(__file__).resolve().parents[1] / "configs" / "cartpole_ppo.yaml"


@pytest.fixture
def two_node_cluster() -> Iterator[tuple[Cluster, Any]]:
    with local_cluster(2, [{"num_cpus": 2, "num_gpus": 1, "resources": {"unity": 4}}]) as (cluster, nodes):
        yield cluster, nodes[0]


def test_learner_runs_on_the_gpu_node_with_unity_workers_beside_it(two_node_cluster: tuple[Cluster, Any]) -> None:
    _, gpu_node = two_node_cluster
    config = load_experiment(CARTPOLE, ["workers.resources={unity: 1}", "workers.num_workers=2"])
    actor, group, device = start_learner(config)
    try:
        where = ray.get(actor.node.remote())
        assert device == "cuda"  # device: auto, and the cluster has a GPU
        assert where["node_id"] == gpu_node.node_id
        assert where["node_id"] != ray.get_runtime_context().get_node_id()  # not the driver's node
        assert len(where["gpu_ids"]) == 1
        table = placement_group_table(group)
        bundles = plan_bundles(config, 1.0)
        assert bundles[0]["GPU"] == 1.0 and all(b.get("unity") == 1 for b in bundles[1:3])
        assert table["bundles_to_node_id"][0] == gpu_node.node_id
        for index in (1, 2):  # train workers need `unity`, which only the GPU node has
            assert table["bundles_to_node_id"][index] == gpu_node.node_id
    finally:
        ray.kill(actor)
        remove_placement_group(group)


def test_a_training_the_cluster_cannot_hold_fails_naming_the_resource(two_node_cluster: tuple[Cluster, Any]) -> None:
    config = load_experiment(
        CARTPOLE, ["workers.resources={unity: 3}", "workers.num_workers=2", "learner.placement_timeout_s=3"]
    )
    with pytest.raises(PlacementError) as info:
        reserve(config, gpus=0.0)
    # 2 train + 1 eval workers at 3 `unity` each; the cluster advertises 4
    assert "short of unity (needs 9, the cluster has 4)" in str(info.value)
    assert "workers.resources" in str(info.value)


def test_a_resource_no_node_has_fails_at_once(two_node_cluster: tuple[Cluster, Any]) -> None:
    import time

    config = load_experiment(
        CARTPOLE, ["workers.resources={unity: 5, simulator_gpu: 1}", "learner.placement_timeout_s=120"]
    )

    started = time.monotonic()
    with pytest.raises(PlacementError) as info:
        reserve(config, gpus=0.0)
    assert time.monotonic() - started < 10  # no waiting for a node that no autoscaler will add
    message = str(info.value)
    assert "env worker bundle 1" in message and "unity 5 (largest node has 4)" in message
    assert "simulator_gpu 1 (largest node has 0)" in message and "no autoscaler" in message


SEED_CONFIG = Path(__file__).resolve().parent / "data" / "seed_base_ppo_config.yaml"


def test_the_seeds_cuda_device_falls_back_to_the_cpu_without_a_gpu(
    ray_session: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The seed's `device: 'cuda'` on a CPU-only cluster: the learner runs on the CPU, with a warning."""
    assert load_experiment(SEED_CONFIG).loop.device == "cuda"
    assert ray.cluster_resources().get("GPU", 0.0) == 0.0
    config = load_experiment(CARTPOLE, ["training.training.device=cuda"])
    with caplog.at_level("WARNING", logger="ray_lab.learner.placement"):
        actor, group, device = start_learner(config)
    try:
        assert device == "cpu"
        assert "no GPU: the learner runs on the CPU" in caplog.text and "learner.num_gpus: 1" in caplog.text
        assert ray.get(actor.node.remote())["gpu_ids"] == []
        assert "GPU" not in plan_bundles(config, 0.0)[0]
    finally:
        ray.kill(actor)
        remove_placement_group(group)


def test_an_explicit_learner_gpu_is_still_demanded(ray_session: None) -> None:
    config = load_experiment(CARTPOLE, ["training.training.device=cuda", "learner.num_gpus=1"])
    assert learner_gpus(config, 0.0) == 1.0
    assert learner_gpus(load_experiment(CARTPOLE, ["training.training.device=cuda"]), 0.0, lambda: True) == 1.0
    with pytest.raises(PlacementError) as info:
        reserve(config, gpus=learner_gpus(config, 0.0))
    assert "GPU 1 (largest node has 0)" in str(info.value)
