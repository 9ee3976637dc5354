"""Reference simulator: nav dynamics units, then real simulator processes against a real RosTcpBridge."""

from __future__ import annotations

import logging
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unity_workers.reference_sim import CRASH_EXIT_CODE, INTERFACES_DIR, nav, parse_options
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge

STEP, RESET, SCAN = "/nav_0/step", "/nav_0/reset", "/nav_0/scan"


# ---------------------------------------------------------------------- nav dynamics (no sockets)
def test_seeded_reset_is_reproducible() -> None:
    a = nav.reset(np.random.default_rng(7))
    assert a == nav.reset(np.random.default_rng(7))
    assert a != nav.reset(np.random.default_rng(8))
    assert a.step_count == 0 and not a.done and a.distance_to_target >= 2.0
    assert max(abs(a.x), abs(a.y), abs(a.target_x), abs(a.target_y)) <= 4.0
    actions = np.random.default_rng(0).uniform(-1, 1, size=(20, 2))
    s1, s2 = a, nav.reset(np.random.default_rng(7))
    for act in actions:
        s1, s2 = nav.step(s1, act), nav.step(s2, act)
    assert s1 == s2 and s1.step_count == 20


def test_driving_straight_at_the_target_reaches_it() -> None:
    state = nav.NavState(x=-1.0, y=-1.0, yaw=math.atan2(3.0, 3.0), target_x=2.0, target_y=2.0)
    for _ in range(60):
        state = nav.step(state, [1.0, 0.0])
        if state.done:
            break
    assert state.reached_target and not state.collided and not state.truncated
    assert state.distance_to_target < 0.5
    assert state.step_count == math.ceil((math.hypot(3, 3) - 0.5) / 0.1 - 1e-9)  # 0.1 m per step at 1 m/s
    assert state.sim_time == pytest.approx(state.step_count * 0.1)


def test_driving_into_a_wall_collides_and_stops() -> None:
    state = nav.NavState(x=4.0, y=0.0, yaw=0.0, target_x=-3.0, target_y=-3.0)
    for _ in range(20):
        state = nav.step(state, [5.0, 0.0])  # clipped to 1 m/s
        if state.done:
            break
    assert state.collided and not state.reached_target
    assert 4.8 < state.x <= 4.82 + 1e-9 and state.step_count in (8, 9)  # stops at the first sub-step inside
    frozen = nav.step(state, [1.0, 1.0])
    assert (frozen.x, frozen.y, frozen.yaw) == (state.x, state.y, state.yaw)
    assert frozen.step_count == state.step_count + 1


def test_truncation_turning_and_lidar() -> None:
    cfg = nav.NavConfig(max_steps=3)
    state = nav.NavState(x=0.0, y=0.0, yaw=0.0, target_x=3.0, target_y=3.0)
    for _ in range(3):
        state = nav.step(state, [0.0, 1.0], cfg)
    assert state.truncated and not state.collided and state.yaw == pytest.approx(0.3)
    ranges = nav.lidar(nav.NavState(x=4.0, y=0.0, yaw=0.0, target_x=0.0, target_y=0.0))
    assert ranges.dtype == np.float32 and ranges.shape == (16,)
    assert ranges[0] == pytest.approx(1.0) and ranges[2] == pytest.approx(math.sqrt(2.0), rel=1e-6)
    assert ranges[4] == pytest.approx(5.0) and ranges[8] == pytest.approx(5.0)  # capped at max range
    with pytest.raises(ValueError, match=r"\[1\.0\]"):
        nav.step(state, [1.0])
    with pytest.raises(ValueError, match="fixed_updates_per_step"):
        nav.NavConfig(fixed_updates_per_step=0)


def test_cli_accepts_unity_flags_and_ignores_unknown() -> None:
    argv = ["--ros-port", "10007", "--environment-id", "7", "-batchmode", "-nographics", "-logFile", "/tmp/x.log"]
    options, ns, unknown = parse_options([*argv, "--sample-time", "0.2", "-screen-width", "64"])
    assert (options.ros_port, options.step_service, options.scan_topic) == (10007, "/nav_7/step", "/nav_7/scan")
    assert ns.batchmode and ns.nographics and ns.log_file == "/tmp/x.log"
    assert options.time_scale == pytest.approx(2.0) and unknown == ["-screen-width", "64"]


# ---------------------------------------------------------------------- real processes, real sockets
@pytest.fixture(scope="module")
def types() -> MessageTypes:
    return MessageTypes(INTERFACES_DIR)


@pytest.fixture
def bridge(types: MessageTypes) -> Iterator[RosTcpBridge]:
    with RosTcpBridge(types) as b:
        yield b


@pytest.fixture
def spawn(bridge: RosTcpBridge) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "unity_workers.reference_sim", "--ros-port", str(bridge.port)]
        proc = subprocess.Popen([*cmd, "--environment-id", "0", "--connect-timeout", "1", *extra])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:  # only the processes this test started, by PID
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def wait_ready(bridge: RosTcpBridge) -> None:
    assert bridge.wait_for_client(10), "the simulator did not connect"
    assert bridge.wait_for_service(STEP, 5) and bridge.wait_for_service(RESET, 5)
    deadline = time.monotonic() + 5
    while SCAN not in bridge.publications() and time.monotonic() < deadline:
        time.sleep(0.01)


def fields(types: MessageTypes, response: Any) -> dict[str, Any]:
    return types.to_dict(response)


