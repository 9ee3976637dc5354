"""RosTcpBridge against UnityLikeClient over real loopback sockets with real CDR (no mocks)."""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from ros_tcp_helpers import STEP, step_types, wait_until

from unity_workers.ros_tcp import MessageTypes, RosTcpBridge, UnityLikeClient
from unity_workers.ros_tcp.framing import (
    KEEPALIVE_FRAME,
    Frame,
    FrameReader,
    decode_syscommand,
    encode_frame,
    encode_syscommand,
)


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory) -> MessageTypes:
    return step_types(tmp_path_factory.mktemp("interfaces"))


@pytest.fixture
def bridge(types: MessageTypes) -> Iterator[RosTcpBridge]:
    with RosTcpBridge(types) as b:
        yield b


def connect(bridge: RosTcpBridge, types: MessageTypes) -> UnityLikeClient:
    client = UnityLikeClient("127.0.0.1", bridge.port, types).connect(timeout_s=5)
    assert bridge.wait_for_client(5)
    return client


def step_handler(request: Any) -> dict[str, Any]:
    action = np.asarray(request.action)
    return {"state": action * 2, "reward": float(action.sum()), "terminated": len(action) > 2}


def serve_step(bridge: RosTcpBridge, types: MessageTypes) -> UnityLikeClient:
    client = connect(bridge, types)
    client.implement_service(STEP, "interfaces_pkg/EnvironmentStep", step_handler)
    assert bridge.wait_for_service(STEP, 5)
    return client


def test_confirmation_then_handshake_and_keepalive_answered(bridge: RosTcpBridge) -> None:
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as sock:
        first = b""
        while len(first) < 8:
            first += sock.recv(8 - len(first))
        assert first == b"\x00" * 8  # ros_tcp_endpoint confirms a connection with 8 zero bytes
        reader, frames = FrameReader(), list[Frame]()
        while not frames:
            frames = reader.feed(sock.recv(4096))
        assert frames[0].destination == "__handshake"
        assert decode_syscommand(frames[0].payload) == {"version": "v0.7.0", "metadata": '{"protocol": "ROS2"}'}
        assert frames[0].payload.endswith(b"}")  # to Unity: bare JSON, no trailing NUL (as ros_tcp_endpoint)
        sock.sendall(KEEPALIVE_FRAME)
        frames = frames[1:]
        while not frames:
            frames = reader.feed(sock.recv(4096))
        assert frames[0].is_keepalive
    assert bridge.connected or wait_until(lambda: not bridge.connected)


def test_service_round_trip_ids_from_1001(bridge: RosTcpBridge, types: MessageTypes) -> None:
    with serve_step(bridge, types) as client:
        assert bridge.registered_services() == {STEP: "interfaces_pkg/EnvironmentStep"}
        req = types.build("interfaces_pkg/srv/EnvironmentStep_Request", {"action": [0.5, 1.0, 2.0]})
        resp = bridge.call_unity_service(STEP, req, timeout_s=5)
        assert resp.state.tolist() == [1.0, 2.0, 4.0] and resp.reward == pytest.approx(3.5) and resp.terminated
        resp = bridge.call_unity_service("env_0/step", {"action": [1.0]}, timeout_s=5)  # dict, no leading slash
        assert resp.state.tolist() == [2.0] and not resp.terminated
        raw = bridge.call_unity_service(STEP, types.serialize(req), timeout_s=5, raw=True)
        assert isinstance(raw, bytes) and raw[:4] == b"\x00\x01\x00\x00"
        assert types.deserialize(raw, "interfaces_pkg/srv/EnvironmentStep_Response").reward == pytest.approx(3.5)
        assert client.served_ids == [1001, 1002, 1003]
        with pytest.raises(LookupError, match="/env_0/reset"):
            bridge.call_unity_service("/env_0/reset", {}, timeout_s=1)


