"""A worker's simulator-backed envs step together: real reference-sim players, real sockets, real Ray.

Each player sleeps ``LATENCY_S`` per answer (``--step-latency-ms``) and publishes no sensors
(``--light``), so a vector step of ``K`` split-phase envs costs about one latency, a serial one ``K``.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import ray

from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import EnvFactory, UnityPlacement
from ray_lab.envs.testing import SleepEnv
from ray_lab.learner.plan import plan_training
from ray_lab.workers.env_worker import EnvWorker, EnvWorkerActor
from ray_lab.workers.errors import to_worker_error
from ray_lab.workers.obs_format import ObsFormat
from ray_lab.workers.options import WorkerOptions
from ray_lab.workers.protocol import Command, decode_reply, encode_request, is_failure
from ray_lab.workers.step_codec import DecodedSteps, StepDecoder
from ray_lab.workers.stepping import splittable
from unity_workers.envs import UnityEnv
from unity_workers.spec import UnitySpec

K = 3
LATENCY_S = 0.25
# Serial stepping cannot take less than K latencies (0.75 s); together they take one (0.25 s) plus the
# overhead, which a loaded 2-core machine may stretch by a few hundred ms. The bound sits between.
CONCURRENT_BOUND_S = (K - 0.5) * LATENCY_S
ACTION = np.array([0.5, 0.2], dtype=np.float32)

MakeWorker = Callable[..., EnvWorker]


def unity_factories(
    log_dir: Path,
    k: int = K,
    *,
    latency_s: float = LATENCY_S,
    faults: dict[int, list[str]] | None = None,
    worker_index: int = 0,
    **spec: Any,
) -> list[EnvFactory]:
    """``k`` factories of (monitored) UnityEnvs on light reference sims; ``faults``: extra args per env."""
    factories = []
    for j in range(k):
        extra = ["--light", "--step-latency-ms", str(latency_s * 1000), *(faults or {}).get(j, [])]
        unity = UnitySpec(extra_args=extra, connect_timeout_s=30, ros2_graph="off", **spec)
        placement = UnityPlacement(worker_index, j, j, log_dir=str(log_dir))
        factories.append(EnvFactory("ReferenceNav", unity=unity, placement=placement))
    return factories


@pytest.fixture
def make_worker() -> Iterator[MakeWorker]:
    """In-process EnvWorkers, closed (players and all) after the test."""
    workers: list[EnvWorker] = []

    def make(factories: Sequence[Any], concurrency: str = "auto", worker_index: int = 0) -> EnvWorker:
        worker = EnvWorker(factories, worker_index, 0, env_concurrency=concurrency)  # type: ignore[arg-type]
        workers.append(worker)
        assert worker.startup_failure is None, worker.startup_failure
        return worker

    yield make
    for worker in workers:
        worker.close()


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def median_step_s(worker: EnvWorker, steps: int = 4) -> float:
    return statistics.median(timed(lambda: worker.step([ACTION] * len(worker.envs)))[1] for _ in range(steps))


# ---------------------------------------------------------------------- the option
def test_env_concurrency_is_checked_and_reaches_the_worker_options() -> None:
    with pytest.raises(ValueError, match=r"env_concurrency must be one of \['auto', 'serial', 'threads'\], got 'x'"):
        WorkerOptions(env_concurrency="x")  # type: ignore[arg-type]
    worker = EnvWorker([SleepEnv], env_concurrency="x")  # type: ignore[arg-type]
    assert worker.startup_failure is not None and "env_concurrency must be one of" in worker.startup_failure.message
    assert WorkerOptions().env_concurrency == "auto"
    config = ExperimentConfig.model_validate({"workers": {"env_concurrency": "threads"}})
    plan = plan_training(config, 0.0)
    assert plan.train.options.env_concurrency == "threads"
    assert plan.eval is not None and plan.eval.options.env_concurrency == "threads"
    with pytest.raises(ValueError, match="env_concurrency"):
        ExperimentConfig.model_validate({"workers": {"env_concurrency": "parallel"}})


# ---------------------------------------------------------------------- concurrency
class RemoteWorker:
    """An EnvWorkerActor driven through the wire protocol, as a vector env's transport drives it."""

    def __init__(self, factories: Sequence[Any], concurrency: str) -> None:
        self.actor = EnvWorkerActor.options(num_cpus=0.1).remote(list(factories), 0, 0, env_concurrency=concurrency)
        ok, described = decode_reply(ray.get(self.actor.describe.remote(), timeout=120))
        assert ok, described
        space, _, self.n = described
        self.decoder = StepDecoder(ObsFormat.from_space(space), [self.n])

    def _send(self, request: bytes) -> bytes:
        reply: bytes = ray.get(self.actor.handle.remote(request), timeout=60)
        if is_failure(reply):
            raise to_worker_error(decode_reply(reply)[1])
        return reply

    def call(self, command: Command, payload: Any = None) -> Any:
        return decode_reply(self._send(encode_request(command, payload)))[1]

    def step(self, actions: Any) -> DecodedSteps:
        return self.decoder.decode([self._send(encode_request(Command.STEP, actions))])


