"""ROS 2 graph forwarding: CDR parity with rclpy, a real simulator's LaserScan seen by an rclpy node, and back.

The DDS tests need rclpy (``pip install "ray-lab[ros2]"``) and skip cleanly without it; DDS stays on
loopback (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` + the shipped Fast DDS profile that allows only
127.0.0.1) on a random domain id. The rest (names, bridge hooks, behaviour without rclpy) always runs.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from unity_workers.reference_sim import INTERFACES_DIR
from unity_workers.ros2 import (
    FASTDDS_LOCALHOST_PROFILE,
    INSTALL_HINT,
    Ros2Forwarder,
    loopback_dds_env,
    rclpy_available,
    ros_name,
    worker_namespace,
)
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge, UnityLikeClient
from unity_workers.ros_tcp.protocol import Registration

NS = "/ray_lab/test_run/worker_0"
STEP, RESET, SCAN = "/nav_0/step", "/nav_0/reset", "/nav_0/scan"
# rosidl_generator_py imports lark-parser 0.12 (a ROS 2 wheel dependency), which warns on Python 3.11
pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")
needs_rclpy = pytest.mark.skipif(not rclpy_available(), reason=f"rclpy is not installed: {INSTALL_HINT}")


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0, poke: Callable[[], None] | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        if poke is not None:
            poke()
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def types() -> MessageTypes:
    return MessageTypes(INTERFACES_DIR)


@pytest.fixture
def bridge(types: MessageTypes) -> Iterator[RosTcpBridge]:
    with RosTcpBridge(types) as b:
        yield b


# ---------------------------------------------------------------------- always: names, profile, hooks, no rclpy
def test_names_are_sanitized_and_checked() -> None:
    assert worker_namespace("my-run 3", 2) == "/ray_lab/my_run_3/worker_2"
    assert worker_namespace("2024-05-01", 0) == "/ray_lab/_2024_05_01/worker_0"
    assert ros_name("nav_0//scan/") == "/nav_0/scan" and ros_name("/_a/b.c") == "/_a/b_c"
    with pytest.raises(ValueError, match="worker_index"):
        worker_namespace("run", -1)
    with pytest.raises(ValueError, match=r"from '-'"):
        ros_name("/-/")
    with pytest.raises(ValueError, match="qos_depth"):
        Ros2Forwarder.attach(RosTcpBridge(), NS, qos_depth=0)


def test_loopback_env_and_profile_allow_only_127_0_0_1() -> None:
    env = loopback_dds_env(domain_id=7)
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and env["ROS_DOMAIN_ID"] == "7"
    assert env["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(FASTDDS_LOCALHOST_PROFILE)
    ns = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(FASTDDS_LOCALHOST_PROFILE).getroot()
    assert [i.get("name") for i in root.iterfind(".//p:allowlist/p:interface", ns)] == ["127.0.0.1"]
    assert root.findtext(".//p:useBuiltinTransports", namespaces=ns) == "false"
    with pytest.raises(ValueError, match="233"):
        loopback_dds_env(domain_id=233)


def test_bridge_reports_registrations_and_raw_cdr(bridge: RosTcpBridge, types: MessageTypes) -> None:
    seen: list[tuple[str, Registration]] = []
    raw: list[tuple[str, bytes]] = []
    remove_raw = bridge.add_raw_listener(lambda reg, data: raw.append((reg.topic, data)))
    with UnityLikeClient("127.0.0.1", bridge.port, types).connect(timeout_s=5) as client:
        client.register_publisher("/early", "std_msgs/String")
        assert wait_until(lambda: "/early" in bridge.publications())
        remove = bridge.add_registration_listener(lambda table, reg: seen.append((table, reg)))  # replays /early
        client.subscribe("/cmd", "std_msgs/String")
        assert wait_until(lambda: len(seen) == 2)
        assert [(t, r.topic, r.types) for t, r in seen] == [
            ("publishers", "/early", ("std_msgs/msg/String",)),
            ("subscribers", "/cmd", ("std_msgs/msg/String",)),
        ]
        client.publish("/early", {"data": "hello"})
        assert wait_until(lambda: len(raw) == 1)
        assert raw == [("/early", types.serialize(types.build("std_msgs/String", {"data": "hello"})))]
        remove()
        remove_raw()
        remove()  # idempotent
        client.register_publisher("/late", "std_msgs/String")
        client.publish("/early", {"data": "again"})
        assert wait_until(lambda: bridge.message_count("/early") == 2)
    assert len(seen) == 2 and len(raw) == 1


def test_without_rclpy_attach_returns_none_and_logs_once() -> None:
    code = (
        "import sys, logging; sys.modules['rclpy'] = None; logging.basicConfig(level=logging.INFO)\n"
        "from unity_workers.ros2 import Ros2Forwarder, rclpy_available, require_rclpy\n"
        "from unity_workers.ros_tcp import RosTcpBridge\n"
        "assert not rclpy_available()\n"
        "print(Ros2Forwarder.attach(RosTcpBridge(), '/ray_lab/r/worker_0'),"
        " Ros2Forwarder.attach(RosTcpBridge(), '/ray_lab/r/worker_1'))\n"
        "try:\n    require_rclpy()\nexcept ImportError as exc:\n    print('error:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "None None"
    assert "error: ROS 2 support needs rclpy" in proc.stdout and INSTALL_HINT in proc.stdout
    off = 'ROS 2 graph forwarding is off: rclpy is not installed (pip install "ray-lab[ros2]")'
    assert proc.stderr.count(off) == 1, proc.stderr


# ---------------------------------------------------------------------- with rclpy
@pytest.fixture(scope="module")
def dds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Loopback-only DDS on a random domain, set before this process's first ROS 2 context."""
    env = {**loopback_dds_env(domain_id=random.randint(100, 200)), "ROS_LOG_DIR": str(tmp_path_factory.mktemp("ros"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


SOCKETS_SCRIPT = """
import os, sys
from unity_workers.ros2 import Ros2Forwarder, loopback_dds_env
from unity_workers.ros_tcp import RosTcpBridge
if sys.argv[1] == "strict":
    os.environ.update(loopback_dds_env(int(sys.argv[2]), strict=True))
else:
    os.environ["ROS_DOMAIN_ID"] = sys.argv[2]
with RosTcpBridge() as bridge, Ros2Forwarder(bridge, "/ray_lab/s/worker_0"):
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            mine.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the fd of listdir itself
            pass
    bound = set()
    for line in open("/proc/net/udp").read().splitlines()[1:]:
        fields = line.split()
        if f"socket:[{fields[9]}]" in mine:
            ip = bytes.fromhex(fields[1].split(":")[0])[::-1]
            bound.add(".".join(str(b) for b in ip))
    print(sorted(bound), os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"])
"""


@needs_rclpy
@pytest.mark.parametrize("mode", ["strict", "unconfigured"])
def test_dds_sockets_stay_on_loopback(mode: str) -> None:
    """strict: the shipped profile alone binds every UDP socket to 127.0.0.1; unconfigured: LOCALHOST."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROS_", "FASTRTPS_", "FASTDDS_", "RMW_"))}
    domain = str(random.randint(100, 200))
    proc = subprocess.run(
        [sys.executable, "-c", SOCKETS_SCRIPT, mode, domain], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    bound, discovery = proc.stdout.split("] ")
    if mode == "strict":
        assert bound == "['127.0.0.1'" and discovery.strip() == "SYSTEM_DEFAULT", proc.stdout
    else:
        assert bound.startswith("['") and discovery.strip() == "LOCALHOST", proc.stdout  # set by the forwarder


class Peer:
    """A plain rclpy node in a context of its own (a team's node, rviz2 ...), spun on a daemon thread."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        self.context.init(args=["--ros-args", "--disable-external-lib-logs"])
        self.node = rclpy.create_node("peer", context=self.context, enable_rosout=False)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.received: list[Any] = []

    def subscribe(self, msg_class: type, topic: str) -> None:
        self.node.create_subscription(msg_class, topic, self.received.append, 10)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.context.try_shutdown()
        self.thread.join(2.0)
        assert not self.thread.is_alive()


@pytest.fixture
def peer(dds: None) -> Iterator[Peer]:
    p = Peer()
    yield p
    p.close()


def set_fields(msg: Any, values: dict[str, Any]) -> Any:
    for name, value in values.items():
        if isinstance(value, dict):
            set_fields(getattr(msg, name), value)
        else:
            setattr(msg, name, value)
    return msg


# Laid out so that no alignment padding falls inside: rclpy.serialization.serialize_message leaves padding
# bytes uninitialized and sizes its buffer by a max-size estimate (8 stray bytes after an empty trailing
# float64[]), so it is a byte-exact reference only for such layouts. WIRE_CASES cover the rest against
# the bytes ROS 2 actually puts on the wire.
CASES: dict[str, dict[str, Any]] = {
    "std_msgs/String": {"data": "héllo ROS"},
    "std_msgs/Header": {"stamp": {"sec": 1_700_000_000, "nanosec": 123_456_789}, "frame_id": "base_link"},
    "geometry_msgs/Twist": {"linear": {"x": 0.5, "y": -1.25, "z": 0.0}, "angular": {"z": 3.0}},
    "geometry_msgs/PoseStamped": {"header": {"frame_id": "map"}, "pose": {"orientation": {"w": 1.0}}},
    "sensor_msgs/LaserScan": {
        "header": {"stamp": {"sec": 3, "nanosec": 5}, "frame_id": "scanner"},
        "angle_min": -1.5, "angle_max": 1.5, "angle_increment": 0.25, "scan_time": 0.125, "range_max": 5.0,
        "ranges": [0.5, 1.0, 4.25, 5.0, 2.0], "intensities": [1.0, 0.0, 0.5],
    },
}  # fmt: skip
WIRE_CASES: dict[str, dict[str, Any]] = {
    **CASES,
    "sensor_msgs/LaserScan": {**CASES["sensor_msgs/LaserScan"], "header": {"frame_id": "lidar"}},  # padded
    "sensor_msgs/JointState": {"name": ["a", "bc"], "position": [0.1, 0.2], "velocity": [], "effort": []},
}


def rclpy_message(name: str, values: dict[str, Any]) -> Any:
    import importlib

    package, leaf = name.split("/")
    return set_fields(getattr(importlib.import_module(f"{package}.msg"), leaf)(), values)


@needs_rclpy
@pytest.mark.parametrize("name", sorted(CASES))
def test_cdr_bytes_equal_rclpy_serialization(types: MessageTypes, name: str) -> None:
    from rclpy.serialization import deserialize_message, serialize_message

    expected = rclpy_message(name, CASES[name])
    ours = types.serialize(types.build(name, CASES[name]))
    assert ours == serialize_message(expected)
    assert deserialize_message(ours, type(expected)) == expected


@needs_rclpy
def test_cdr_bytes_equal_ros2_wire_bytes(dds: None, types: MessageTypes, peer: Peer) -> None:
    received: dict[str, list[bytes]] = {name: [] for name in WIRE_CASES}
    publishers = {}
    for i, (name, values) in enumerate(sorted(WIRE_CASES.items())):
        msg = rclpy_message(name, values)
        peer.node.create_subscription(type(msg), f"/wire_{i}", received[name].append, 10, raw=True)
        publishers[name] = (peer.node.create_publisher(type(msg), f"/wire_{i}", 10), msg)

    def publish() -> None:
        for name, (publisher, msg) in publishers.items():
            if not received[name]:
                publisher.publish(msg)

    assert wait_until(lambda: all(received.values()), poke=publish), {k: len(v) for k, v in received.items()}
    for name, values in WIRE_CASES.items():
        ours = types.serialize(types.build(name, values))
        assert received[name][0] == ours, name
        assert types.to_dict(types.deserialize(received[name][0], name)) == types.to_dict(types.build(name, values))


@needs_rclpy
def test_simulator_scan_reaches_an_rclpy_subscriber(
    dds: None, bridge: RosTcpBridge, types: MessageTypes, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    from sensor_msgs.msg import LaserScan

    caplog.set_level("INFO", logger="unity_workers.ros2")
    forwarder = Ros2Forwarder.attach(bridge, NS)  # before the simulator registers: the listener path
    assert forwarder is not None
    cmd = [sys.executable, "-m", "unity_workers.reference_sim", "--ros-port", str(bridge.port)]
    proc = subprocess.Popen([*cmd, "--environment-id", "0", "--connect-timeout", "2", "--seed", "3"])
    try:
        assert bridge.wait_for_client(10) and bridge.wait_for_service(STEP, 5)
        topic = f"{NS}/nav_0/scan"
        assert wait_until(lambda: topic in forwarder.topics())
        assert forwarder.topics()[topic] == "sensor_msgs/msg/LaserScan"
        assert not any(name.endswith(("/step", "/reset")) for name in forwarder.topics())  # services are not
        peer.subscribe(LaserScan, topic)
        bridge.call_unity_service(RESET, {"reset": True, "seed": 3}, timeout_s=5)

        def step() -> None:
            bridge.call_unity_service(STEP, {"action": [0.5, 0.1]}, timeout_s=5)

        assert wait_until(lambda: bool(peer.received), poke=step), "no LaserScan reached the ROS 2 subscriber"
        step()
        sent = bridge.latest(SCAN)
        assert sent is not None
        assert wait_until(lambda: np.array_equal(np.asarray(peer.received[-1].ranges, np.float32), sent.ranges))
        got = peer.received[-1]
        assert len(got.ranges) == 16 and got.header.frame_id == "lidar" and got.range_max == pytest.approx(5.0)
    finally:
        proc.kill()
        proc.wait(5)
        assert forwarder is not None
        forwarder.close()
        forwarder.close()  # idempotent
    assert forwarder.closed and not forwarder._thread.is_alive()
    assert any(f"as {topic}" in r.getMessage() for r in caplog.records)


@needs_rclpy
def test_ros2_messages_reach_unity_and_unknown_types_are_skipped(
    dds: None, bridge: RosTcpBridge, types: MessageTypes, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    from std_msgs.msg import String

    caplog.set_level("INFO", logger="unity_workers.ros2")
    with UnityLikeClient("127.0.0.1", bridge.port, types).connect(timeout_s=5) as unity:
        unity.subscribe("/cmd", "std_msgs/String")
        unity.register_publisher("/nav_0/state", "ray_lab_interfaces/NavState")  # no ROS 2 package: skipped
        assert wait_until(lambda: len(bridge.publications()) == 1 and len(bridge.subscriptions()) == 1)
        other = Ros2Forwarder.attach(bridge, "/ray_lab/other run/worker_1")  # a second node in this process
        with Ros2Forwarder(bridge, NS) as forwarder:  # after Unity registered: the replay path
            assert forwarder.topics() == {f"{NS}/cmd": "std_msgs/msg/String"}
            assert other is not None and other.namespace == "/ray_lab/other_run/worker_1"
            publisher = peer.node.create_publisher(String, f"{NS}/cmd", 10)

            def poke() -> None:
                publisher.publish(String(data="go"))

            assert wait_until(lambda: unity.latest("/cmd") is not None, poke=poke), "nothing reached Unity"
            assert getattr(unity.latest("/cmd"), "data", None) == "go"
        other.close()
    skipped = [r.getMessage() for r in caplog.records if "not forwarding /nav_0/state" in r.getMessage()]
    assert len(skipped) == 2 and "ray_lab_interfaces" in skipped[0]  # once per forwarder
