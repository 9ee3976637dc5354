"""How a :class:`~unity_workers.envs.unity_env.UnityEnv` starts its player: spec, log names and player options."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unity_workers.launcher import PlayerOptions
from unity_workers.spec import UnitySpec

__all__ = ["REFERENCE_SIM", "coerce_spec", "log_stem", "player_options"]

REFERENCE_SIM = (sys.executable, "-m", "unity_workers.reference_sim")


def log_stem(group: str, worker_index: int, env_slot: int) -> str:
    """``worker_<k>`` (training), ``eval_worker_<k>``, ``..._env_<j>`` for a worker's later envs."""
    prefix = "" if group == "train" else f"{group}_"
    return f"{prefix}worker_{worker_index}" + (f"_env_{env_slot}" if env_slot else "")


def coerce_spec(spec: UnitySpec | Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> UnitySpec:
    """``spec`` (a :class:`UnitySpec`, its fields, or none) with ``overrides`` on top, validated."""
    data = spec.model_dump() if isinstance(spec, UnitySpec) else dict(spec or {})
    data.update(overrides)
    return UnitySpec.model_validate(data)


def player_options(
    spec: UnitySpec, *, log_dir: str | None, log_stem: str, worker_index: int, environment_id: int, graphics: bool
) -> PlayerOptions:
    """The options of the player's first start; the logs go to ``log_dir`` (made if missing; default a temp dir)."""
    log_path = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="ray_lab_unity_"))
    log_path.mkdir(parents=True, exist_ok=True)
    return PlayerOptions(
        build=Path(spec.build) if spec.build is not None else None,
        command=None if spec.build is not None else tuple(spec.command or REFERENCE_SIM),
        log_dir=log_path,
        log_stem=log_stem,
        worker_index=worker_index,
        ros_ip=spec.ros_ip,
        environment_id=environment_id,
        time_scale=spec.time_scale,
        sample_time=spec.sample_time,
        fixed_delta_time=spec.fixed_delta_time,
        fixed_updates_per_step=spec.fixed_updates_per_step,
        pause=spec.pause,
        agents=spec.agents_per_instance,
        graphics=graphics,
        batchmode=spec.batchmode,
        extra_args=tuple(spec.extra_args),
        connect_timeout_s=spec.connect_timeout_s,
        env_passthrough=tuple(spec.env_passthrough),
    )
