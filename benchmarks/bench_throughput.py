"""Throughput and end-to-end targets of ray-lab (issue 9, items 4 and 5), as one side-by-side table.

Sections (``--only a,b,...``; all by default):

A. CartPole-v1 x 8, random actions, env steps/s: SB3 ``DummyVecEnv``, ``SubprocVecEnv`` and ray-lab's
   ``RayVecEnv`` with the default ``WorkerOptions()``. Target: RayVecEnv >= 1.0x SubprocVecEnv.
B. Simulator-bound, light: 16 reference simulators (``--step-latency-ms``, ``--light``) through
   ``UnityEnv``, built as ray-lab builds an ``environment.unity`` section; RayVecEnv (default layout)
   and SubprocVecEnv, as steps/s and % of ideal (16 x 1000 / latency). Target: RayVecEnv >= 90 %.
   B also runs ``bench_floor.py``: the least Python client over echo players in RayVecEnv's shape
   (driver + 2 workers x 8), with Python players and, when ``cc`` exists, C players: the machine's floor.
   ``environment.unity.ros2_graph`` is ``off`` for B-D unless ``--ros2-graph`` says otherwise (the
   base install has no rclpy, so its ``auto`` is off too; with rclpy it mirrors every topic on DDS).
C. Simulator-bound, full reference simulator (sensors on), 16 envs: target RayVecEnv >= 1.0x Subproc.
D. Scaling: light simulators through RayVecEnv (default layout), 4/8/16/32 envs, % of ideal.
E. Idle CPU per env worker (CartPole x 8, 200 steps, then the window 1-3 s after the last call), default
   transport (target <= 0.05 cores) and, for reference, ``transport="compiled"``.
F. End to end, PPO CartPole-v1 100k steps (rl-zoo hyperparameters, ray-lab's embedded default), each one
   whole command timed from outside: plain SB3 with DummyVecEnv and with SubprocVecEnv
   (``benchmarks/sb3_plain.py``, with the same evaluation rounds as ray-lab's config and the model saved),
   ``ray-lab train`` (one eval round, W&B offline) and RLlib PPO
   (``benchmarks/rllib_ppo.py``). Targets: ray-lab <= 1.3x SB3 DummyVecEnv, <= 0.5x RLlib; ray-lab's
   start-up to the first env step (``startup_s`` in its ``summary.json``) <= 10 s.
G. SAC Pendulum-v1 (``configs/pendulum_sac.yaml``): ``ray-lab train`` vs plain SB3 SAC, whole commands.
   Target: ray-lab <= 1.1x plain SB3.
H. Many agents per player (issue 12): 16 agents of one light reference simulator
   (``environment.unity.agents_per_instance: 16``, one worker) against 16 single-agent players (default
   layout), both through RayVecEnv, env steps/s. Each player answers ``--step-latency-ms`` after a
   request, as one physics update of all its agents would take.

A-D alternate their configurations in ``--repeats`` rounds of ``--seconds`` each, so that load drift
hits all alike, and report medians. A-E run on a local Ray this script starts and stops (loopback only,
private temporary folder); F and G's commands start their own. A section that fails puts its error in
its row. ``--json PATH`` writes the rows and the machine. Run (from the repository root)::

    .venv/bin/python benchmarks/bench_throughput.py
    .venv/bin/python benchmarks/bench_throughput.py --quick            # smoke run, a few minutes
    .venv/bin/python benchmarks/bench_throughput.py --only a,e --repeats 7 --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import gymnasium as gym
import numpy as np
import ray
import stable_baselines3
import torch
from bench_vec_envs import cpu_seconds, machine
from rich.console import Console
from rich.table import Table
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from ray_lab.config.schema import EnvironmentSection
from ray_lab.envs.factory import make_env_factories
from ray_lab.workers import RayVecEnv, WorkerOptions
from ray_lab.workers.assignment import EnvAssignment
from unity_workers.spec import UnitySpec

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SECTIONS = "abcdefgh"
EnvFns = list[Callable[[], gym.Env]]
Builder = Callable[[], VecEnv]


# ---------------------------------------------------------------------------------------------- rows


@dataclass
class Check:
    """A row's value against a target: a ratio to a reference (``x`` or ``%``) or the value itself (``abs``)."""

    value: float | None
    versus: str
    limit: float | None = None  # None: shown, not judged
    at_least: bool = True
    style: str = "x"

    @property
    def passed(self) -> bool | None:
        if self.limit is None or self.value is None or not np.isfinite(self.value):
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def _fmt(self, number: float) -> str:
        return f"{number:.0%}" if self.style == "%" else f"{number:.2f}x" if self.style == "x" else f"{number:g}"

    def target_text(self) -> str:
        if self.limit is None:
            return ""
        sign = ">=" if self.at_least else "<="
        return f"{sign} {self._fmt(self.limit)} {self.versus}".strip()

    def ratio_text(self) -> str:
        if self.style == "abs":
            return ""
        return "n/a" if self.value is None else f"{self._fmt(self.value)} {self.versus}"


