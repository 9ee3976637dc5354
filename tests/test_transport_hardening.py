"""Transport hardening with real sockets and processes: bounded sends, bounded topic buffers, gRPC launch tokens."""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ray_lab.workers.channel import ChannelClosedError, send_frame
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge, UnityLikeClient
from unity_workers.ros_tcp.framing import encode_syscommand
from unity_workers.ros_tcp.sending import SendTimeoutError

STRING = "std_msgs/msg/String"
BIG = 8 * 1024 * 1024  # far more than loopback socket buffers hold


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory) -> MessageTypes:
    root: Path = tmp_path_factory.mktemp("interfaces")
    (root / "interfaces_pkg" / "srv").mkdir(parents=True)
    (root / "interfaces_pkg" / "srv" / "EnvironmentStep.srv").write_text("float32[] action\n---\nfloat32 reward\n")
    return MessageTypes(root)


def wait_until(predicate: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def frozen_player(port: int, topic: str) -> socket.socket:
    """A raw client that subscribes to ``topic`` and then never reads (a small receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(encode_syscommand("__subscribe", {"topic": topic, "message_name": STRING}))
    return sock


def test_publish_to_a_player_that_stops_reading_fails_within_the_send_timeout(types: MessageTypes) -> None:
    with RosTcpBridge(types, send_timeout_s=0.5, max_payload_bytes=32 * 1024 * 1024) as bridge:
        player = frozen_player(bridge.port, "/big")
        try:
            assert wait_until(lambda: "/big" in bridge.subscriptions())
            start = time.monotonic()
            with pytest.raises(SendTimeoutError, match=r"timed out after 0.5 s \(the peer is not reading"):
                for _ in range(4):  # the first may still fit in the kernel's buffers
                    bridge.publish("/big", {"data": "x" * BIG})
            assert time.monotonic() - start < 5.0
            assert wait_until(lambda: not bridge.connected, 2.0), "the connection was not closed"
        finally:
            player.close()


def test_a_call_to_a_frozen_player_fails_within_its_own_timeout(types: MessageTypes) -> None:
    with RosTcpBridge(types, send_timeout_s=30.0, max_payload_bytes=32 * 1024 * 1024) as bridge:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", bridge.port))
        params = {"topic": "/step", "message_name": "interfaces_pkg/EnvironmentStep"}
        sock.sendall(encode_syscommand("__unity_service", params))
        try:
            assert bridge.wait_for_service("/step", 5)
            action = np.zeros(BIG // 4, dtype=np.float32)
            start = time.monotonic()
            with pytest.raises(SendTimeoutError, match=r"timed out after 0.5 s \(the peer is not reading"):
                for _ in range(4):  # the first may still fit in the kernel's buffers
                    bridge.send_unity_request("/step", {"action": action}, timeout_s=0.5)
            assert time.monotonic() - start < 5.0
            assert wait_until(lambda: not bridge.connected, 2.0)
        finally:
            sock.close()


def test_channel_send_to_a_peer_that_stops_reading_fails_within_the_timeout() -> None:
    ours, theirs = socket.socketpair()
    try:
        start = time.monotonic()
        with pytest.raises(ChannelClosedError, match=r"timed out after 0.3 s \(the peer is not reading"):
            send_frame(ours, b"\0" * BIG, timeout_s=0.3)
        assert time.monotonic() - start < 3.0
    finally:
        ours.close()
        theirs.close()


def test_tcp_channels_detect_a_lost_peer_within_seconds() -> None:
    """Both ends of a TCP worker channel probe an idle peer, so a lost node ends a wait in ~LOST_PEER_S."""
    import secrets

    from ray_lab.workers.channel import LOST_PEER_S, connect
    from ray_lab.workers.channel_server import ChannelServer

    server = ChannelServer(lambda request: request, "keepalive-test")
    token = secrets.token_bytes(32)
    address = server.open(token, same_node=False, host="127.0.0.1")
    sock = connect(address, token, 5.0)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 2
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == LOST_PEER_S * 1000
        send_frame(sock, b"ping")  # the channel still works with the options set
        from ray_lab.workers.channel import recv_frame

        assert bytes(recv_frame(sock, time.monotonic() + 5)) == b"ping"
    finally:
        sock.close()
        server.close()


def test_a_flooded_topic_keeps_the_latest_n_and_counts_drops(
    types: MessageTypes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="unity_workers.ros_tcp.topics")
    with RosTcpBridge(types, max_topic_messages=5) as bridge:
        with UnityLikeClient("127.0.0.1", bridge.port, types).connect(5) as unity:
            unity.register_publisher("/flood", STRING)
            for i in range(50):
                unity.publish("/flood", {"data": str(i)})
            assert wait_until(lambda: bridge.message_count("/flood") == 50)
        history = bridge.topics.history("/flood")
        assert [m.data for m in history] == ["45", "46", "47", "48", "49"]
        assert bridge.topics.dropped("/flood") == 45 and bridge.latest("/flood").data == "49"
    drops = [r for r in caplog.records if "dropped its oldest messages" in r.getMessage()]
    assert len(drops) == 1 and "'/flood'" in drops[0].getMessage()  # at most once per topic per interval


# ---------------------------------------------------------------------- gRPC: launch tokens
grpc_env = pytest.importorskip("unity_workers.grpc_env")

from unity_workers.grpc_env import GrpcSession  # noqa: E402
from unity_workers.grpc_env.launch_token import LaunchTokenError, new_token  # noqa: E402
from unity_workers.launcher import PlayerDiedError, PlayerOptions, UnityProcess, free_port  # noqa: E402

SIM = [sys.executable, "-m", "unity_workers.reference_sim"]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[tuple[UnityProcess, GrpcSession]]]:
    items: list[tuple[UnityProcess, GrpcSession]] = []
    yield items
    for process, session in items:
        session.close()
        process.close(timeout_s=3)


def start_sim(tmp_path: Path, index: int, port: int) -> tuple[UnityProcess, GrpcSession]:
    session = GrpcSession("127.0.0.1", port, worker_index=index, token=new_token())
    options = PlayerOptions(
        command=SIM, log_dir=tmp_path, worker_index=index, extra_args=tuple(session.player_args),
        env=dict(session.player_env),
    )  # fmt: skip
    return UnityProcess(options).start(port), session


def test_two_grpc_envs_forced_onto_one_port_never_share_a_simulator(
    tmp_path: Path, started: list[tuple[UnityProcess, GrpcSession]]
) -> None:
    port = free_port()
    started += [start_sim(tmp_path, 0, port), start_sim(tmp_path, 1, port)]  # both at once, one port
    outcomes: list[BaseException | None] = []
    for process, session in started:
        try:
            session.wait_ready(process, 15.0)
            outcomes.append(None)
        except (LaunchTokenError, PlayerDiedError) as exc:
            outcomes.append(exc)
    assert sum(outcome is None for outcome in outcomes) == 1, outcomes  # one serves, the other is refused
    winner = outcomes.index(None)
    process, session = started[winner]
    assert process.alive and session.reset(seed=1, timeout_s=10.0)[0].shape == (20,)
    loser_process, loser = started[1 - winner]
    with pytest.raises(LaunchTokenError, match="not the simulator this env launched"):
        loser.reset(seed=1, timeout_s=10.0)  # a call on the taken port is refused, never served
    assert wait_until(lambda: not loser_process.alive, 10.0) and loser_process.returncode == 1  # could not bind


def test_a_grpc_server_refuses_a_session_with_another_token(
    tmp_path: Path, started: list[tuple[UnityProcess, GrpcSession]]
) -> None:
    port = free_port()
    started.append(start_sim(tmp_path, 0, port))
    process, session = started[0]
    session.wait_ready(process, 15.0)
    intruder = GrpcSession("127.0.0.1", port, worker_index=1, token=new_token())
    plain = GrpcSession("127.0.0.1", port, worker_index=2)
    try:
        start = time.monotonic()
        with pytest.raises(LaunchTokenError, match="is not this simulator's launch token"):
            intruder.wait_ready(None, 10.0)
        assert time.monotonic() - start < 5.0  # refused at once, not after the timeout
        with pytest.raises(LaunchTokenError, match="has no x-ray-lab-token"):
            plain.wait_ready(None, 10.0)
    finally:
        intruder.close()
        plain.close()
    assert session.step([0.5, 0.0], timeout_s=10.0)[0].shape == (20,)  # the owner keeps its simulator