def test_ray_worker_steps_its_ros_tcp_players_together(ray_session: None, tmp_path: Path) -> None:
    worker = RemoteWorker(unity_factories(tmp_path), "auto")
    try:
        resets = [timed(lambda: worker.call(Command.RESET, ([1, 1, 1], None))) for _ in range(3)]
        (obs, infos), _ = resets[-1]
        assert obs.shape == (K, 20) and [info["restarts"] for info in infos] == [0] * K
        assert min(reset_s for _, reset_s in resets) < CONCURRENT_BOUND_S  # the resets were sent together too
        actions = np.stack([ACTION] * K)
        step_s = statistics.median(timed(lambda: worker.step(actions))[1] for _ in range(5))
        assert step_s < CONCURRENT_BOUND_S, f"a vector step took {step_s:.3f} s for {K} x {LATENCY_S} s players"
        decoded = worker.step(actions)
        assert not decoded.dones.any() and (decoded.obs == decoded.obs[0]).all()  # same seed, same actions
    finally:
        worker.call(Command.CLOSE)
        ray.kill(worker.actor)


def test_serial_mode_takes_one_simulator_step_per_env(make_worker: MakeWorker, tmp_path: Path) -> None:
    worker = make_worker(unity_factories(tmp_path), "serial")
    _, reset_s = timed(lambda: worker.reset(seeds=[1, 1, 1]))
    assert reset_s >= K * LATENCY_S * 0.95 and median_step_s(worker) >= K * LATENCY_S * 0.95


def test_grpc_players_step_together(make_worker: MakeWorker, tmp_path: Path) -> None:
    worker = make_worker(unity_factories(tmp_path, protocol="grpc"))
    assert all(splittable(env) for env in worker.envs)
    resets = [timed(lambda: worker.reset(seeds=[2, 2, 2])) for _ in range(3)]
    (obs, _), _ = resets[-1]
    assert min(reset_s for _, reset_s in resets) < CONCURRENT_BOUND_S and (obs == obs[0]).all()
    assert median_step_s(worker) < CONCURRENT_BOUND_S


def test_threads_mode_steps_sleep_envs_together(make_worker: MakeWorker) -> None:
    factories = [functools.partial(SleepEnv, sleep_s=LATENCY_S, episode_length=3)] * K
    threaded, serial = make_worker(factories, "threads"), make_worker(factories, "serial")
    for worker in (threaded, serial):
        worker.reset(seeds=[5, 6, 7])
    times: tuple[list[float], list[float]] = ([], [])
    for t in range(3):
        mine, mine_s = timed(lambda: threaded.step([1] * K))
        theirs, theirs_s = timed(lambda: serial.step([1] * K))
        times[0].append(mine_s)
        times[1].append(theirs_s)
        np.testing.assert_array_equal(mine.obs, theirs.obs)
        np.testing.assert_array_equal(mine.rewards, theirs.rewards)
        assert mine.dones.tolist() == theirs.dones.tolist() == [t == 2] * K
        assert mine.reset_infos == theirs.reset_infos
    assert statistics.median(times[0]) < CONCURRENT_BOUND_S and min(times[1]) >= K * LATENCY_S * 0.95
    assert mine.infos is not None and theirs.infos is not None
    for info_m, info_s in zip(mine.infos, theirs.infos, strict=True):
        np.testing.assert_array_equal(info_m["terminal_observation"], info_s["terminal_observation"])