def test_laserscan_unity_to_bridge_and_publish_to_unity(bridge: RosTcpBridge, types: MessageTypes) -> None:
    seen: list[Any] = []
    bridge.add_callback("/scan", seen.append)
    with connect(bridge, types) as client:
        client.register_publisher("/scan", "sensor_msgs/LaserScan")
        ranges = np.linspace(0.1, 10.0, 360, dtype=np.float32)
        scan = {"header": {"frame_id": "lidar"}, "angle_increment": 0.0175, "range_max": 10.0, "ranges": ranges}
        client.publish("/scan", scan)
        got = bridge.wait_for_message("/scan", 5)
        assert got is not None and got.header.frame_id == "lidar"
        np.testing.assert_array_equal(got.ranges, ranges)
        assert bridge.latest("/scan") is got and seen == [got] and bridge.message_count("/scan") == 1
        assert bridge.publications() == {"/scan": "sensor_msgs/LaserScan"}

        client.subscribe("/cmd_vel", "geometry_msgs/Twist")
        assert wait_until(lambda: "/cmd_vel" in bridge.subscriptions())
        bridge.publish("/cmd_vel", {"linear": {"x": 0.5}, "angular": {"z": -1.0}})
        twist = client.wait_for_message("/cmd_vel", 5)
        assert twist is not None and twist.linear.x == 0.5 and twist.angular.z == -1.0
        with pytest.raises(LookupError, match="/not_subscribed"):
            bridge.publish("/not_subscribed", {})

        listing = client.request_topic_list(5)
        assert dict(zip(listing["topics"], listing["types"], strict=True)) == {
            "/scan": "sensor_msgs/LaserScan",
            "/cmd_vel": "geometry_msgs/Twist",
        }


def test_unity_logs_land_in_python_logging(
    bridge: RosTcpBridge, types: MessageTypes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="unity_workers.ros_tcp.unity")
    with connect(bridge, types) as client:
        client.log("episode 3 started")
        client.log("lidar saturated", level="__warn")

        def logged() -> list[tuple[int, str]]:
            return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "unity_workers.ros_tcp.unity"]

        assert wait_until(lambda: len(logged()) == 2)
        assert logged() == [(logging.INFO, "episode 3 started"), (logging.WARNING, "lidar saturated")]


def test_call_timeout_is_prompt_and_names_service(bridge: RosTcpBridge, types: MessageTypes) -> None:
    release = threading.Event()

    def slow(request: Any) -> dict[str, Any]:
        release.wait(5)
        return step_handler(request)

    with connect(bridge, types) as client:
        client.implement_service(STEP, "interfaces_pkg/EnvironmentStep", slow)
        assert bridge.wait_for_service(STEP, 5)
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=r"'/env_0/step'.*call 1001.*0\.3 s"):
            bridge.call_unity_service(STEP, {"action": [1.0]}, timeout_s=0.3)
        assert time.monotonic() - start < 1.0
        release.set()  # the late response to 1001 is ignored; the next call still works
        assert bridge.call_unity_service(STEP, {"action": [2.0]}, timeout_s=5).reward == pytest.approx(2.0)
        assert client.served_ids == [1001, 1002]


def test_calls_in_flight_together_time_out_from_their_send(bridge: RosTcpBridge, types: MessageTypes) -> None:
    release = threading.Event()

    def slow(request: Any) -> dict[str, Any]:
        release.wait(5)
        return step_handler(request)

    with connect(bridge, types) as client:
        client.implement_service(STEP, "interfaces_pkg/EnvironmentStep", slow)
        assert bridge.wait_for_service(STEP, 5)
        first = bridge.send_unity_request(STEP, {"action": [1.0]})  # returns at once
        second = bridge.send_unity_request(STEP, {"action": [2.0]})
        assert (first.srv_id, second.srv_id) == (1001, 1002)
        time.sleep(0.3)
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=r"'/env_0/step' did not answer call 1001 within 0\.4 s"):
            bridge.wait_response(first, 0.4)  # 0.3 s of the 0.4 s had passed since the send
        assert time.monotonic() - start < 0.25
        release.set()  # the late answer to 1001 is dropped, 1002 is collected
        assert bridge.wait_response(second, 5).reward == pytest.approx(2.0)
        assert client.served_ids == [1001, 1002]


def test_pending_call_fails_promptly_when_unity_drops(bridge: RosTcpBridge, types: MessageTypes) -> None:
    client = connect(bridge, types)

    def crash(request: Any) -> dict[str, Any]:
        client.close()  # Unity dies mid-step
        return step_handler(request)

    client.implement_service(STEP, "interfaces_pkg/EnvironmentStep", crash)
    assert bridge.wait_for_service(STEP, 5)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="call 1001 to '/env_0/step' failed"):
        bridge.call_unity_service(STEP, {"action": [1.0]}, timeout_s=30)
    assert time.monotonic() - start < 2.0
    assert wait_until(lambda: not bridge.connected)
    with pytest.raises(ConnectionError, match="no Unity client"):
        bridge.call_unity_service(STEP, {"action": [1.0]}, timeout_s=1)


