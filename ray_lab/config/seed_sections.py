"""The seed guide's top-level `unity:`, `n_environments:` and `ros:` keys, moved into ray-lab's sections.

The seed pipeline's guide documents (but its config.yml never had) these keys::

    n_environments: 1
    ros: {package_name: examples_pkg, node_name: train}
    unity: {build_path: build/Playground.x86_64, headless_mode: false, pause: false, sample_time: 0.0, time_scale: 1.0}

They load here: `unity` becomes `environment.unity` (`build_path` → `build`, `headless_mode` →
`batchmode`, a `sample_time`/`time_scale` of 0 means "not set"), `n_environments: N` becomes
`workers.num_workers: N` with `workers.envs_per_worker: 1` (N envs in all, one Unity instance per
actor). `ros` named the ROS 2 node that ran the seed's training; ray-lab needs none (each bridge is
its own node when rclpy is installed), so `ros.node_name` becomes the ROS 2 namespace root and
`ros.package_name` is accepted.
"""

from __future__ import annotations

from typing import Any

from ray_lab.config.errors import ConfigError, Problem, did_you_mean

__all__ = ["lift_seed_sections"]

SEED_UNITY_KEYS = {"build_path": "build", "headless_mode": "batchmode", "pause": "pause"}
SEED_UNITY_NUMBERS = ("sample_time", "time_scale")
SEED_ROS_KEYS = ("package_name", "node_name")


def _unity(section: Any, source: str) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise ConfigError.single(source, "unity", f"expected a mapping, got {type(section).__name__}")
    known = (*SEED_UNITY_KEYS, *SEED_UNITY_NUMBERS)
    problems = [
        Problem(source, f"unity.{key}", f"unknown key{did_you_mean(str(key), known)}; the seed's keys are {known}")
        for key in section
        if key not in known
    ]
    if problems:
        raise ConfigError(problems)
    unity = {SEED_UNITY_KEYS[k]: v for k, v in section.items() if k in SEED_UNITY_KEYS}
    unity.update({k: section[k] for k in SEED_UNITY_NUMBERS if section.get(k)})  # 0.0 meant "unset"
    return unity


def lift_seed_sections(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of `data` with the seed guide's top-level keys moved into ray-lab sections."""
    if not any(key in data for key in ("unity", "n_environments", "ros")):
        return data
    data = dict(data)
    environment = dict(data.get("environment") or {})
    if "unity" in data:
        lifted, given = _unity(data.pop("unity"), source), dict(environment.get("unity") or {})
        both = sorted(set(lifted) & set(given))
        if both:
            raise ConfigError.single(source, "unity", f"{both} set both here and in environment.unity; keep one")
        environment["unity"] = {**lifted, **given}
    ros = data.pop("ros", None) or {}
    if not isinstance(ros, dict) or any(key not in SEED_ROS_KEYS for key in ros):
        raise ConfigError.single(source, "ros", f"expected a mapping with keys {SEED_ROS_KEYS}, got {ros!r}")
    if ros.get("node_name") and isinstance(environment.get("unity"), dict):
        environment["unity"].setdefault("ros2_namespace", f"/{ros['node_name']}")
    if environment:
        data["environment"] = environment
    if "n_environments" in data:
        data["workers"] = _one_env_per_worker(data.pop("n_environments"), data.get("workers"), source)
    return data


def _one_env_per_worker(count: Any, workers: Any, source: str) -> dict[str, Any]:
    """The seed's `n_environments: N`: N envs in all, one Unity instance per env worker."""
    workers = dict(workers or {})
    both = sorted(key for key in ("num_workers", "envs_per_worker") if key in workers)
    if both:
        keys = " and ".join(f"workers.{key}" for key in both)
        raise ConfigError.single(
            source, "n_environments", f"set together with {keys}; keep one (n_environments: N means N workers of 1 env)"
        )
    workers["num_workers"] = count
    workers["envs_per_worker"] = 1
    return workers