@dataclass
class Row:
    section: str
    scenario: str
    what: str
    value: float | None
    unit: str
    checks: list[Check] = field(default_factory=list)
    note: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool | None:
        verdicts = [c.passed for c in self.checks if c.limit is not None]
        if not verdicts or any(v is None for v in verdicts):
            return None
        return all(verdicts)

    def value_text(self) -> str:
        if self.value is None:
            return "n/a"
        if self.unit == "steps/s":
            return f"{self.value:,.0f}"
        return f"{self.value:.3f}" if self.unit == "cores" else f"{self.value:.1f}"

    def verdict(self) -> str:
        has_target = any(c.limit is not None for c in self.checks)
        return {True: "PASS", False: "FAIL", None: "n/a" if has_target else ""}[self.passed]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = "; ".join(t for c in self.checks if (t := c.target_text()))
        data["ratio"] = ", ".join(t for c in self.checks if (t := c.ratio_text()))
        data["passed"] = self.passed
        return data


@dataclass
class Context:
    """Resolved flags, the scratch folder and the rows so far."""

    repeats: int
    seconds: float
    warmup: float
    latency_ms: float
    ros2_graph: str
    ppo_steps: int
    sac_steps: int
    scaling: list[int]
    command_timeout_s: float
    scratch: Path
    console: Console
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        extra = ", ".join(t for c in row.checks if (t := c.ratio_text()))
        verdict = row.verdict()
        line = f"  [{row.section.upper()}] {row.scenario} | {row.what}: {row.value_text()} {row.unit}"
        line += f" ({extra})" if extra else ""
        line += f" {verdict}" if verdict else ""
        line += f" - {row.note}" if row.note else ""
        self.console.print(line, highlight=False, markup=False)
        return row

    def find(self, section: str, what: str) -> Row | None:
        return next((r for r in self.rows if r.section == section and r.what == what), None)


def error_text(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------- timing


@dataclass
class Timed:
    """Steps/s of one configuration, one entry per round; ``error`` once it failed."""

    rates: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.rates) if self.rates and self.error is None else None


def sample_actions(vec_env: VecEnv, count: int = 64) -> list[np.ndarray]:
    space = vec_env.action_space
    space.seed(0)
    return [np.array([space.sample() for _ in range(vec_env.num_envs)]) for _ in range(count)]


def steps_per_s(vec_env: VecEnv, actions: list[np.ndarray], seconds: float) -> float:
    """Env steps per second (all envs together) of stepping for at least ``seconds``."""
    steps = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        vec_env.step(actions[steps % len(actions)])
        steps += 1
        now = time.perf_counter()
        if now >= deadline:
            return steps * vec_env.num_envs / (now - start)


def close_quietly(vec_env: VecEnv) -> None:
    try:
        vec_env.close()
    except Exception as exc:  # a failed env must not hide the results of the others
        print(f"  (closing {type(vec_env).__name__} failed: {error_text(exc)})", file=sys.stderr)