# ---------------------------------------------------------------------- faults
def assert_intact(result: Any, good: Sequence[int], previous_obs: np.ndarray) -> None:
    """The envs in ``good`` stepped normally, identically (same seed, same actions), and moved on."""
    assert result.infos is not None
    first = good[0]
    for i in good:
        assert not result.dones[i] and "env_restarted" not in result.infos[i]
        assert result.infos[i]["restarts"] == 0
        np.testing.assert_array_equal(result.obs[i], result.obs[first])
        assert result.rewards[i] == result.rewards[first]
    assert not np.array_equal(result.obs[first], previous_obs[first])


def assert_restarted(result: Any, i: int, previous_obs: np.ndarray, cause: str, restarts: int = 1) -> None:
    """Env ``i`` faulted: its episode ended truncated at its last good observation, and a new one began."""
    assert result.infos is not None
    info = result.infos[i]
    assert result.dones[i] and result.truncated[i] and result.rewards[i] == 0.0
    assert info["env_restarted"] is True and info["restarts"] == restarts and cause in info["restart_cause"]
    np.testing.assert_array_equal(info["terminal_observation"], previous_obs[i])
    assert result.reset_infos[i]["restarts"] == restarts


def test_crashed_player_truncates_only_its_env(make_worker: MakeWorker, tmp_path: Path) -> None:
    faults = {1: ["--crash-after-steps", "3"]}
    worker = make_worker(unity_factories(tmp_path, latency_s=0.02, faults=faults))
    obs, _ = worker.reset(seeds=[4, 4, 4])
    for step in range(1, 7):
        result = worker.step([ACTION] * K)
        if step == 4:
            assert_restarted(result, 1, obs, "ConnectionError")
            assert_intact(result, [0, 2], obs)
        else:
            assert_intact(result, [0, 1, 2] if step < 4 else [0, 2], obs)
            assert step < 4 or (not result.dones[1] and result.infos is not None and result.infos[1]["restarts"] == 1)
        obs = result.obs
    unity = worker.envs[1].unwrapped
    assert isinstance(unity, UnityEnv) and unity.restarts == 1
    crashed, restarted = unity.log_paths  # each start has its own log: the crash log survives the restart
    assert "crash injected" in crashed.read_text() and "crash injected" not in restarted.read_text()


def test_hung_player_restarts_then_its_quota_error_names_the_worker(make_worker: MakeWorker, tmp_path: Path) -> None:
    faults = {2: ["--hang-after-steps", "2"]}
    spec = {"step_timeout_s": 0.5, "max_restarts": 1}
    worker = make_worker(unity_factories(tmp_path, latency_s=0.02, faults=faults, worker_index=5, **spec), "auto", 5)
    obs, _ = worker.reset(seeds=[3, 3, 3])
    for _ in range(2):
        result = worker.step([ACTION] * K)
        assert_intact(result, [0, 1, 2], obs)
        obs = result.obs
    result, step_s = timed(lambda: worker.step([ACTION] * K))
    assert 0.5 <= step_s < 10.0
    assert_restarted(result, 2, obs, "TimeoutError")
    assert_intact(result, [0, 1], obs)
    for _ in range(2):  # the new player answers two steps, then hangs again: the quota (1 restart) is spent
        result = worker.step([ACTION] * K)
        assert not result.dones.any()
    ok, failure = decode_reply(worker.handle(encode_request(Command.STEP, [ACTION] * K)))
    assert not ok and failure.worker_index == 5 and list(failure.env_indices) == [2] and failure.command == "step"
    assert "worker 5" in failure.message and "restart quota exceeded" in failure.message


# ---------------------------------------------------------------------- wrappers and the env itself
def monitored_unity_env(log_dir: Path) -> gym.Env:
    """A UnityEnv in SB3's Monitor (the project's factories use gymnasium's RecordEpisodeStatistics)."""
    from stable_baselines3.common.monitor import Monitor

    return Monitor(UnityEnv(log_dir=str(log_dir), connect_timeout_s=30, ros2_graph="off", extra_args=["--light"]))


