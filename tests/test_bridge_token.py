"""The ROS-TCP bridge's per-launch token: stray connections are refused and never evict the player.

Real loopback sockets and real processes (UnityLikeClient, raw sockets, a launched reference-sim
player); nothing of ours is mocked.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ros_tcp_helpers import STEP, STEP_TYPE, step_types, wait_until

from unity_workers.envs import UnityEnv
from unity_workers.envs.protocols import make_session_factory
from unity_workers.envs.ros_session import RosTcpSession
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge, UnityLikeClient
from unity_workers.ros_tcp.admission import MAX_PENDING, TOKEN_COMMAND, TOKEN_ENV, new_token, token_command
from unity_workers.ros_tcp.framing import KEEPALIVE_FRAME, FrameReader, encode_frame, encode_syscommand
from unity_workers.spec import UnitySpec

DEADLINE_S = 1.0  # the bridges' token deadline here (5 s by default)


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory) -> MessageTypes:
    return step_types(tmp_path_factory.mktemp("interfaces"))


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def bridge(types: MessageTypes, token: str) -> Iterator[RosTcpBridge]:
    with RosTcpBridge(types, token=token, token_deadline_s=DEADLINE_S) as b:
        yield b


def step_handler(request: Any) -> dict[str, Any]:
    action = np.asarray(request.action)
    return {"state": action * 2, "reward": float(action.sum()), "terminated": False}


def serve_step(bridge: RosTcpBridge, types: MessageTypes, token: str | None) -> UnityLikeClient:
    client = UnityLikeClient("127.0.0.1", bridge.port, types, token=token).connect(timeout_s=5)
    client.implement_service(STEP, STEP_TYPE, step_handler)
    assert bridge.wait_for_service(STEP, 5)
    return client


def step_reward(bridge: RosTcpBridge, value: float) -> float:
    return float(bridge.call_unity_service(STEP, {"action": [value]}, timeout_s=5).reward)


def received_until_closed(sock: socket.socket, timeout_s: float = 5.0) -> bytes:
    """Everything ``sock`` receives until the bridge closes it (fails if it stays open)."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the bridge kept a connection without the token open for {timeout_s} s")
    return data


def refusal_logged(caplog: pytest.LogCaptureFixture, sock: socket.socket, reason: str) -> bool:
    peer = "%s:%s" % sock.getsockname()[:2]  # noqa: UP031
    return any(
        r.levelno == logging.WARNING
        and "refused a connection from " + peer in r.getMessage()
        and reason in r.getMessage()
        for r in caplog.records
    )


HIJACK = encode_syscommand("__unity_service", {"topic": STEP, "message_name": STEP_TYPE})