def start_all(builders: dict[str, Builder], ctx: Context, results: dict[str, Timed]) -> dict[str, VecEnv]:
    """Build, reset and warm up every configuration; a failure is recorded in its result."""
    envs: dict[str, VecEnv] = {}
    for label, build in builders.items():
        try:
            vec_env = build()
            envs[label] = vec_env
            vec_env.seed(0)
            vec_env.reset()
            steps_per_s(vec_env, sample_actions(vec_env), ctx.warmup)
        except Exception as exc:
            results[label].error = error_text(exc)
    return envs


def time_rounds(builders: dict[str, Builder], ctx: Context, title: str) -> dict[str, Timed]:
    """Open every configuration, then time them in turn, ``ctx.repeats`` rounds of ``ctx.seconds``."""
    results = {label: Timed() for label in builders}
    envs = start_all(builders, ctx, results)
    try:
        actions = {label: sample_actions(vec_env) for label, vec_env in envs.items() if not results[label].error}
        for round_index in range(ctx.repeats):
            parts = []
            for label, vec_env in envs.items():
                if results[label].error is not None:
                    continue
                try:
                    results[label].rates.append(steps_per_s(vec_env, actions[label], ctx.seconds))
                    parts.append(f"{label} {results[label].rates[-1]:,.0f}")
                except Exception as exc:
                    results[label].error = error_text(exc)
            ctx.console.print(f"    {title} round {round_index + 1}/{ctx.repeats}: {', '.join(parts)}", markup=False)
    finally:
        for vec_env in envs.values():
            close_quietly(vec_env)
    return results


def rate_row(section: str, scenario: str, what: str, timed: Timed) -> Row:
    note = timed.error or ""
    if timed.error is None and len(timed.rates) > 1:
        note = f"min-max {min(timed.rates):,.0f}-{max(timed.rates):,.0f}"
    return Row(section, scenario, what, timed.median, "steps/s", note=note, samples=list(timed.rates))


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


# ---------------------------------------------------------------------------------------------- A: CartPole


def section_a(ctx: Context) -> None:
    scenario = "CartPole-v1 x8, random actions"
    fns: EnvFns = [functools.partial(gym.make, "CartPole-v1")] * 8
    builders: dict[str, Builder] = {
        "DummyVecEnv": lambda: DummyVecEnv(fns),
        "SubprocVecEnv": lambda: SubprocVecEnv(fns),
        "RayVecEnv default": lambda: RayVecEnv(fns, WorkerOptions()),
    }
    results = time_rounds(builders, ctx, "A")
    # For the choice of transport (docs/benchmarks.md): the same layout over Ray's own channels, each
    # timed alone afterwards (a compiled graph's idle workers poll a core each and would slow the others).
    for transport in ("compiled", "actor"):
        options = WorkerOptions(transport=transport)  # type: ignore[arg-type]
        alone: dict[str, Builder] = {
            f"RayVecEnv transport={transport} (reference)": lambda o=options: RayVecEnv(fns, o)
        }
        results.update(time_rounds(alone, ctx, "A"))
    base = results["SubprocVecEnv"].median
    for label, timed in results.items():
        row = rate_row("a", scenario, label, timed)
        if label != "SubprocVecEnv":
            limit = 1.0 if label == "RayVecEnv default" else None
            row.checks.append(Check(ratio(timed.median, base), "SubprocVecEnv", limit))
        ctx.add(row)


# ---------------------------------------------------------------------------------------------- B-D: simulators


def sim_factories(ctx: Context, count: int, light: bool, tag: str) -> EnvFns:
    """``count`` reference-simulator envs, built as ray-lab builds an ``environment.unity`` section."""
    extra = ["--step-latency-ms", f"{ctx.latency_ms:g}", *(["--light"] if light else [])]
    unity = UnitySpec(extra_args=extra, ros2_graph=ctx.ros2_graph)  # type: ignore[call-arg, arg-type]
    env = EnvironmentSection(unity=unity)  # type: ignore[call-arg]
    log_dir = ctx.scratch / "sim_logs" / tag
    assignment = EnvAssignment(count, WorkerOptions().envs_per_worker)
    return make_env_factories(env, assignment, log_dir=str(log_dir), run_name=f"bench-{tag}")


