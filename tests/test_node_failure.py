"""Node failures on a real 3-node Ray cluster on this machine (`ray.cluster_utils.Cluster`).

The learner sits on the head; the env workers need `unity`, which two simulator nodes advertise.
Removing the node that hosts the workers mid-training: Ray restarts them on the other simulator node
(their placement-group bundles move first), the lost step ends every episode as truncated, and
training completes: with the default transport (a socket per worker) and with the Compiled Graph one
(Ray's graph monitor sees the actors die and closes the graph's channels; the loss is noticed in about
a second, the restart on the other node takes 5-10 s here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import local_cluster
from ray.cluster_utils import Cluster
from ray.util.placement_group import placement_group_table

from ray_lab.learner.actor import run_training
from ray_lab.learner.experiment import load_experiment
from ray_lab.tracking.run_dir import prepare_run

CARTPOLE = Path(__file__).resolve().parents[1] / "configs" / "cartpole_ppo.yaml"


@pytest.fixture
def three_nodes() -> Iterator[tuple[Cluster, list[Any]]]:
    with local_cluster(2, [{"num_cpus": 1, "resources": {"unity": 2}}] * 2) as cluster:
        yield cluster


def _worker_node(run_dir: Path, simulators: list[Any], timeout_s: float = 120.0) -> Any:
    """The simulator node hosting the training's env workers, once the first rollout is logged."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (run_dir / "progress.csv").is_file() and (run_dir / "progress.csv").stat().st_size > 0:
            for table in placement_group_table().values():
                if table["state"] == "CREATED" and len(table["bundles"]) == 3:
                    node_id = table["bundles_to_node_id"][1]
                    return next(node for node in simulators if node.node_id == node_id)
        time.sleep(0.5)
    raise AssertionError("the training did not log a first rollout in time")


@pytest.mark.parametrize("transport", ["auto", "compiled"])  # auto: the default, a socket per worker
def test_env_workers_move_to_another_node_when_theirs_is_removed(
    three_nodes: tuple[Cluster, list[Any]], tmp_path: Path, transport: str
) -> None:
    cluster, simulators = three_nodes
    overrides = [
        f"experiment.output_dir={tmp_path}",
        "training.use_wandb=false",
        "training.training.total_timesteps=12000",
        "training.training.log_points=0",
        "training.training.eval.num_evals=0",
        "training.algorithm_parameters.n_steps=64",
        "workers.num_workers=2",
        "workers.envs_per_worker=2",
        "workers.num_cpus=0.25",
        "workers.resources={unity: 1}",
        f"workers.transport={transport}",
        "workers.max_restarts=2",
        "learner.num_cpus=1",
    ]
    config = load_experiment(CARTPOLE, overrides)
    run_dir = prepare_run(config).root
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(summary=run_training(config, run_dir, None)), daemon=True)
    thread.start()
    node = _worker_node(run_dir, simulators)
    cluster.remove_node(node)  # the simulator machine goes away mid-training
    thread.join(timeout=300)
    assert not thread.is_alive(), "training did not finish after the node was removed"
    summary = result["summary"]
    assert summary.timesteps >= 12000
    assert summary.worker_restarts >= 1  # the lost step was counted, and training went on
    assert (run_dir / "model.zip").is_file()


@pytest.fixture
def learner_nodes() -> Iterator[tuple[Cluster, list[Any]]]:
    with local_cluster(1, [{"num_cpus": 2, "resources": {"learner": 1}}] * 2) as cluster:
        yield cluster


def test_a_trial_whose_learner_node_dies_resumes_from_its_checkpoint(
    learner_nodes: tuple[Cluster, list[Any]], tmp_path: Path
) -> None:
    import json

    from ray_lab.tune.load import load_sweep
    from ray_lab.tune.run import start_sweep

    cluster, nodes = learner_nodes
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"""
name: node-loss
output_dir: {tmp_path / "out"}
base: {CARTPOLE}
set:
  training.use_wandb: false
  training.training.log_points: 0
  training.training.eval.num_evals: 4
  training.training.eval.num_episodes: 2
  workers.eval_envs_per_worker: 2
  learner.resources: {{learner: 1}}
space:
  training.algorithm_parameters.learning_rate: {{choice: [1.0e-3]}}
resources: {{learner_cpus: 1, num_workers: 1, envs_per_worker: 2, worker_cpus: 0.25}}
budget: {{timesteps: 8192}}
max_failures: 2
"""
    )
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(run=start_sweep(load_sweep(spec))), daemon=True)
    thread.start()
    out = tmp_path / "out"
    deadline = time.monotonic() + 180
    while not (out.exists() and any(out.rglob("checkpoint_000000/model.zip"))):
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.5)
    (info_path,) = out.rglob("trials/*/trial.json")
    first = json.loads(info_path.read_text())
    doomed = next(node for node in nodes if node.node_id == first["node_id"])
    cluster.remove_node(doomed)  # the learner's machine goes away
    thread.join(timeout=400)
    assert not thread.is_alive(), "the sweep did not finish after the learner's node was removed"
    info = json.loads(info_path.read_text())
    assert info["node_id"] != first["node_id"]  # the retry ran on the other node
    assert info["resumed_from_timesteps"] and info["resumed_from_timesteps"][0] >= 2048  # from the checkpoint
    summary = json.loads((info_path.parent / "summary.json").read_text())
    assert summary["timesteps"] >= 8192
    assert not [r for r in result["run"].results if r.error is not None]