def test_stray_without_token_is_refused_and_the_player_keeps_stepping(
    bridge: RosTcpBridge, types: MessageTypes, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    player = serve_step(bridge, types, token)
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as stray:
        stray.sendall(KEEPALIVE_FRAME + HIJACK)  # registers the step service, as a hijacker would
        for value in (1.0, 2.0, 3.0):  # while the stray is pending, the player is served as before
            assert step_reward(bridge, value) == pytest.approx(value)
        assert received_until_closed(stray) == b"", "a connection without the token got an answer"
        assert refusal_logged(caplog, stray, f"no token within {DEADLINE_S:g} s")
    assert player.connected and bridge.connected
    assert step_reward(bridge, 4.0) == pytest.approx(4.0)
    assert player.served_ids == [1001, 1002, 1003, 1004]
    player.close()


@pytest.mark.parametrize(
    "params",
    [
        {"token": "0" * 64},
        {"token": ""},
        {"token": 12345},
        {"token": None},
        {},
        {"token": "ü" * 8},
        {"token": "\ud800"},
    ],
    ids=["wrong", "empty", "number", "null", "missing", "non_ascii", "lone_surrogate"],
)
def test_wrong_token_is_refused_at_once_without_eviction(
    bridge: RosTcpBridge, types: MessageTypes, token: str, params: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    player = serve_step(bridge, types, token)
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as stray:
        started = time.monotonic()
        stray.sendall(encode_syscommand(TOKEN_COMMAND, params) + HIJACK)
        assert received_until_closed(stray) == b""
        assert time.monotonic() - started < DEADLINE_S, "a wrong token must be refused without waiting"
        assert refusal_logged(caplog, stray, "token")
    assert player.connected and step_reward(bridge, 5.0) == pytest.approx(5.0)
    assert player.served_ids == [1001]
    player.close()


def test_prefix_of_the_token_is_refused(bridge: RosTcpBridge, types: MessageTypes, token: str) -> None:
    player = serve_step(bridge, types, token)
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as stray:
        stray.sendall(token_command(token[:-1]))
        assert received_until_closed(stray) == b""
    assert step_reward(bridge, 1.5) == pytest.approx(1.5)
    player.close()


GARBAGE = {
    "huge_destination_length": struct.pack("<I", 0xFFFFFFFF) + b"x" * 16,
    "huge_payload_length": encode_frame("__ray_lab_token")[:-4] + struct.pack("<I", 0x7FFFFFFF),
    "not_utf8_destination": struct.pack("<I", 4) + b"\xff\xfe\xfd\xfc" + struct.pack("<I", 0),
    "not_json_token": encode_frame(TOKEN_COMMAND, b"__import__('os').system('false')\x00"),
    "json_array_token": encode_frame(TOKEN_COMMAND, b'["token"]\x00'),
    "random_bytes": bytes(range(256)) * 4,
    "many_early_frames": encode_frame("/x", b"y" * 60_000) * 40,
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_before_the_token_is_refused_and_the_bridge_serves_on(
    bridge: RosTcpBridge, types: MessageTypes, token: str, garbage: bytes
) -> None:
    player = serve_step(bridge, types, token)
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as stray:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused while still sending
            stray.sendall(garbage + token_command(token))  # the token after garbage does not help
        assert received_until_closed(stray) == b""
    assert player.connected and step_reward(bridge, 2.5) == pytest.approx(2.5)
    player.close()
    assert wait_until(lambda: not bridge.connected)
    with serve_step(bridge, types, token) as again:  # a new player with the token is still accepted
        assert step_reward(bridge, 6.0) == pytest.approx(6.0) and again.served_ids == [1002]


def test_right_token_replaces_a_dead_or_live_session(bridge: RosTcpBridge, types: MessageTypes, token: str) -> None:
    first = serve_step(bridge, types, token)
    first.close()  # the player died
    assert wait_until(lambda: not bridge.connected)
    second = serve_step(bridge, types, token)  # its restart reconnects with the launch's token
    assert step_reward(bridge, 1.0) == pytest.approx(1.0)
    third = serve_step(bridge, types, token)  # a live session is replaced by a holder of the token only
    assert second.wait_closed(5) and step_reward(bridge, 2.0) == pytest.approx(2.0)
    assert second.served_ids == [1001] and third.served_ids == [1002]
    third.close()


def test_frames_before_the_token_are_served_after_it(bridge: RosTcpBridge, token: str) -> None:
    """ROS-TCP-Connector sends a keepalive and its registrations before anything it queued (the token)."""
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as unity:
        unity.sendall(KEEPALIVE_FRAME + HIJACK)
        time.sleep(0.2)
        assert not bridge.connected and not bridge.registered_services()
        unity.sendall(token_command(token))
        assert bridge.wait_for_service(STEP, 5), "the registration sent before the token was lost"
        unity.settimeout(5)
        reader, frames = FrameReader(), []
        while len(frames) < 2:
            frames += reader.feed(unity.recv(4096))
        assert frames[0].is_keepalive and frames[1].destination == "__handshake"
        unity.sendall(token_command(token))  # a repeated token is harmless
        unity.sendall(KEEPALIVE_FRAME)
        assert reader.feed(unity.recv(4096))[0].is_keepalive  # still served
        assert bridge.connected


def test_too_many_pending_connections_are_refused_at_once(
    bridge: RosTcpBridge, types: MessageTypes, token: str
) -> None:
    player = serve_step(bridge, types, token)
    silent = [socket.create_connection(("127.0.0.1", bridge.port), timeout=5) for _ in range(MAX_PENDING)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as extra:
            started = time.monotonic()
            assert received_until_closed(extra) == b""
            assert time.monotonic() - started < DEADLINE_S
        assert step_reward(bridge, 3.0) == pytest.approx(3.0)
    finally:
        for sock in silent:
            sock.close()
    player.close()


def test_client_token_comes_from_the_environment(
    bridge: RosTcpBridge, types: MessageTypes, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, token)
    with serve_step(bridge, types, None) as player:
        assert player.token == token and step_reward(bridge, 7.0) == pytest.approx(7.0)


def test_bridge_without_token_serves_anyone_and_ignores_a_token(types: MessageTypes, token: str) -> None:
    with RosTcpBridge(types) as open_bridge, serve_step(open_bridge, types, token) as player:
        assert step_reward(open_bridge, 1.0) == pytest.approx(1.0) and player.served_ids == [1001]
    with pytest.raises(ValueError, match="non-empty"):
        RosTcpBridge(types, token="")


def test_launched_player_gets_its_token_by_environment_and_strays_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = UnityEnv(log_dir=str(tmp_path), connect_timeout_s=30.0, ros2_graph="off", extra_args=["--light"])
    try:
        session, process = env.session, env.process
        assert isinstance(session, RosTcpSession) and process is not None and process.pid is not None
        token = session.player_env[TOKEN_ENV]
        assert len(token) == 64
        proc = Path(f"/proc/{process.pid}")
        if proc.exists():  # in its environment, never on its command line (visible in `ps`)
            assert f"{TOKEN_ENV}={token}".encode() in (proc / "environ").read_bytes().split(b"\0")
            assert token.encode() not in (proc / "cmdline").read_bytes()
        env.reset(seed=1)
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as stray:
            stray.sendall(token_command(new_token()))
            assert received_until_closed(stray) == b""
        for _ in range(5):
            _, _, _, _, info = env.step(env.action_space.sample())
            assert info["restarts"] == 0
        assert env.restarts == 0 and env.session is session
        other = env.factory.open(0)  # every start gets a fresh token
        assert other.player_env[TOKEN_ENV] != token
        other.close()
    finally:
        env.close()


def test_require_token_off_hands_out_no_token_and_serves_a_stock_player() -> None:
    factory = make_session_factory(UnitySpec(require_token=False, ros2_graph="off"), 0, None)
    session = factory.open(0)
    try:
        assert isinstance(session, RosTcpSession) and dict(session.player_env) == {}
        with socket.create_connection(("127.0.0.1", session.port), timeout=5) as stock:
            stock.sendall(KEEPALIVE_FRAME)  # no token: served all the same
            assert session.bridge.wait_for_client(5)
    finally:
        session.close()