def agent_factories(ctx: Context, count: int, tag: str) -> EnvFns:
    """``count`` agents of one light reference simulator (``agents_per_instance``), as ray-lab builds them."""
    extra = ["--step-latency-ms", f"{ctx.latency_ms:g}", "--light"]
    unity = UnitySpec(extra_args=extra, ros2_graph=ctx.ros2_graph, agents_per_instance=count)  # type: ignore[call-arg, arg-type]
    env = EnvironmentSection(unity=unity)  # type: ignore[call-arg]
    assignment = EnvAssignment(count, count, count)
    return make_env_factories(env, assignment, log_dir=str(ctx.scratch / "sim_logs" / tag), run_name=f"bench-{tag}")


def section_h(ctx: Context) -> None:
    """H: 16 agents in one player (batch services) against 16 single-agent players, both through RayVecEnv."""
    count = 16
    scenario = f"ref. sim (light), {count} envs, {ctx.latency_ms:g} ms per player step"
    players, agents = f"{count} players (default layout)", f"1 player x {count} agents (1 worker)"
    builders: dict[str, Builder] = {
        players: lambda: RayVecEnv(sim_factories(ctx, count, True, "h-players"), sim_options()),
        agents: lambda: RayVecEnv(
            agent_factories(ctx, count, "h-agents"), WorkerOptions(name="bench-agents", envs_per_worker=count)
        ),
    }
    results = time_rounds(builders, ctx, "H")
    base = results[players].median
    for label, timed in results.items():
        row = rate_row("h", scenario, label, timed)
        if label != players:
            row.checks.append(Check(ratio(timed.median, base), f"{count} players"))
        row.note = ("1 player process" if label == agents else f"{count} player processes") + (
            f"; {row.note}" if row.note else ""
        )
        ctx.add(row)


def ideal(ctx: Context, count: int) -> float:
    return count * 1000.0 / ctx.latency_ms


def sim_section(ctx: Context, section: str, light: bool) -> None:
    """B (light) or C (full): 16 simulators through RayVecEnv (default layout) and SubprocVecEnv."""
    count = 16
    kind = "light" if light else "full"
    scenario = f"ref. sim ({kind}) x{count}, {ctx.latency_ms:g} ms/step"
    builders: dict[str, Builder] = {
        "RayVecEnv default": lambda: RayVecEnv(sim_factories(ctx, count, light, f"{section}-ray"), sim_options()),
        "SubprocVecEnv": lambda: SubprocVecEnv(sim_factories(ctx, count, light, f"{section}-subproc")),
    }
    results = time_rounds(builders, ctx, section.upper())
    ray_rate, subproc_rate = results["RayVecEnv default"].median, results["SubprocVecEnv"].median
    ray_row = rate_row(section, scenario, "RayVecEnv default", results["RayVecEnv default"])
    sub_row = rate_row(section, scenario, "SubprocVecEnv", results["SubprocVecEnv"])
    ray_ideal = Check(ratio(ray_rate, ideal(ctx, count)), "of ideal", 0.9 if light else None, style="%")
    ray_vs = Check(ratio(ray_rate, subproc_rate), "SubprocVecEnv", None if light else 1.0)
    ray_row.checks += [ray_ideal, ray_vs] if light else [ray_vs, ray_ideal]
    sub_row.checks.append(Check(ratio(subproc_rate, ideal(ctx, count)), "of ideal", style="%"))
    ctx.add(ray_row)
    ctx.add(sub_row)
    if light:
        floor_rows(ctx, section, scenario, count)


def floor_rows(ctx: Context, section: str, scenario: str, count: int) -> None:
    """B's floor, in the same run: the least Python client over echo players (``bench_floor.py``)."""
    steps = max(100, round(ctx.seconds * 1000 / ctx.latency_ms))
    argv = [sys.executable, str(BENCH / "bench_floor.py"), "--json", "--workers-only"]
    argv += ["--latency-ms", f"{ctx.latency_ms:g}", "--players", str(count), "--steps", str(steps)]
    argv += ["--repeats", str(ctx.repeats)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=ctx.command_timeout_s, check=True)
    except Exception as exc:
        what = "floor: bare Python client (bench_floor.py)"
        ctx.add(Row(section, scenario, what, None, "steps/s", note=error_text(exc)))
        return
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            found = json.loads(line.removeprefix("RESULT "))
            what = f"floor: bare Python client, driver + 2 workers, {found['players']} echo players"
            check = Check(found["of_ideal"], "of ideal", style="%")
            note = f"CPU per env step: client {found['client_us']} µs, player {found['player_us']} µs"
            ctx.add(Row(section, scenario, what, found["steps_per_s"], "steps/s", [check], note))