def test_process_serves_reset_step_and_scan(
    bridge: RosTcpBridge,
    types: MessageTypes,
    spawn: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="unity_workers.ros_tcp.unity")
    log_file = tmp_path / "player.log"
    proc = spawn("-batchmode", "-nographics", "-logFile", str(log_file), "--seed", "1")
    wait_ready(bridge)
    assert bridge.registered_services() == {
        STEP: "ray_lab_interfaces/EnvironmentStep",
        RESET: "ray_lab_interfaces/EnvironmentReset",
    }
    assert bridge.publications() == {SCAN: "sensor_msgs/LaserScan"}

    unchanged = fields(types, bridge.call_unity_service(RESET, {"reset": False}, timeout_s=5))
    assert unchanged["state"]["robot_x"] == pytest.approx(nav.reset(np.random.default_rng(1)).x, abs=1e-6)
    first = fields(types, bridge.call_unity_service(RESET, {"reset": True, "seed": 7}, timeout_s=5))
    again = fields(types, bridge.call_unity_service(RESET, {"reset": True, "seed": 7}, timeout_s=5))
    assert first == again
    expected = nav.reset(np.random.default_rng(7))
    assert first["state"]["robot_x"] == pytest.approx(expected.x, abs=1e-6) and first["stamp_sec"] == 0
    assert first["state"]["step_count"] == 0 and len(first["state"]["lidar_ranges"]) == 16
    assert first["accepted_parameters"] == ["max_steps", "success_radius", "target_distance"]
    camera = first["state"]["camera"]  # no --camera-obs: an empty image
    assert (camera["height"], camera["width"], camera["data"]) == (0, 0, [])

    count = bridge.message_count(SCAN)
    resp = bridge.call_unity_service(STEP, {"action": [1.0, 0.0]}, timeout_s=5)
    assert resp.state.step_count == 1 and resp.stamp_nanosec == pytest.approx(1e8, abs=10)
    moved = math.hypot(resp.state.robot_x - expected.x, resp.state.robot_y - expected.y)
    assert moved == pytest.approx(0.1, abs=1e-5)
    scan = bridge.wait_for_message(SCAN, 5, after_count=count)  # published before the step's answer
    assert scan is not None and scan.header.frame_id == "lidar" and scan.range_max == pytest.approx(5.0)
    np.testing.assert_array_equal(scan.ranges, resp.state.lidar_ranges)

    bad = bridge.call_unity_service(STEP, {"action": [1.0, 0.0, 3.0]}, timeout_s=5)  # answered, unchanged
    assert bad.state.step_count == 1 and bad.state.robot_x == resp.state.robot_x

    def unity_logs() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "unity_workers.ros_tcp.unity"]

    assert any("reference sim /nav_0 ready" in line for line in unity_logs())
    assert any("[1.0, 0.0, 3.0]" in line for line in unity_logs())  # the rejected action, as __error
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert "connected to 127.0.0.1" in log_file.read_text()


def test_crash_after_steps_exits_3_and_bridge_sees_the_drop(
    bridge: RosTcpBridge, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = spawn("--crash-after-steps", "3")
    wait_ready(bridge)
    for i in range(3):
        assert bridge.call_unity_service(STEP, {"action": [0.0, 0.5]}, timeout_s=5).state.step_count == i + 1
    start = time.monotonic()
    with pytest.raises(ConnectionError):
        bridge.call_unity_service(STEP, {"action": [0.0, 0.5]}, timeout_s=10)
    assert time.monotonic() - start < 3.0
    assert proc.wait(5) == CRASH_EXIT_CODE
    with pytest.raises(ConnectionError):
        bridge.call_unity_service(STEP, {"action": [0.0, 0.5]}, timeout_s=1)


def test_light_mode_publishes_no_sensors(bridge: RosTcpBridge, spawn: Callable[..., subprocess.Popen[bytes]]) -> None:
    assert parse_options(["--light"])[0].light and not parse_options([])[0].light
    spawn("--light")  # graphics on (no -nographics), yet no camera either
    assert bridge.wait_for_client(10) and bridge.wait_for_service(STEP, 5) and bridge.wait_for_service(RESET, 5)
    bridge.call_unity_service(RESET, {"reset": True, "seed": 1}, timeout_s=5)
    resp = bridge.call_unity_service(STEP, {"action": [1.0, 0.0]}, timeout_s=5)
    assert resp.state.step_count == 1 and len(resp.state.lidar_ranges) == 16  # the state keeps its lidar
    assert bridge.publications() == {} and bridge.message_count(SCAN) == 0
    assert bridge.message_count("/nav_0/camera") == 0


def test_hang_after_steps_times_out_and_latency_is_applied(
    bridge: RosTcpBridge, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = spawn("--hang-after-steps", "2", "--step-latency-ms", "150")
    wait_ready(bridge)
    for _ in range(2):
        start = time.monotonic()
        bridge.call_unity_service(STEP, {"action": [0.0, 0.0]}, timeout_s=5)
        assert time.monotonic() - start >= 0.15
    with pytest.raises(TimeoutError, match="/nav_0/step"):
        bridge.call_unity_service(STEP, {"action": [0.0, 0.0]}, timeout_s=0.5)
    assert proc.poll() is None and bridge.connected  # hung, not dead
    proc.send_signal(signal.SIGTERM)  # a hung handler does not block a clean exit
    assert proc.wait(5) == 0


def test_process_reconnects_then_exits_when_the_bridge_is_gone_for_good(
    bridge: RosTcpBridge, types: MessageTypes, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = spawn("--step-latency-ms", "0")
    wait_ready(bridge)
    assert bridge.call_unity_service(STEP, {"action": [0.5, 0.0]}, timeout_s=5).state.step_count == 1
    port = bridge.port
    bridge.close()
    with RosTcpBridge(types, port=port) as second:  # a new bridge on the same port: Unity reconnects
        wait_ready(second)
        assert second.call_unity_service(STEP, {"action": [0.5, 0.0]}, timeout_s=5).state.step_count == 2
    assert proc.wait(5) == 0  # retried for --connect-timeout 1 s, then gave up
