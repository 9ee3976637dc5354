"""gRPC env protocol: tensor and space codecs, an in-process server, and the reference sim as a real process."""

from __future__ import annotations

import contextlib
import filecmp
import importlib.util
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from unity_workers.envs.nav_adapter import NavAdapter
from unity_workers.grpc_env import (
    EnvServer,
    GrpcSession,
    GrpcSessionFactory,
    action_to_array,
    check_action,
    from_tensor,
    serve,
    space_from_proto,
    space_to_proto,
    to_tensor,
)
from unity_workers.grpc_env import ray_lab_env_pb2 as pb
from unity_workers.grpc_env import ray_lab_env_pb2_grpc as pb_grpc
from unity_workers.grpc_env.generate import GENERATED, PROTO, generate
from unity_workers.launcher import PlayerDiedError, PlayerOptions, UnityProcess
from unity_workers.reference_sim import CRASH_EXIT_CODE, nav
from unity_workers.reference_sim.grpc_env import ReferenceNavGymEnv

ROOT = Path(__file__).resolve().parents[1]
SIM = [sys.executable, "-m", "unity_workers.reference_sim"]


# ---------------------------------------------------------------------- tensors
@pytest.mark.parametrize(
    "array",
    [
        np.arange(20, dtype=np.float32),
        np.arange(12, dtype=np.float64).reshape(3, 4) / 7,
        np.array([-(2**62), 2**62], dtype=np.int64),
        np.array(255, dtype=np.uint8),
        np.array([[True, False]]),
        np.zeros((0, 3), dtype=np.int16),
        np.array([1.5, -np.inf, np.nan], dtype=np.float16),
        np.arange(6, dtype=">i4").reshape(2, 3),  # big-endian input travels little-endian
        np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not C-contiguous
    ],
)
def test_tensor_round_trip(array: np.ndarray) -> None:
    tensor = to_tensor(array)
    assert tensor.dtype == array.dtype.name and list(tensor.shape) == list(array.shape)
    back = from_tensor(pb.Tensor.FromString(tensor.SerializeToString()))
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (pb.Tensor(dtype="float32", shape=[20], data=bytes(79)), r"expected 80 bytes for float32 shape \[20\], got 79"),
        (pb.Tensor(dtype="float32", shape=[20], data=bytes(81)), "got 81"),
        (pb.Tensor(dtype="object", shape=[1], data=bytes(8)), "unsupported tensor dtype 'object'"),
        (pb.Tensor(dtype="<f4", shape=[1], data=bytes(4)), "unsupported tensor dtype"),
        (pb.Tensor(dtype="", shape=[], data=b""), "unsupported tensor dtype ''"),
        (pb.Tensor(dtype="x" * 1000, shape=[], data=b""), r"'x{40}\.\.\.'"),
        (
            pb.Tensor(dtype="uint8", shape=[2**62, 2**62], data=bytes(16)),
            "expected 21267647932558653966460912964485513216",
        ),
        (pb.Tensor(dtype="uint8", shape=[-4, -4], data=bytes(16)), r"negative dimension in shape \[-4, -4\]"),
        (pb.Tensor(dtype="uint8", shape=[1] * 33, data=bytes(1)), "33 dimensions"),
        (pb.Tensor(dtype="bool", shape=[2], data=b"\x01\x02"), "other than 0 and 1"),
    ],
)
def test_tensor_rejects_malformed_input(tensor: pb.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_tensor(tensor, "observation")


@pytest.mark.parametrize("value", [np.array(["a"]), np.array([object()]), np.array([1j])])
def test_to_tensor_rejects_dtypes_outside_the_whitelist(value: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unsupported tensor dtype"):
        to_tensor(value)


# ---------------------------------------------------------------------- spaces
@pytest.mark.parametrize(
    "space",
    [
        spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
        spaces.Box(np.array([-np.inf, 0.0]), np.array([np.inf, 5.0]), dtype=np.float64),
        spaces.Box(0, 255, shape=(4, 4, 3), dtype=np.uint8),
        spaces.Discrete(5, start=-2),
        spaces.MultiDiscrete(np.array([[3, 4], [5, 6]]), start=np.array([[0, 1], [-1, 2]])),
        spaces.MultiDiscrete([2, 3], dtype=np.int32),
        spaces.MultiBinary([2, 3]),
    ],
)
def test_space_round_trip(space: spaces.Space[Any]) -> None:
    back = space_from_proto(pb.Space.FromString(space_to_proto(space).SerializeToString()))
    assert back == space and back.dtype == space.dtype


def test_space_rejects_unsupported_and_malformed() -> None:
    with pytest.raises(ValueError, match="supports Box, Discrete"):
        space_to_proto(spaces.Dict({"a": spaces.Discrete(2)}))
    low = to_tensor(np.zeros(3, dtype=np.float32))
    bad = [
        (pb.Space(), "no space given"),
        (pb.Space(discrete=pb.Discrete(n=0)), r"discrete.n must be >= 1, got 0"),
        (
            pb.Space(box=pb.Box(dtype="float32", shape=[2], low=low, high=low)),
            r"expected the box's 'float32' shape \[2\]",
        ),
        (pb.Space(box=pb.Box(dtype="float64", shape=[3], low=low, high=low)), "is float32 shape"),
        (pb.Space(multi_binary=pb.MultiBinary(shape=[2, 0])), r"dims >= 1, got \[2, 0\]"),
        (pb.Space(multi_discrete=pb.MultiDiscrete(nvec=low, start=low)), "must be integer tensors"),
        (
            pb.Space(multi_discrete=pb.MultiDiscrete(nvec=to_tensor(np.array([2, 0])), start=to_tensor(np.zeros(2)))),
            "integer tensors of one dtype",
        ),
    ]
    for message, match in bad:
        with pytest.raises(ValueError, match=match):
            space_from_proto(message, "action_space")


def test_action_checks() -> None:
    box: spaces.Box = spaces.Box(-1, 1, (2,), np.float32)
    disc: spaces.Discrete = spaces.Discrete(3)
    assert action_to_array(box, [[0.5, 2.0]]).dtype == np.float32  # reshaped (same size), cast
    assert action_to_array(disc, np.array([2])).shape == ()
    with pytest.raises(ValueError, match=r"shape \[3\] does not fit"):
        action_to_array(box, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="must hold integers"):
        action_to_array(disc, 1.5)
    assert check_action(disc, np.array(2)) == 2 and isinstance(check_action(disc, np.array(2)), int)
    np.testing.assert_array_equal(check_action(box, np.array([3.0, -3.0])), [3.0, -3.0])  # bounds: the env's job
    for space, action, match in [
        (disc, np.array(3), "outside the action space"),
        (disc, np.array([1, 1]), r"shape \[2\] does not match"),
        (disc, np.array(1.0), "must hold integers"),
        (spaces.Box(0, 5, (1,), np.int64), np.array([1.5]), "cannot be cast"),
        (spaces.MultiBinary(2), np.array([0, 2]), "outside"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_action(space, action)


# ---------------------------------------------------------------------- in-process server
class RaisingEnv(gym.Env[np.ndarray, int]):
    """Discrete(2) env: action 1 raises RuntimeError (an env bug), info carries odd values."""

    observation_space = spaces.Box(0.0, 1.0, (3,), np.float32)
    action_space: spaces.Discrete = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {"text": "hi", "flag": True, "nested": {"x": 1}, 3: "int key"}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if action == 1:
            raise RuntimeError("simulated env bug")
        return np.ones(3, np.float32), 1.0, False, False, {"n": np.float32(2.5)}


@pytest.fixture
def cartpole() -> Iterator[EnvServer]:
    with serve(gym.make("CartPole-v1", render_mode="rgb_array"), max_message_bytes=2**21) as server:
        yield server


def connect(server: EnvServer, **kwargs: Any) -> GrpcSession:
    session = GrpcSession(server.host, server.port, **kwargs)
    session.wait_ready(None, 5.0)
    return session


def test_cartpole_served_in_process(cartpole: EnvServer) -> None:
    assert cartpole.host == "127.0.0.1" and cartpole.port > 0  # loopback by default, port 0 resolved
    session = connect(cartpole)
    local = gym.make("CartPole-v1")
    assert session.env_name == "CartPole-v1" and session.action_space == local.action_space
    assert session.observation_space == local.observation_space
    obs, _ = session.reset(3, timeout_s=5)
    np.testing.assert_array_equal(obs, local.reset(seed=3)[0])
    for action in (0, 1, np.int64(1), np.array([0])):
        remote = session.step(action, timeout_s=5)
        expected = local.step(int(np.asarray(action).reshape(())))
        np.testing.assert_array_equal(remote[0], expected[0])
        assert remote[1:4] == expected[1:4]
    frame = session.render()
    assert frame is not None and frame.dtype == np.uint8 and frame.shape == (400, 600, 3)
    session.close()
    session.close()
    with pytest.raises(RuntimeError, match="closed"):
        session.step(0, timeout_s=1)


def expect_status(call: Callable[[], Any], code: grpc.StatusCode, match: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call()
    error: Any = info.value
    assert error.code() == code, error.details()
    assert match in error.details()


def test_bad_requests_get_invalid_argument_and_the_server_keeps_serving(cartpole: EnvServer) -> None:
    channel = grpc.insecure_channel(cartpole.address)
    stub = pb_grpc.EnvServiceStub(channel)
    stub.Reset(pb.ResetRequest(seed=1), timeout=5)
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    bad_actions = [
        (pb.Tensor(dtype="int64", shape=[], data=bytes(7)), "expected 8 bytes for int64 shape [], got 7"),
        (pb.Tensor(dtype="pickle", shape=[], data=b"cos\nsystem\n"), "unsupported tensor dtype 'pickle'"),
        (to_tensor(np.array([0, 1])), "action shape [2] does not match"),
        (to_tensor(np.array(0.0)), "must hold integers"),
        (to_tensor(np.array(7)), "action 7 is outside the action space Discrete(2)"),
    ]
    for tensor, match in bad_actions:
        request = pb.StepRequest(action=tensor)
        expect_status(lambda: stub.Step(request, timeout=5), invalid, match)  # noqa: B023 (called at once)
        assert stub.Step(pb.StepRequest(action=to_tensor(np.array(1))), timeout=5).observation.dtype == "float32"
    expect_status(lambda: stub.Step(pb.StepRequest(), timeout=5), invalid, "StepRequest.action is missing")
    garbage = channel.unary_unary("/ray_lab.env.v1.EnvService/Step")  # bytes in, bytes out: not a StepRequest
    with pytest.raises(grpc.RpcError):
        garbage(b"\xff\xff\xff\xff", timeout=5)
    big = pb.StepRequest(action=to_tensor(np.zeros(2**19)))  # 4 MiB > the server's 2 MiB limit
    expect_status(lambda: stub.Step(big, timeout=5), grpc.StatusCode.RESOURCE_EXHAUSTED, "")
    assert stub.Spec(pb.SpecRequest(), timeout=5).protocol_version == 1
    assert len(stub.Step(pb.StepRequest(action=to_tensor(np.array(0))), timeout=5).observation.data) == 16
    channel.close()


def test_env_errors_map_to_status_codes_and_exceptions() -> None:
    with serve(RaisingEnv(), env_name="raising") as server:
        session = connect(server)
        _, info = session.reset(None, timeout_s=5)
        assert info == {"text": "hi", "flag": 1.0}  # numbers and text travel, other values are dropped
        with pytest.raises(RuntimeError, match="INTERNAL: step failed: RuntimeError: simulated env bug"):
            session.step(1, timeout_s=5)
        assert session.step(0, timeout_s=5)[1:] == (1.0, False, False, {"n": 2.5})
        assert session.render() is None
        session.close()
    with serve(ReferenceNavGymEnv()) as server:
        session = connect(server)
        session.reset(0, timeout_s=5)
        with pytest.raises(ValueError, match=r"rejected: step: nav action must be 2 finite numbers"):
            session.step([math.nan, 0.0], timeout_s=5)  # INVALID_ARGUMENT -> ValueError (a bug, not a fault)
        with pytest.raises(ValueError, match="does not fit the action space"):
            session.step([1.0], timeout_s=5)  # caught before sending
        assert session.step([1.0, 0.0], timeout_s=5)[4]["step_count"] == 1.0
        session.close()


def test_serve_refuses_a_taken_port_and_bad_options() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=f"cannot bind the gRPC env server to 127.0.0.1:{taken.getsockname()[1]}"):
            serve(RaisingEnv(), port=taken.getsockname()[1])
    with pytest.raises(ValueError, match="max_message_bytes must be an int"):
        serve(RaisingEnv(), max_message_bytes=10)
    with pytest.raises(ValueError, match="poll_timeout_s must be a finite number > 0, got 0"):
        GrpcSessionFactory(poll_timeout_s=0)
    factory = GrpcSessionFactory(max_message_bytes=2**20)
    assert pickle.loads(pickle.dumps(factory)) == factory


# ---------------------------------------------------------------------- the reference sim as a process
@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., tuple[UnityProcess, GrpcSession]]]:
    started: list[tuple[UnityProcess, GrpcSession]] = []

    def start(
        *extra: str, protocol: bool = True, session: GrpcSession | None = None
    ) -> tuple[UnityProcess, GrpcSession]:
        session = session or GrpcSessionFactory().open(len(started))
        args = (*session.player_args, *extra) if protocol else extra
        options = PlayerOptions(
            command=SIM, log_dir=tmp_path, worker_index=len(started), extra_args=args, env=dict(session.player_env)
        )
        process = UnityProcess(options).start(session.port)
        started.append((process, session))
        return process, session

    yield start
    for process, session in started:  # only what this test started
        session.close()
        process.close(timeout_s=3)


def test_reference_sim_serves_grpc(launch: Callable[..., tuple[UnityProcess, GrpcSession]]) -> None:
    process, session = launch("--seed", "5")
    assert session.player_args == ("--protocol", "grpc")
    session.wait_ready(process, 15)
    assert session.env_name == "/nav_0" and session.observation_space.shape == (20,)
    first, info = session.reset(7, timeout_s=5)
    again, _ = session.reset(7, timeout_s=5)
    np.testing.assert_array_equal(first, again)
    expected = NavAdapter().observation(SimpleNamespace(**nav.state_fields(nav.reset(np.random.default_rng(7)))))
    np.testing.assert_allclose(first, expected, rtol=1e-6)
    assert info["step_count"] == 0.0 and first.dtype == np.float32
    local = ReferenceNavGymEnv()
    local.reset(seed=7)
    for action in ([1.0, 0.0], [0.5, 0.3], [2.0, -2.0]):
        obs, reward, terminated, truncated, info = session.step(action, timeout_s=5)
        l_obs, l_reward, l_terminated, l_truncated, _ = local.step(np.asarray(action))
        np.testing.assert_array_equal(obs, l_obs)
        assert (reward, terminated, truncated) == (l_reward, l_terminated, l_truncated)
    assert info["step_count"] == 3.0 and session.render() is None
    assert process.close(timeout_s=5) == 0  # SIGTERM: a clean exit
    assert "serving the gRPC env on 127.0.0.1:" in process.log_tail(200)


def test_crash_after_steps_is_a_connection_fault(launch: Callable[..., tuple[UnityProcess, GrpcSession]]) -> None:
    process, session = launch("--crash-after-steps", "3")
    session.wait_ready(process, 15)
    session.reset(None, timeout_s=5)
    for _ in range(3):
        session.step([0.0, 0.5], timeout_s=5)
    start = time.monotonic()
    with pytest.raises((ConnectionError, TimeoutError)):
        session.step([0.0, 0.5], timeout_s=5)
    assert time.monotonic() - start < 3.0
    deadline = time.monotonic() + 5
    while process.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.returncode == CRASH_EXIT_CODE
    with pytest.raises(ConnectionError, match="connection lost"):
        session.step([0.0, 0.5], timeout_s=2)


def test_hang_after_steps_times_out(launch: Callable[..., tuple[UnityProcess, GrpcSession]]) -> None:
    process, session = launch("--hang-after-steps", "2", "--step-latency-ms", "100")
    session.wait_ready(process, 15)
    for _ in range(2):
        start = time.monotonic()
        session.step([0.0, 0.0], timeout_s=5)
        assert time.monotonic() - start >= 0.1
    for _ in range(2):  # the hung call, then one waiting behind it
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=f"Step on the gRPC env at 127.0.0.1:{session.port} got no answer"):
            session.step([0.0, 0.0], timeout_s=0.5)
        assert 0.4 < time.monotonic() - start < 2.0
    assert process.alive  # hung, not dead
    assert process.close(timeout_s=5) == 0  # a hung step does not block a clean exit


def test_wait_ready_reports_a_dead_player(launch: Callable[..., tuple[UnityProcess, GrpcSession]]) -> None:
    with socket.socket() as taken:  # the port is taken: the simulator cannot bind it and exits 1
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        session = GrpcSession("127.0.0.1", taken.getsockname()[1], poll_timeout_s=0.2)
        process, _ = launch(session=session)
        with pytest.raises(PlayerDiedError, match="exited with code 1 before serving the gRPC env") as info:
            session.wait_ready(process, 15)
    assert info.value.returncode == 1 and "cannot bind the gRPC env server" in info.value.log_tail


def test_wait_ready_times_out_on_a_player_without_grpc(
    launch: Callable[..., tuple[UnityProcess, GrpcSession]],
) -> None:
    process, session = launch("--connect-timeout", "5", protocol=False)  # a ROS-TCP player: it never serves gRPC
    with pytest.raises(TimeoutError, match=rf"127\.0\.0\.1:{session.port} within 0.5 s \(was it started with"):
        session.wait_ready(process, 0.5)
    assert process.alive


def test_orphaned_grpc_sim_exits(tmp_path: Path) -> None:
    log = tmp_path / "orphan.log"
    args = [*SIM, "--protocol", "grpc", "--ros-port", str(GrpcSessionFactory().open(0).port), "-logFile", str(log)]
    # The shell starts the simulator, waits until it serves (it has read its parent's pid by then) and exits.
    script = (
        '"$@" </dev/null >/dev/null 2>&1 & echo $!; '
        'for i in $(seq 300); do grep -q serving "$0" 2>/dev/null && exit; sleep 0.05; done'
    )
    started = subprocess.run(["sh", "-c", script, str(log), *args], capture_output=True, text=True, timeout=60)
    pid = int(started.stdout)
    try:
        deadline = time.monotonic() + 15
        while "stopped" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "is gone; stopping" in log.read_text() and "stopped" in log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # only if the test failed: the simulator this test started, by PID


# ---------------------------------------------------------------------- packaging
@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools is not installed")
def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    committed = ROOT / Path(PROTO).parent
    assert [path.name for path in fresh] == list(GENERATED)
    for path in fresh:
        assert filecmp.cmp(path, committed / path.name, shallow=False), (
            f"{path.name} is stale: run python unity_workers/grpc_env/generate.py"
        )


def test_missing_grpc_names_the_install_command() -> None:
    code = "import sys; sys.modules['grpc'] = None; import unity_workers.grpc_env"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and 'pip install "ray-lab[grpc]"' in result.stderr
    code = "import sys; sys.modules['grpc'] = None; import unity_workers.reference_sim.cli"  # ROS path: no grpc
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0
