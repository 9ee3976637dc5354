"""RayVecEnv on real Ray: every transport against DummyVecEnv, errors, timeouts, scheduling.

Each RayVecEnv start costs actor start-up (seconds on 2 cores), so one vec env per transport runs
a whole scenario: identical trajectories, misuse errors, worker errors, and last a step timeout
(after which the vec env can only be closed).
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import ray
from ray.dag import DAGContext
from ray.util.placement_group import placement_group, remove_placement_group
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize, VecVideoRecorder

from ray_lab.envs.testing import FailingEnv, SleepEnv
from ray_lab.workers import (
    AsyncState,
    RayVecEnv,
    TransportError,
    VecEnvStateError,
    WorkerError,
    WorkerOptions,
    WorkerTimeoutError,
    compiled_transport,
    worker_bundles,
)
from ray_lab.workers.channel import TOKEN_BYTES, connect, recv_frame, send_frame
from ray_lab.workers.env_worker import EnvWorkerActor
from ray_lab.workers.protocol import Command, decode_reply, encode_request

pytestmark = [
    pytest.mark.usefixtures("ray_session"),
    # Ray's CompiledDAG.__del__ trips over a graph that failed to compile (a Ray quirk, harmless);
    # the garbage collector may run it during any later test.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*CompiledDAG.__del__:pytest.PytestUnraisableExceptionWarning"
    ),
]

N_ENVS = 6  # 4 + 2 envs over two workers
STEP_TIMEOUT_S = 3.0


def sleep_env_fns(n: int = N_ENVS, episode_length: int = 7) -> list[Any]:
    return [functools.partial(SleepEnv, sleep_s=0.0, episode_length=episode_length + i % 3) for i in range(n)]


def assert_same_step(ray_out: tuple[Any, ...], dummy_out: tuple[Any, ...]) -> None:
    (obs_r, rew_r, done_r, infos_r), (obs_d, rew_d, done_d, infos_d) = ray_out, dummy_out
    np.testing.assert_array_equal(obs_r, obs_d)
    assert obs_r.dtype == obs_d.dtype and obs_r.flags.writeable
    np.testing.assert_array_equal(rew_r, rew_d)
    assert rew_r.dtype == rew_d.dtype == np.float32
    np.testing.assert_array_equal(done_r, done_d)
    assert done_r.dtype == done_d.dtype == bool
    assert len(infos_r) == len(infos_d)
    for info_r, info_d in zip(infos_r, infos_d, strict=True):
        assert info_r.keys() == info_d.keys()
        assert info_r["TimeLimit.truncated"] == info_d["TimeLimit.truncated"]
        if "terminal_observation" in info_d:
            np.testing.assert_array_equal(info_r["terminal_observation"], info_d["terminal_observation"])


def check_same_trajectories(venv: RayVecEnv, steps: int = 40) -> None:
    dummy = DummyVecEnv(sleep_env_fns())
    rng = np.random.default_rng(0)
    for vec in (venv, dummy):
        vec.seed(123)
        vec.set_options({"unused": 1})
    obs: Any = venv.reset()
    np.testing.assert_array_equal(obs, dummy.reset())
    assert obs.flags.writeable
    assert venv.reset_infos == dummy.reset_infos == [{"seed": 123 + i} for i in range(N_ENVS)]
    for _ in range(steps):
        actions = rng.integers(0, 2, size=N_ENVS)
        assert_same_step(venv.step(actions), dummy.step(actions))
        assert venv.reset_infos == dummy.reset_infos
    dummy.close()


def check_misuse_errors(venv: RayVecEnv) -> None:
    with pytest.raises(VecEnvStateError, match=r"step_wait\(\) called without a pending step_async"):
        venv.step_wait()
    with pytest.raises(ValueError, match=rf"expected {N_ENVS} actions \(one per env\), got 5"):
        venv.step_async(np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="got a scalar"):
        venv.step_async(np.int64(0))  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="env index 6 out of range for 6 envs"):
        venv.get_attr("sleep_s", indices=[6])
    venv.step_async(np.zeros(N_ENVS, dtype=np.int64))
    assert venv.state is AsyncState.WAITING_STEP
    with pytest.raises(VecEnvStateError, match="step is pending"):
        venv.step_async(np.zeros(N_ENVS, dtype=np.int64))
    with pytest.raises(VecEnvStateError, match="step is pending"):
        venv.get_attr("sleep_s")
    venv.reset()  # a pending step is discarded by reset(), like SB3 documents
    assert venv.state is AsyncState.DEFAULT


def check_worker_errors(venv: RayVecEnv) -> None:
    venv.set_attr("fail_in", "step", indices=[5])
    with pytest.raises(WorkerError) as info:
        venv.step(np.zeros(N_ENVS, dtype=np.int64))
    error = info.value
    assert isinstance(error, ValueError)  # the original exception type is kept
    assert error.worker_index == 1 and error.env_indices == [5] and error.command == "step"
    assert "SleepEnv: failure injected in step" in error.remote_traceback
    assert "Traceback" in error.remote_traceback and "testing.py" in error.remote_traceback
    assert "worker 1" in str(error) and venv.worker_names[1] in str(error)
    venv.set_attr("fail_in", None, indices=[5])
    venv.reset()
    venv.step(np.zeros(N_ENVS, dtype=np.int64))  # usable again

    venv.set_attr("fail_in", "reset", indices=[2])
    with pytest.raises(WorkerError, match="failure injected in reset") as info:
        venv.reset()
    assert info.value.worker_index == 0 and info.value.env_indices == [2]
    venv.set_attr("fail_in", None, indices=[2])

    with pytest.raises(AttributeError):  # has_attr relies on this
        venv.get_attr("no_such_attribute", indices=[4])
    assert not venv.has_attr("no_such_attribute")
    assert venv.env_method("get_wrapper_attr", "episode_length", indices=[-1, 0]) == [9, 7]


def check_idle_release(venv: RayVecEnv) -> None:
    """The compiled graph is torn down when idle (its loops busy-poll) and rebuilt by a step."""
    transport: Any = venv._transport
    deadline = time.monotonic() + 15
    while transport.graph_active and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not transport.graph_active
    assert venv.get_attr("episode_length", indices=[0, 5]) == [7, 9]  # plain actor calls meanwhile
    assert not transport.graph_active
    venv.reset()
    venv.step(np.zeros(N_ENVS, dtype=np.int64))
    assert transport.graph_active


def check_step_timeout(venv: RayVecEnv) -> None:
    venv.reset()
    venv.set_attr("sleep_s", 60.0, indices=[4])
    start = time.monotonic()
    with pytest.raises(WorkerTimeoutError, match="worker 1") as info:
        venv.step(np.zeros(N_ENVS, dtype=np.int64))
    assert STEP_TIMEOUT_S <= time.monotonic() - start < STEP_TIMEOUT_S + 10
    assert info.value.worker_indices == [1] and info.value.command == "step"
    assert isinstance(info.value, TimeoutError)
    assert venv.state is AsyncState.FAILED
    with pytest.raises(VecEnvStateError, match="failed earlier"):
        venv.reset()
    start = time.monotonic()
    venv.close()  # the hung worker is killed, not waited for
    assert time.monotonic() - start < 10
    venv.close()
    assert venv.state is AsyncState.CLOSED
    with pytest.raises(VecEnvStateError, match="closed"):
        venv.step(np.zeros(N_ENVS, dtype=np.int64))


@pytest.mark.parametrize("transport", ["socket", "compiled", "actor"])
def test_transport_scenario(transport: str) -> None:
    options = WorkerOptions(
        envs_per_worker=4,
        transport=transport,  # type: ignore[arg-type]
        step_timeout_s=STEP_TIMEOUT_S,
        idle_release_s=1.0,
    )
    venv = RayVecEnv(sleep_env_fns(), options)
    try:
        assert venv.transport_name == transport
        assert venv.num_workers == 2 and venv.num_envs == N_ENVS
        check_same_trajectories(venv)
        check_misuse_errors(venv)
        check_worker_errors(venv)
        if transport == "compiled":
            check_idle_release(venv)
        check_step_timeout(venv)
    finally:
        venv.close()


def test_start_failure_carries_remote_traceback() -> None:
    env_fns = [functools.partial(SleepEnv, sleep_s=0.0)] * 2 + [functools.partial(FailingEnv, "init")]
    with pytest.raises(WorkerError, match="boom in __init__") as info:
        RayVecEnv(env_fns, WorkerOptions(envs_per_worker=2))
    assert info.value.worker_index == 1 and info.value.env_indices == [2]
    assert info.value.command == "start"
    assert "FailingEnv" in info.value.remote_traceback


def test_unschedulable_workers_time_out_at_start() -> None:
    options = WorkerOptions(resources={"unity": 1}, start_timeout_s=1.0, name="eval")
    with pytest.raises(WorkerTimeoutError, match=r"start_timeout_s=1.0.*unity") as info:
        RayVecEnv([functools.partial(SleepEnv, sleep_s=0.0)] * 2, options)
    assert info.value.command == "start" and info.value.worker_indices == [0]
    assert "eval-envworker-0" in str(info.value)


def test_compiled_transport_failure_is_an_error() -> None:
    ctx = DAGContext.get_current()
    old = ctx.buffer_size_bytes
    ctx.buffer_size_bytes = -1  # makes experimental_compile() raise
    env_fns = [functools.partial(SleepEnv, sleep_s=0.0)] * 2
    try:
        with pytest.raises(TransportError, match="setting up the 'compiled' transport failed"):
            RayVecEnv(env_fns, WorkerOptions(transport="compiled"))
    finally:
        ctx.buffer_size_bytes = old


def test_auto_falls_back_to_actor_calls_when_channels_fail(caplog: pytest.LogCaptureFixture) -> None:
    """Workers that cannot open their channel (here: its socket folder does not exist) still work, over actor calls."""
    env_fns = [functools.partial(SleepEnv, sleep_s=0.0)] * 2
    broken_tmp = {"env_vars": {"RAY_LAB_CHANNEL_DIR": "/nonexistent/ray-lab-test"}}
    with pytest.raises(TransportError, match="could not open their channels"):
        RayVecEnv(env_fns, WorkerOptions(transport="socket", runtime_env=broken_tmp))
    venv = RayVecEnv(env_fns, WorkerOptions(transport="auto", runtime_env=broken_tmp))
    try:
        assert venv.transport_name == "actor"
        assert "falling back to plain actor calls" in caplog.text
        venv.reset()
        obs: Any = venv.step(np.zeros(2, dtype=np.int64))[0]
        assert obs.shape == (2, 4)
    finally:
        venv.close()


def test_channel_refuses_clients_without_the_token() -> None:
    """A client with a wrong token (or garbage) is dropped at once, before anything it sent is parsed;
    the holder of the token is served next."""
    worker = EnvWorkerActor.remote([functools.partial(SleepEnv, sleep_s=0.0)])  # type: ignore[attr-defined]
    try:
        token, node = secrets.token_bytes(TOKEN_BYTES), ray.get_runtime_context().get_node_id()
        address = ray.get(worker.open_channel.remote(token, node), timeout=60)
        assert address.family == "unix"
        for offered in (secrets.token_bytes(TOKEN_BYTES), b"\x80\x05garbage-pickle".ljust(TOKEN_BYTES, b".")):
            with pytest.raises(ConnectionError):
                connect(address, offered, timeout_s=5.0).close()
        sock = connect(address, token, timeout_s=5.0)
        try:
            send_frame(sock, encode_request(Command.NOOP))
            assert decode_reply(bytes(recv_frame(sock, time.monotonic() + 10))) == (True, None)
        finally:
            sock.close()
    finally:
        ray.kill(worker)


def test_a_second_client_does_not_disturb_the_first() -> None:
    venv = RayVecEnv(sleep_env_fns(2), WorkerOptions(envs_per_worker=2))
    try:
        assert venv.transport_name == "socket"
        venv.reset()
        node = ray.get_runtime_context().get_node_id()
        address = ray.get(venv.workers[0].open_channel.remote(secrets.token_bytes(TOKEN_BYTES), node))
        with pytest.raises((ConnectionError, TimeoutError)):  # waits in the backlog while the first is served
            connect(address, secrets.token_bytes(TOKEN_BYTES), timeout_s=1.0).close()
        for _ in range(3):
            obs: Any = venv.step(np.zeros(2, dtype=np.int64))[0]
            assert obs.shape == (2, 4)
    finally:
        venv.close()


def test_placement_group_scheduling() -> None:
    options = WorkerOptions(envs_per_worker=2, num_cpus=0.25)
    bundles = [{"CPU": 0.5}, *worker_bundles(3, options)]
    assert bundles[1:] == [{"CPU": 0.25}, {"CPU": 0.25}]
    group = placement_group(bundles)
    ray.get(group.ready(), timeout=30)
    env_fns = [functools.partial(SleepEnv, sleep_s=0.0)] * 3
    try:
        with pytest.raises(ValueError, match="placement group has 3 bundles"):
            RayVecEnv(env_fns, WorkerOptions(envs_per_worker=1, placement_group=group, bundle_offset=1))
        venv = RayVecEnv(env_fns, WorkerOptions(envs_per_worker=2, placement_group=group, bundle_offset=1))
        try:
            venv.reset()
            table = ray.util.placement_group_table(group)
            assert table["state"] == "CREATED"
            obs: Any = venv.step(np.zeros(3, dtype=np.int64))[0]
            assert obs.shape == (3, 4)
        finally:
            venv.close()
    finally:
        remove_placement_group(group)


def test_ppo_trains_on_ray_vec_env_under_vec_normalize() -> None:
    """SB3 end to end: PPO collects rollouts through VecNormalize(RayVecEnv)."""
    venv = VecNormalize(RayVecEnv([functools.partial(SleepEnv, sleep_s=0.0, episode_length=20)] * 4))
    try:
        model = PPO("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=128)
        assert model.num_timesteps == 128
    finally:
        venv.close()


@ray.remote(num_cpus=0.25)
class _DriverActor:
    """Drives a RayVecEnv from inside an actor, as the learner actor does."""

    def run(self) -> tuple[str, list[float]]:
        venv = RayVecEnv([functools.partial(SleepEnv, sleep_s=0.0)] * 2, WorkerOptions(envs_per_worker=1))
        try:
            venv.seed(0)
            venv.reset()
            rewards: list[float] = []
            for _ in range(5):
                rewards += venv.step(np.ones(2, dtype=np.int64))[1].tolist()
            return venv.transport_name, rewards
        finally:
            venv.close()


def test_ray_vec_env_inside_an_actor() -> None:
    driver = _DriverActor.remote()  # type: ignore[attr-defined]
    try:
        transport, rewards = ray.get(driver.run.remote(), timeout=120)
    finally:
        ray.kill(driver)
    assert transport == "socket"
    assert len(rewards) == 10 and all(1.0 <= r < 2.0 for r in rewards)


def test_video_recorder_over_large_renders(tmp_path: Any) -> None:
    """VecVideoRecorder (used by the training builder) on CartPole frames of 400x600x3 bytes each:
    large frames on the default (socket) transport."""
    env_fns = [functools.partial(gym.make, "CartPole-v1", render_mode="rgb_array")] * 3
    venv = RayVecEnv(env_fns, WorkerOptions(envs_per_worker=3))
    recorder = VecVideoRecorder(venv, str(tmp_path), record_video_trigger=lambda step: step == 0, video_length=4)
    try:
        assert venv.transport_name == "socket"
        recorder.reset()
        images: list[Any] = list(venv.get_images())
        assert len(images) == 3 and all(image.shape == (400, 600, 3) for image in images)
        for _ in range(6):
            recorder.step(np.zeros(3, dtype=np.int64))
    finally:
        recorder.close()
    assert len(list(tmp_path.glob("*.mp4"))) == 1


def test_graph_rebuilds_are_capped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Each rebuild leaks a little in Ray, so after MAX_GRAPH_BUILDS the env stays on actor calls."""
    monkeypatch.setattr(compiled_transport, "MAX_GRAPH_BUILDS", 2)
    options = WorkerOptions(envs_per_worker=2, idle_release_s=0.3, transport="compiled")
    venv = RayVecEnv([functools.partial(SleepEnv, sleep_s=0.0)] * 2, options)
    transport: Any = venv._transport
    try:
        venv.reset()
        for expect_graph in (True, True, False):  # build 1, rebuild 2, then plain actor calls
            venv.step(np.zeros(2, dtype=np.int64))
            assert transport.graph_active is expect_graph
            deadline = time.monotonic() + 15
            while transport.graph_active and time.monotonic() < deadline:
                time.sleep(0.05)
        assert "built 2 times; staying on plain actor calls" in caplog.text
        obs: Any = venv.step(np.ones(2, dtype=np.int64))[0]
        assert obs.shape == (2, 4)
    finally:
        venv.close()