def sim_options() -> WorkerOptions:
    return WorkerOptions(name="bench-sim")


def section_d(ctx: Context) -> None:
    for count in ctx.scaling:
        scenario = f"scaling: ref. sim (light), {ctx.latency_ms:g} ms/step"
        factories = sim_factories(ctx, count, True, f"d-{count}")
        builders: dict[str, Builder] = {f"x{count}": functools.partial(RayVecEnv, factories, sim_options())}
        timed = time_rounds(builders, ctx, f"D x{count}")[f"x{count}"]
        row = rate_row("d", scenario, f"RayVecEnv default, {count} envs", timed)
        row.checks.append(Check(ratio(timed.median, ideal(ctx, count)), "of ideal", style="%"))
        workers = EnvAssignment(count, WorkerOptions().envs_per_worker).num_workers
        row.note = f"{workers} workers; ideal {ideal(ctx, count):,.0f}" + (f"; {row.note}" if row.note else "")
        ctx.add(row)


# ---------------------------------------------------------------------------------------------- E: idle CPU


def idle_worker_cpu(options: WorkerOptions, steps: int = 200) -> list[float]:
    """CPU (cores) of each CartPole worker over the window 1-3 s after the last call."""
    fns: EnvFns = [functools.partial(gym.make, "CartPole-v1")] * 8
    vec_env = RayVecEnv(fns, options)
    try:
        pids = [ray.get(actor.status.remote())["pid"] for actor in vec_env.workers]
        vec_env.reset()
        actions = sample_actions(vec_env)
        for i in range(steps):
            vec_env.step(actions[i % len(actions)])
        last = time.perf_counter()
        time.sleep(max(0.0, last + 1.0 - time.perf_counter()))
        before, t0 = [cpu_seconds(pid) for pid in pids], time.perf_counter()
        time.sleep(max(0.0, last + 3.0 - time.perf_counter()))
        after, t1 = [cpu_seconds(pid) for pid in pids], time.perf_counter()
        return [(a - b) / (t1 - t0) for a, b in zip(after, before, strict=True)]
    finally:
        close_quietly(vec_env)


def section_e(ctx: Context) -> None:
    variants = (
        ("default transport", WorkerOptions(), 0.05),
        ("transport=compiled", WorkerOptions(transport="compiled"), None),
    )
    for label, options, limit in variants:
        row = Row("e", "idle worker CPU, CartPole x8, 1-3 s after last call", f"RayVecEnv {label}, max", None, "cores")
        try:
            usage = idle_worker_cpu(options)
            row.value, row.samples = max(usage), usage
            row.note = "per worker: " + ", ".join(f"{u:.3f}" for u in usage)
        except Exception as exc:
            row.note = error_text(exc)
        row.checks.append(Check(row.value, "cores", limit, at_least=False, style="abs"))
        ctx.add(row)


# ---------------------------------------------------------------------------------------------- F-G: commands


