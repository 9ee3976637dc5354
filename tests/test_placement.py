"""The learner lands on a GPU node while the driver's node has none; workers land where their resources are.

A real two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`): a CPU-only head (where the
driver is, as under `ray job submit`) and a node advertising one GPU and `unity` slots, shared by this
module's tests (none of them changes its nodes). The placement tests on the session's local Ray are
in test_placement_local.py.
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

from ray_lab.learner.actor import plan_on_cluster, start_learner
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.placement import PlacementError, reserve
from ray_lab.learner.plan import plan_training

CARTPOLE = Path(__file__).resolve().parents[1] / "configs" / "cartpole_ppo.yaml"


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[tuple[Cluster, Any]]:
    with local_cluster(2, [{"num_cpus": 2, "num_gpus": 1, "resources": {"unity": 4}}]) as (cluster, nodes):
        yield cluster, nodes[0]


def test_learner_runs_on_the_gpu_node_with_unity_workers_beside_it(two_node_cluster: tuple[Cluster, Any]) -> None:
    _, gpu_node = two_node_cluster
    config = load_experiment(CARTPOLE, ["workers.resources={unity: 1}", "workers.num_workers=2"])
    plan = plan_on_cluster(config)
    actor, group = start_learner(config, plan)
    try:
        where = ray.get(actor.node.remote())
        assert plan.device == "cuda"  # device: auto, and the cluster has a GPU
        assert where["node_id"] == gpu_node.node_id
        assert where["node_id"] != ray.get_runtime_context().get_node_id()  # not the driver's node
        assert len(where["gpu_ids"]) == 1
        table = placement_group_table(group)
        bundles = plan.bundles()
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
        reserve(plan_training(config, 0.0), config.learner.placement_timeout_s)
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
        reserve(plan_training(config, 0.0), config.learner.placement_timeout_s)
    assert time.monotonic() - started < 10  # no waiting for a node that no autoscaler will add
    message = str(info.value)
    assert "env worker bundle 1" in message and "unity 5 (largest node has 4)" in message
    assert "simulator_gpu 1 (largest node has 0)" in message and "no autoscaler" in message
