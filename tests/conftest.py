"""Shared test fixtures: one real local Ray per test session, on loopback, in a temp dir of its own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before anything imports ray or wandb, so every subprocess inherits them too.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("RAY_ADDRESS", None)
os.environ.pop("WANDB_API_KEY", None)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray instance shared by the whole test session (2 CPUs, loopback only)."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rl_t_", dir="/tmp")
    ray.init(
        num_cpus=2,
        _temp_dir=temp_dir,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _subprocess_env(temp_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", WANDB_MODE="offline", WANDB_SILENT="true")
    env.pop("RAY_ADDRESS", None)
    env.pop("WANDB_API_KEY", None)
    env["RAY_LAB_RAY_TEMP_DIR"] = temp_dir
    return env


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    """Environment for a subprocess that starts its own local Ray (CLI tests), in a temp dir of its own."""
    temp_dir = tempfile.mkdtemp(prefix="rl_c_", dir="/tmp")
    yield _subprocess_env(temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_env_module() -> Iterator[dict[str, str]]:
    """Like `ray_env`, shared by a module's tests."""
    temp_dir = tempfile.mkdtemp(prefix="rl_m_", dir="/tmp")
    yield _subprocess_env(temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)