def test_auto_mode_keeps_episode_statistics(make_worker: MakeWorker, tmp_path: Path) -> None:
    spec = {"extra_args": ["--light"], "connect_timeout_s": 30, "ros2_graph": "off", "log_dir": str(tmp_path / "made")}
    made = EnvFactory("unity_workers.envs:ray_lab/ReferenceNav-v0", env_kwargs=spec)  # gym.make: + env checker
    worker = make_worker([functools.partial(monitored_unity_env, tmp_path), made])
    assert all(splittable(env) for env in worker.envs)  # Monitor, RecordEpisodeStatistics, gym.make's wrappers
    worker.reset(seeds=[10, 11])
    returns, lengths, episodes = [0.0, 0.0], [0, 0], [0, 0]
    straight = np.array([1.0, 0.0], dtype=np.float32)  # drives into a wall (or the target) within 150 steps
    for _ in range(200):
        result = worker.step([straight, straight])
        for i in range(2):
            returns[i] += float(result.rewards[i])
            lengths[i] += 1
            if result.dones[i]:
                assert result.infos is not None
                episode = result.infos[i]["episode"]
                assert episode["l"] == lengths[i] and episode["r"] == pytest.approx(returns[i], abs=1e-3)
                returns[i], lengths[i], episodes[i] = 0.0, 0, episodes[i] + 1
        if min(episodes) >= 1:
            break
    assert min(episodes) >= 1, episodes


def test_unity_env_guards_its_request_in_flight(tmp_path: Path) -> None:
    env = UnityEnv(log_dir=str(tmp_path), connect_timeout_s=30, ros2_graph="off", extra_args=["--light"])
    try:
        env.reset(seed=0)
        other = np.array([-1.0, 0.0], dtype=np.float32)
        env.step_send(ACTION)
        with pytest.raises(RuntimeError, match="does not match the action in flight") as caught:
            env.step(other)
        assert "[-1.,  0.]" in str(caught.value) and "[0.5, 0.2]" in str(caught.value)  # both actions
        with pytest.raises(RuntimeError, match=r"step_send\(\) while a step is in flight"):
            env.step_send(ACTION)
        _, _, _, truncated, info = env.step(ACTION.copy())  # an equal action collects it
        assert not truncated and info["restarts"] == 0
        env.reset_send(seed=1)
        with pytest.raises(RuntimeError, match=r"reset\(seed=2\) does not match .*reset_send\(seed=1\)"):
            env.reset(seed=2)
        with pytest.raises(RuntimeError, match="while a reset is in flight"):
            env.step(ACTION)
        first, _ = env.reset(seed=1)
        env.step_send(ACTION)
        again, _ = env.reset(seed=1)  # a reset collects and drops the step in flight
        np.testing.assert_array_equal(first, again)
        assert env.session is not None and env.session.bridge.publications() == {}  # type: ignore[attr-defined]
        env.step_send(ACTION)
    finally:
        env.close()  # with a step in flight
    env.close()
    assert env.process is None and env.session is None


class Halve(gym.ActionWrapper):
    """An action wrapper: the action the base env gets is not the one the worker was given."""

    def action(self, action: Any) -> Any:
        return np.asarray(action) / 2


def test_auto_mode_steps_other_envs_serially_in_the_same_vector_step(make_worker: MakeWorker, tmp_path: Path) -> None:
    sleepy = functools.partial(SleepEnv, sleep_s=0.0, episode_length=2, obs_dim=20)
    worker = make_worker([unity_factories(tmp_path, 1, latency_s=0.0)[0], sleepy])
    assert [splittable(env) for env in worker.envs] == [True, False]
    assert not splittable(Halve(worker.envs[0]))  # it might change actions: stepped serially
    reference = sleepy()
    expected, _ = reference.reset(seed=8)
    obs, infos = worker.reset(seeds=[7, 8])
    np.testing.assert_array_equal(obs[1], expected)
    assert infos[0] == {"restarts": 0} and infos[1] == {"seed": 8}
    for t in range(3):
        result = worker.step([ACTION, 1])
        expected, reward, _, truncated, _ = reference.step(1)
        if truncated:
            assert result.infos is not None
            np.testing.assert_array_equal(result.infos[1]["terminal_observation"], expected)
            expected, _ = reference.reset()
            assert result.reset_infos == {1: {"seed": None}}
        np.testing.assert_array_equal(result.obs[1], expected)
        assert result.rewards[1] == np.float32(reward) and result.dones.tolist() == [False, t == 1]