GARBAGE = {
    "random_bytes": random.Random(0).randbytes(4096),
    "huge_length": struct.pack("<I", 0xFFFFFFF0) + b"x" * 16,
    "huge_payload": struct.pack("<I", 2) + b"/x" + struct.pack("<I", 1 << 31),
    "bad_utf8_destination": struct.pack("<I", 3) + b"\xff\xfe\xfd" + struct.pack("<I", 0),
    "bad_json_subscribe": encode_frame("__subscribe", b'{"topic": "/a", "message_name": \x00'),
    "unknown_type": encode_syscommand("__subscribe", {"topic": "/a", "message_name": "nope_msgs/Nope"}),
    "bad_cdr": encode_syscommand("__publish", {"topic": "/s", "message_name": "std_msgs/String"})
    + encode_frame("/s", b"\x00\x01\x00\x00\xff\xff\xff\x7f"),
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_client_dropped_next_client_served(
    bridge: RosTcpBridge, types: MessageTypes, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    bad = connect(bridge, types)
    bad.send_raw(garbage)
    assert bad.wait_closed(5), "the bridge kept a client that sent garbage"
    assert any(r.levelno == logging.ERROR and "dropping connection" in r.getMessage() for r in caplog.records)
    with serve_step(bridge, types) as good:
        assert bridge.call_unity_service(STEP, {"action": [1.0, 2.0]}, timeout_s=5).reward == pytest.approx(3.0)
        assert good.served_ids == [1001]


def test_new_connection_replaces_old(bridge: RosTcpBridge, types: MessageTypes) -> None:
    first = serve_step(bridge, types)
    second = UnityLikeClient("127.0.0.1", bridge.port, types).connect(timeout_s=5)
    assert first.wait_closed(5)
    second.implement_service(STEP, "interfaces_pkg/EnvironmentStep", step_handler)
    assert bridge.wait_for_service(STEP, 5)
    assert bridge.call_unity_service(STEP, {"action": [4.0]}, timeout_s=5).reward == pytest.approx(4.0)
    assert second.served_ids == [1001] and first.served_ids == []
    second.close()


def test_lifecycle(types: MessageTypes) -> None:
    bridge = RosTcpBridge(types)
    with pytest.raises(RuntimeError, match="not started"):
        _ = bridge.port
    bridge.start()
    assert bridge.port > 0 and not bridge.connected and not bridge.wait_for_client(0.05)
    client = connect(bridge, types)
    bridge.close()
    bridge.close()
    assert client.wait_closed(5) and not bridge.connected
    with pytest.raises(RuntimeError, match="closed"):
        bridge.start()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def reconnect_when_dropped(sock: socket.socket, port: int, adopted: list[socket.socket]) -> None:
    """Like a Unity client: once the bridge drops us, reconnect at once; keep a connection it confirms."""
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass
    try:
        again = socket.create_connection(("127.0.0.1", port), timeout=2)
        if recv_exactly(again, 8) == KEEPALIVE_FRAME:
            adopted.append(again)
    except OSError:
        pass  # refused or reset: the closed bridge adopted nothing


def test_a_closing_bridge_adopts_no_reconnecting_client(types: MessageTypes) -> None:
    """A client that reconnects while close() runs is refused, not served by a bridge that no longer exists."""
    for _ in range(10):
        bridge = RosTcpBridge(types).start()
        first = socket.create_connection(("127.0.0.1", bridge.port), timeout=5)
        assert recv_exactly(first, 8) == KEEPALIVE_FRAME and bridge.wait_for_client(5)
        adopted: list[socket.socket] = []
        client = threading.Thread(target=reconnect_when_dropped, args=(first, bridge.port, adopted))
        client.start()
        bridge.close()
        client.join(5)
        first.close()
        for sock in adopted:
            sock.settimeout(2)
            try:
                while sock.recv(4096):
                    pass
            except TimeoutError:
                pytest.fail("a connection accepted during close() is still open after close() returned")
            except OSError:
                pass
            finally:
                sock.close()
        assert not bridge.connected


def test_unity_calls_python_provided_ros_service(bridge: RosTcpBridge, types: MessageTypes) -> None:
    bridge.provide_service("/trainer/step", step_handler)
    with connect(bridge, types) as client:
        client.register_ros_service("/trainer/step", "interfaces_pkg/EnvironmentStep")
        resp = client.call_ros_service("/trainer/step", {"action": [1.0, 3.0]}, timeout_s=5)
        assert resp.state.tolist() == [2.0, 6.0] and resp.reward == pytest.approx(4.0)
        client.register_ros_service("/unanswered", "interfaces_pkg/EnvironmentStep")
        with pytest.raises(TimeoutError, match="/unanswered"):
            client.call_ros_service("/unanswered", {"action": []}, timeout_s=0.2)
