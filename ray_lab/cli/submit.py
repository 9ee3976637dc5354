"""`ray-lab submit`: check a config or sweep spec here, then run it on a cluster through Ray's job API.

A bad config fails in a second on the laptop, not after a queue. The working directory goes up
without outputs, virtualenvs, caches and simulator builds (`.rayignore` holds the same list, for
plain `ray job submit`). Before connecting, `upload_check` refuses a working directory that holds
credential files (`.netrc`, `.ssh/`, ...) or too much data (run from `$HOME`, say): exit 2, like a
bad config. No secrets go into the runtime env: a W&B key must come from the nodes' environment (or a
Kubernetes Secret).
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray_lab.cli.upload_check import DEFAULT_MAX_UPLOAD_MIB, UploadRefused, check_upload
from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE

__all__ = ["UPLOAD_EXCLUDES", "build_entrypoint", "build_runtime_env", "run_submit"]

UPLOAD_EXCLUDES = [
    ".git",
    ".venv",
    "venv",
    "experiments",
    "wandb",
    "builds",
    "*.x86_64",
    "*_Data",
    "UnityPlayer.so",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    ".env",
    "*.env",
    ".ray-lab",
    "*.pem",
]
"""Never uploaded with the working directory (Ray caps uploads; builds live on the nodes)."""

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def build_entrypoint(command: str, path: str, overrides: Sequence[str]) -> str:
    """`python -m ray_lab train --config X --set ...` (or `sweep --spec X`), shell-quoted."""
    flag = "--spec" if command == "sweep" else "--config"
    argv = ["python", "-m", "ray_lab", command, flag, path]
    for override in overrides:
        argv += ["--set", override]
    return shlex.join(argv)


def build_runtime_env(working_dir: Path) -> dict[str, Any]:
    """The job's runtime env: the working dir without outputs and builds, usage stats off, no secrets."""
    return {
        "working_dir": str(working_dir),
        "excludes": list(UPLOAD_EXCLUDES),
        "env_vars": {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"},
    }


def _relative(path: Path, working_dir: Path) -> str:
    """`path` as the job sees it: relative to the uploaded working dir (absolute paths stay as they are)."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(working_dir.resolve()))
    except ValueError:
        return str(resolved)


def _validate(config: str | None, spec: str | None, overrides: Sequence[str]) -> tuple[str, Path]:
    """Check the config or spec like `train`/`sweep` would (ConfigError: exit 2); the command and file."""
    if spec is not None:
        if overrides:
            from ray_lab.config.errors import ConfigError

            raise ConfigError.single(spec, "--set", "put a sweep's fixed keys into its spec (`set:`), not --set")
        from ray_lab.tune.load import load_sweep

        load_sweep(spec)
        return "sweep", Path(spec)
    from ray_lab.learner.experiment import load_experiment

    assert config is not None  # argparse requires --config or --spec
    load_experiment(config, overrides)
    return "train", Path(config)


def _submit(client: Any, entrypoint: str, runtime_env: dict[str, Any], wait_s: float = 90.0) -> str:
    """Submit; a head that has just started has no job agent for some seconds, so wait for one."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return str(client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env))
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            print("Waiting for the cluster's job agent to start ...", flush=True)
            time.sleep(2.0)


async def _stream_logs(client: Any, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        print(lines, end="", flush=True)


def _wait(client: Any, job_id: str, poll_s: float = 1.0) -> str:
    while True:
        status = str(client.get_job_status(job_id).value)  # a JobStatus enum
        if status in TERMINAL:
            return status
        time.sleep(poll_s)


def run_submit(
    address: str,
    config: str | None,
    spec: str | None,
    overrides: Sequence[str],
    follow: bool,
    max_upload_mib: float = DEFAULT_MAX_UPLOAD_MIB,
) -> int:
    """Validate, check the upload, submit, print the id and the dashboard URL; with `follow`, stream logs
    and return the job's result. A refused upload (credential files, over `max_upload_mib`) exits 2."""
    command, path = _validate(config, spec, overrides)
    working_dir = Path.cwd()
    try:
        check_upload(working_dir, UPLOAD_EXCLUDES, max_upload_mib)
    except UploadRefused as exc:
        print(f"ray-lab submit: {exc}", file=sys.stderr)
        return CONFIG_ERROR_EXIT_CODE
    from ray.job_submission import JobSubmissionClient

    entrypoint = build_entrypoint(command, _relative(path, working_dir), overrides)
    client = JobSubmissionClient(address)
    job_id = _submit(client, entrypoint, build_runtime_env(working_dir))
    print(f"Submitted {command} job {job_id}: {entrypoint}")
    print(f"Dashboard: {address.rstrip('/')}/#/jobs/{job_id}")
    print(f"Logs: ray job logs --address {address} --follow {job_id}")
    if not follow:
        return 0
    asyncio.run(_stream_logs(client, job_id))
    status = _wait(client, job_id)
    info = client.get_job_info(job_id)
    print(f"\nJob {job_id} {status}" + (f": {info.message}" if info.message else ""), file=sys.stderr)
    return 0 if status == "SUCCEEDED" else 1
