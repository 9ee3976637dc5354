"""Env steps per second of DummyVecEnv, SubprocVecEnv and RayVecEnv.

Two scenarios:

(a) ``CartPole-v1`` with 8 envs: stepping is nearly free, so this measures the per-step overhead
    of each vectorization (RayVecEnv: 2 workers x 4 envs).
(b) ``ray_lab/Sleep-v0`` with 16 envs, each step sleeping 2 ms: this measures how well the envs
    run in parallel (RayVecEnv: 4 workers x 4 envs, and 16 workers x 1 env).

Each configuration is warmed up, then timed ``--repeats`` times for ``--seconds`` each; the table
shows the median, the spread and the ratios to SubprocVecEnv and DummyVecEnv. ``--extras`` adds
the CPU time idle env workers burn, per transport; ``--ppo`` times SB3 PPO end to end on each
vectorization (rollouts + updates, the policy in this process with ``--torch-threads`` threads).

Run (from the repository root)::

    RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 .venv/bin/python benchmarks/bench_vec_envs.py

The script starts and stops its own local Ray (loopback only, in a temporary directory).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import gymnasium as gym
import numpy as np
import ray
from rich.console import Console
from rich.table import Table
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from ray_lab.workers import RayVecEnv, WorkerOptions

EnvFns = list[Callable[[], gym.Env]]


@dataclass
class Config:
    """One vectorization to time."""

    label: str
    build: Callable[[EnvFns], VecEnv]


@dataclass
class Result:
    scenario: str
    label: str
    rates: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def ray_config(label: str, envs_per_worker: int, transport: str, num_cpus: float = 0.25) -> Config:
    options = WorkerOptions(
        envs_per_worker=envs_per_worker,
        transport=transport,  # type: ignore[arg-type]
        num_cpus=num_cpus,
        name="bench",
    )
    return Config(label, lambda fns: RayVecEnv(fns, options))


def time_config(config: Config, env_fns: EnvFns, repeats: int, seconds: float, warmup_s: float) -> list[float]:
    """Env steps per second of ``repeats`` timed runs of at least ``seconds`` each."""
    vec_env = config.build(env_fns)
    try:
        n = vec_env.num_envs
        rng = np.random.default_rng(0)
        actions = [rng.integers(0, 2, size=n) for _ in range(64)]
        vec_env.seed(0)
        vec_env.reset()
        run_for(vec_env, actions, warmup_s)
        rates = []
        for _ in range(repeats):
            steps, elapsed = run_for(vec_env, actions, seconds)
            rates.append(steps * n / elapsed)
        return rates
    finally:
        vec_env.close()


def run_for(vec_env: VecEnv, actions: list[np.ndarray], seconds: float) -> tuple[int, float]:
    steps = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for i in range(16):
            vec_env.step(actions[(steps + i) % len(actions)])
        steps += 16
        now = time.perf_counter()
        if now >= deadline:
            return steps, now - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(transport: str, window_s: float = 3.0, release_s: float = 4.0) -> list[float]:
    """CPU (cores) used by each idle CartPole worker: right after a step, and (compiled only)
    again once the graph was released after ``release_s`` idle seconds."""
    fns: EnvFns = [functools.partial(gym.make, "CartPole-v1")] * 8
    options = WorkerOptions(transport=transport, idle_release_s=release_s, name="idle")  # type: ignore[arg-type]
    vec_env = RayVecEnv(fns, options)
    try:
        vec_env.reset()
        vec_env.step(np.zeros(8, dtype=np.int64))
        pids = [ray.get(actor.status.remote())["pid"] for actor in vec_env.workers]
        usage = [window_cpu(pids, window_s)]
        if transport == "compiled":
            time.sleep(release_s + 1.5 - window_s)
            usage.append(window_cpu(pids, window_s))
        return usage
    finally:
        vec_env.close()


def window_cpu(pids: list[int], seconds: float) -> float:
    before = [cpu_seconds(pid) for pid in pids]
    time.sleep(seconds)
    return statistics.mean(cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)) / seconds


def ppo_seconds(config: Config, timesteps: int) -> float:
    """Wall time of ``PPO.learn(timesteps)`` on CartPole-v1 x 8 (n_steps=256, 4 epochs)."""
    from stable_baselines3 import PPO

    vec_env = config.build([functools.partial(gym.make, "CartPole-v1")] * 8)
    try:
        model = PPO("MlpPolicy", vec_env, n_steps=256, batch_size=256, n_epochs=4, seed=0, device="cpu")
        start = time.perf_counter()
        model.learn(total_timesteps=timesteps)
        return time.perf_counter() - start
    finally:
        vec_env.close()


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    os_name = platform.platform()
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs ({model}), {os_name}, Python {platform.python_version()}, "
        f"ray {ray.__version__}, load average {load:.2f} at start"
    )


def print_table(console: Console, results: list[Result]) -> None:
    table = Table(title="Env steps per second (median of repeats)")
    for column, justify in (
        ("scenario", "left"),
        ("vec env", "left"),
        ("steps/s", "right"),
        ("min-max", "right"),
        ("vs Subproc", "right"),
        ("vs Dummy", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for scenario in dict.fromkeys(r.scenario for r in results):
        rows = [r for r in results if r.scenario == scenario]
        base = {r.label.split(" ")[0]: r.median for r in rows}
        for r in rows:
            table.add_row(
                scenario,
                r.label,
                f"{r.median:,.0f}",
                f"{min(r.rates):,.0f}-{max(r.rates):,.0f}",
                f"{r.median / base['SubprocVecEnv']:.2f}x",
                f"{r.median / base['DummyVecEnv']:.2f}x",
            )
        table.add_section()
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed run")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed steps first, in seconds")
    parser.add_argument("--extras", action="store_true", help="also measure idle CPU use of env workers")
    parser.add_argument("--ppo", action="store_true", help="also time PPO.learn end to end")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads for --ppo")
    parser.add_argument("--no-steps", action="store_true", help="skip the steps/s table (extras only)")
    args = parser.parse_args()

    console = Console(width=110)
    console.print(f"[bold]Machine:[/bold] {machine()}")
    temp_dir = tempfile.mkdtemp(prefix="rl_bench_", dir="/tmp")
    ray.init(
        num_cpus=os.cpu_count() or 2,
        _temp_dir=temp_dir,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        local: list[Config] = [
            Config("DummyVecEnv", lambda fns: DummyVecEnv(fns)),
            Config("SubprocVecEnv", lambda fns: SubprocVecEnv(fns)),
        ]
        scenarios: list[tuple[str, EnvFns, list[Config]]] = [
            (
                "(a) CartPole-v1 x8",
                [functools.partial(gym.make, "CartPole-v1")] * 8,
                [
                    *local,
                    ray_config("RayVecEnv compiled, 2x4", 4, "compiled"),
                    ray_config("RayVecEnv actor calls, 2x4", 4, "actor"),
                ],
            ),
            (
                "(b) Sleep-v0 (2 ms) x16",
                # "module:id" makes gym.make import the registering module inside each worker.
                [functools.partial(gym.make, "ray_lab.envs.testing:ray_lab/Sleep-v0")] * 16,
                [
                    *local,
                    ray_config("RayVecEnv compiled, 4x4", 4, "compiled"),
                    ray_config("RayVecEnv actor calls, 4x4", 4, "actor"),
                    ray_config("RayVecEnv compiled, 16x1", 1, "compiled", num_cpus=0.1),
                ],
            ),
        ]
        results: list[Result] = []
        for scenario, env_fns, configs in [] if args.no_steps else scenarios:
            for config in configs:
                rates = time_config(config, env_fns, args.repeats, args.seconds, args.warmup)
                results.append(Result(scenario, config.label, rates))
                console.print(f"  {scenario} | {config.label}: {statistics.median(rates):,.0f} steps/s")
        if results:
            print_table(console, results)
        if args.ppo:
            import torch

            torch.set_num_threads(args.torch_threads)
            for config in scenarios[0][2]:
                seconds = ppo_seconds(config, 16384)
                console.print(
                    f"PPO CartPole-v1 x8, 16384 steps, torch threads={args.torch_threads}: "
                    f"{config.label}: {seconds:.1f}s"
                )
        if args.extras:
            compiled_busy, compiled_released = idle_cpu("compiled")
            (actor_idle,) = idle_cpu("actor")
            console.print(
                f"Idle CartPole worker, CPU cores used: compiled graph built {compiled_busy:.2f}, "
                f"compiled after idle release {compiled_released:.2f}, actor calls {actor_idle:.2f}"
            )
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