def child_env(ray_temp_dir: Path) -> dict[str, str]:
    """The environment a user's shell gives the commands: W&B offline, local Ray in a private folder."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        WANDB_MODE="offline",
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_LAB_RAY_TEMP_DIR=str(ray_temp_dir),
    )
    return env


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def parse_result(path: Path) -> dict[str, Any]:
    """The ``RESULT {json}`` line the helper scripts print last ({} when there is none)."""
    for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    return {}


def run_command(ctx: Context, argv: list[str], slug: str) -> tuple[float, Path]:
    """Wall seconds of one whole command (start-up included); its output goes to ``<scratch>/<slug>.log``."""
    log = ctx.scratch / f"{slug}.log"
    ray_temp = ctx.scratch / f"ray_{slug}"
    ray_temp.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=REPO, env=child_env(ray_temp), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=ctx.command_timeout_s)
        except BaseException:  # timeout or Ctrl-C: end the command's whole process group (ours)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - start
    shutil.rmtree(ray_temp, ignore_errors=True)
    if code != 0:
        raise RuntimeError(f"exit code {code} ({log}): {log_tail(log)}")
    return wall, log


def raylab_argv(out_dir: Path, config: str | None, overrides: list[str]) -> list[str]:
    argv = [str(Path(sys.executable).parent / "ray-lab"), "train"]
    if config is not None:
        argv += ["--config", config]
    for item in [*overrides, f"experiment.output_dir={out_dir}"]:
        argv += ["--set", item]
    return argv


def read_summary(out_dir: Path) -> dict[str, Any]:
    found = sorted(out_dir.rglob("summary.json"))
    return dict(json.loads(found[0].read_text(encoding="utf-8"))) if found else {}


def command_row(ctx: Context, section: str, scenario: str, what: str, argv: list[str], slug: str) -> Row:
    """Run one whole command; its row holds the wall time (or the error) and what the command reported."""
    try:
        wall, log = run_command(ctx, argv, slug)
    except Exception as exc:
        return Row(section, scenario, what, None, "s", note=error_text(exc))
    result = parse_result(log)
    parts = [f"{result['timesteps']:,} steps" if "timesteps" in result else ""]
    parts += [f"{key} {result[key]}" for key in ("learn_s", "train_s", "iterations", "device") if key in result]
    return Row(section, scenario, what, wall, "s", note=", ".join(p for p in parts if p))


def raylab_row(ctx: Context, section: str, scenario: str, what: str, argv: list[str], out_dir: Path) -> Row:
    row = command_row(ctx, section, scenario, what, argv, f"{section}_raylab")
    summary = read_summary(out_dir) if row.value is not None else {}
    if summary:
        keys = ("timesteps", "wall_time_s", "startup_s", "eval_rounds", "device")
        row.note = ", ".join(f"{k} {summary[k]}" for k in keys if summary.get(k) is not None)
    return row


def startup_row(section: str, scenario: str, raylab: Row, out_dir: Path) -> Row:
    summary = read_summary(out_dir) if raylab.value is not None else {}
    value = summary.get("startup_s")
    note = "" if value is not None else ("no startup_s in summary.json" if summary else "no summary.json")
    check = Check(value, "s", 10.0, at_least=False, style="abs")
    return Row(section, scenario, "ray-lab start-up to first env step", value, "s", [check], note)


def section_f(ctx: Context) -> None:
    steps = ctx.ppo_steps
    scenario = f"PPO CartPole-v1 {steps:,} steps, whole command"
    plain = [sys.executable, str(BENCH / "sb3_plain.py"), "ppo", "--steps", str(steps)]
    plain += ["--eval-rounds", "1", "--eval-episodes", "10", "--save", str(ctx.scratch / "f_sb3_model.zip")]
    dummy = ctx.add(command_row(ctx, "f", scenario, "plain SB3, DummyVecEnv", [*plain, "--vec", "dummy"], "f_dummy"))
    subproc = command_row(ctx, "f", scenario, "plain SB3, SubprocVecEnv", [*plain, "--vec", "subproc"], "f_subproc")
    subproc.checks.append(Check(ratio(subproc.value, dummy.value), "SB3 Dummy"))
    ctx.add(subproc)
    rllib_argv = [sys.executable, str(BENCH / "rllib_ppo.py"), "--steps", str(steps)]
    rllib_argv += ["--ray-temp-dir", str(ctx.scratch / "ray_f_rllib")]
    rllib = ctx.add(command_row(ctx, "f", scenario, "RLlib PPO (2 CPUs, 1 env runner x 8 envs)", rllib_argv, "f_rllib"))
    out_dir = ctx.scratch / "f_raylab_runs"
    overrides = ["training.training.eval.num_evals=1"]
    if steps != 100_000:
        overrides.append(f"training.training.total_timesteps={steps}")
    what = "ray-lab train (embedded default, 1 eval round)"
    raylab = raylab_row(ctx, "f", scenario, what, raylab_argv(out_dir, None, overrides), out_dir)
    raylab.checks.append(Check(ratio(raylab.value, dummy.value), "SB3 Dummy", 1.3, at_least=False))
    raylab.checks.append(Check(ratio(raylab.value, rllib.value), "RLlib", 0.5, at_least=False))
    ctx.add(raylab)
    ctx.add(startup_row("f", scenario, raylab, out_dir))


def section_g(ctx: Context) -> None:
    steps = ctx.sac_steps
    scenario = f"SAC Pendulum-v1 {steps:,} steps, whole command"
    plain_argv = [sys.executable, str(BENCH / "sb3_plain.py"), "sac", "--steps", str(steps)]
    # the same evaluation work as configs/pendulum_sac.yaml: 5 rounds of 10 deterministic episodes
    plain_argv += ["--eval-rounds", "5", "--eval-episodes", "10", "--save", str(ctx.scratch / "g_sb3_model.zip")]
    plain = ctx.add(command_row(ctx, "g", scenario, "plain SB3 SAC, DummyVecEnv x1", plain_argv, "g_plain"))
    out_dir = ctx.scratch / "g_raylab_runs"
    overrides = [] if steps == 20_000 else [f"training.training.total_timesteps={steps}"]
    argv = raylab_argv(out_dir, "configs/pendulum_sac.yaml", overrides)
    raylab = raylab_row(ctx, "g", scenario, "ray-lab train configs/pendulum_sac.yaml", argv, out_dir)
    raylab.checks.append(Check(ratio(raylab.value, plain.value), "plain SB3", 1.1, at_least=False))
    ctx.add(raylab)


# ---------------------------------------------------------------------------------------------- main

SECTION_RUNNERS: dict[str, Callable[[Context], None]] = {
    "a": section_a,
    "b": lambda ctx: sim_section(ctx, "b", light=True),
    "c": lambda ctx: sim_section(ctx, "c", light=False),
    "d": section_d,
    "e": section_e,
    "f": section_f,
    "g": section_g,
    "h": section_h,
}


def run_section(ctx: Context, letter: str) -> None:
    ctx.console.print(f"[bold]Section {letter.upper()}[/bold]")
    try:
        SECTION_RUNNERS[letter](ctx)
    except Exception as exc:  # one broken section must not end the others
        ctx.add(Row(letter, "section failed", "-", None, "", note=error_text(exc)))


@contextmanager
def local_ray(ctx: Context) -> Iterator[None]:
    """A private local Ray for sections A-E: loopback only, in the scratch folder."""
    ray.init(
        num_cpus=max(os.cpu_count() or 2, 2),
        _temp_dir=str(ctx.scratch / "ray"),
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


def run_all(ctx: Context, selected: list[str]) -> None:
    in_ray = [s for s in selected if s in "abcdeh"]
    if in_ray:
        with local_ray(ctx):
            for letter in in_ray:
                run_section(ctx, letter)
    for letter in selected:
        if letter not in in_ray:
            run_section(ctx, letter)


def print_table(ctx: Context, machine_line: str) -> None:
    table = Table(title="ray-lab throughput and end-to-end targets (medians of repeats)", show_lines=False)
    for name, justify in (("", "left"), ("scenario", "left"), ("what", "left"), ("value", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("unit", "target", "ratio", "result", "note"):
        table.add_column(name, overflow="fold")
    previous = None
    for row in ctx.rows:
        if previous is not None and row.section != previous:
            table.add_section()
        previous = row.section
        target = "; ".join(t for c in row.checks if (t := c.target_text()))
        ratios = ", ".join(t for c in row.checks if (t := c.ratio_text()))
        verdict = {"PASS": "[green]PASS[/green]", "FAIL": "[red]FAIL[/red]"}.get(row.verdict(), row.verdict())
        note = row.note if len(row.note) <= 160 else row.note[:157] + "..."
        cells = (row.section.upper(), row.scenario, row.what, row.value_text(), row.unit, target, ratios)
        table.add_row(*cells, verdict, note.replace("[", r"\["))
    ctx.console.print(table)
    ctx.console.print(f"[bold]Machine:[/bold] {machine_line}", highlight=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 x 0.5 s, F 4k steps, G 1.5k, D 4 and 8")
    parser.add_argument("--only", default=SECTIONS, help="sections to run, e.g. a,b,e (default: all)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds of A-D (default 5; quick 1)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per timed run (default 2; quick 0.5)")
    parser.add_argument("--latency-ms", type=float, default=10.0, help="--step-latency-ms of the simulators")
    parser.add_argument(
        "--ros2-graph",
        choices=["auto", "on", "off"],
        default="off",
        help="environment.unity.ros2_graph of B-D (default off: a base install has no rclpy, so auto is off there)",
    )
    parser.add_argument("--ppo-steps", type=int, default=None, help="F's timesteps (default 100000; quick 4000)")
    parser.add_argument("--sac-steps", type=int, default=None, help="G's timesteps (default 20000; quick 1500)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows and the machine here")
    args = parser.parse_args(argv)
    letters = [c for c in args.only.lower() if c not in ", "]
    unknown = sorted(set(letters) - set(SECTIONS))
    if unknown or not letters:
        parser.error(f"--only takes letters from {','.join(SECTIONS)}, got {args.only!r}")
    args.only = [s for s in SECTIONS if s in letters]
    if args.latency_ms <= 0:
        parser.error("--latency-ms must be > 0")
    return args


def make_context(args: argparse.Namespace, console: Console) -> Context:
    quick = args.quick
    seconds = args.seconds if args.seconds is not None else (0.5 if quick else 2.0)
    return Context(
        repeats=max(1, args.repeats if args.repeats is not None else (1 if quick else 5)),
        seconds=seconds,
        warmup=min(1.0, seconds) if not quick else 0.2,
        latency_ms=args.latency_ms,
        ros2_graph=args.ros2_graph,
        ppo_steps=args.ppo_steps or (4_000 if quick else 100_000),
        sac_steps=args.sac_steps or (1_500 if quick else 20_000),
        scaling=[4, 8] if quick else [4, 8, 16, 32],
        command_timeout_s=900.0 if quick else 3600.0,
        scratch=Path(tempfile.mkdtemp(prefix="rl_tp_", dir="/tmp")),
        console=console,
    )


def machine_line() -> str:
    """``bench_vec_envs.machine()`` plus the Stable-Baselines3 and torch versions."""
    versions = f", stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__}, load average"
    return machine().replace(", load average", versions, 1)


def write_json(path: Path, ctx: Context, line: str, loads: tuple[float, float], args: argparse.Namespace) -> None:
    data = {
        "machine": {
            "line": line,
            "cpus": os.cpu_count(),
            "load_average_start": round(loads[0], 2),
            "load_average_end": round(loads[1], 2),
        },
        "settings": {
            "sections": args.only,
            "quick": args.quick,
            **{
                k: getattr(ctx, k)
                for k in ("repeats", "seconds", "warmup", "latency_ms", "ros2_graph", "ppo_steps", "sac_steps")
            },
            "scaling": ctx.scaling,
        },
        "rows": [finite(row.to_json()) for row in ctx.rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")


def finite(value: Any) -> Any:
    """JSON has no NaN: NaN and infinities become None, recursively."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def main() -> None:
    args = parse_args()
    console = Console(width=max(Console().width, 180))
    line, load_start = machine_line(), os.getloadavg()[0]
    console.print(f"[bold]Machine:[/bold] {line}", highlight=False)
    ctx = make_context(args, console)
    try:
        run_all(ctx, args.only)
    finally:
        load_end = os.getloadavg()[0]
        line = f"{line}, {load_end:.2f} at end"
        print_table(ctx, line)
        if args.json is not None:
            write_json(args.json, ctx, line, (load_start, load_end), args)
            console.print(f"Rows written to {args.json}")
        failed = [r for r in ctx.rows if r.value is None and r.note]
        if failed:
            console.print(f"Logs of this run (kept because {len(failed)} rows have no value): {ctx.scratch}")
        else:
            shutil.rmtree(ctx.scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
