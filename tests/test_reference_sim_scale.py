"""Reference simulator at scale: environment parameters, several agents per player, camera observations.

Units first (nav config, parameter parsing, the camera), then real simulator processes against a real
RosTcpBridge: parameters through the plain reset, the batch services with ``--agents 4``, crash
injection in batched mode.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from unity_workers.reference_sim import CRASH_EXIT_CODE, INTERFACES_DIR, nav, parse_options
from unity_workers.reference_sim.agents import Agent
from unity_workers.reference_sim.batch import plan_reset, split_actions
from unity_workers.reference_sim.params import episode_config, parameter_rows
from unity_workers.reference_sim.render import render_camera
from unity_workers.ros_tcp import MessageTypes, RosTcpBridge

STEP, RESET, SCAN = "/nav_0/step", "/nav_0/reset", "/nav_0/scan"
ACCEPTED = ["max_steps", "success_radius", "target_distance"]
UNITY_LOG = "unity_workers.ros_tcp.unity"  # the logger of the __error lines a player sends


# ---------------------------------------------------------------------- parameters (no sockets)
def test_parameters_build_a_per_episode_config() -> None:
    base = nav.NavConfig()
    cfg, errors = episode_config(base, {"target_distance": 3.0, "success_radius": 0.8, "max_steps": 50.0, "wind": 2})
    assert (cfg.target_distance, cfg.success_radius, cfg.max_steps, errors) == (3.0, 0.8, 50, [])
    assert isinstance(cfg.max_steps, int) and base == nav.NavConfig()  # the defaults stay untouched
    bad = {"max_steps": 2.5, "success_radius": math.nan, "target_distance": 12.0}
    cfg, errors = episode_config(base, {**bad, "wind": math.inf})
    assert cfg == base and len(errors) == 3  # each bad value left out and reported; unknown names skipped
    assert "max_steps=2.5" in errors[0] and "whole number" in errors[0]
    assert "success_radius=nan" in errors[1] and "finite" in errors[1]
    assert "target_distance=12.0" in errors[2] and "11.314" in errors[2]  # the spawn area's diagonal
    cfg, errors = episode_config(base, {"max_steps": 0.0, "success_radius": 1.5})
    assert cfg.success_radius == 1.5 and cfg.max_steps == 400 and "max_steps=0.0" in errors[0]


def test_parameter_rows_are_agent_major_and_mismatches_are_ignored() -> None:
    rows, errors = parameter_rows(["a", "b"], [1.0, 2.0, 3.0, 4.0], 2)
    assert rows == [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}] and errors == []
    rows, errors = parameter_rows(["a", "b"], [1.0, 2.0, 3.0], 2)
    assert rows == [{}, {}] and errors == [
        "environment parameters ignored: expected 2 x 2 values for ['a', 'b'], got 3"
    ]
    assert parameter_rows([], [], 3) == ([{}, {}, {}], [])


def test_target_distance_is_exact_inside_the_spawn_area_and_reproducible() -> None:
    lim = 4.0
    for distance in (0.5, 3.0, 7.5, 10.5):
        cfg = nav.NavConfig(target_distance=distance)
        for seed in range(20):
            state = nav.reset(np.random.default_rng(seed), cfg)
            assert state.distance_to_target == pytest.approx(distance, abs=1e-9)
            assert max(abs(state.x), abs(state.y), abs(state.target_x), abs(state.target_y)) <= lim
            assert state == nav.reset(np.random.default_rng(seed), cfg)
    assert nav.reset(np.random.default_rng(1)) == nav.reset(np.random.default_rng(1), nav.NavConfig())
    with pytest.raises(ValueError, match=r"target_distance must be > 0 .* got -1"):
        nav.NavConfig(target_distance=-1.0)


def test_unplaceable_target_falls_back_to_the_default_episode_reproducibly() -> None:
    defaults = nav.NavConfig()
    almost_diagonal = {"target_distance": defaults.longest_target_distance - 1e-9}
    agent = Agent.start(defaults, np.random.default_rng(0))
    errors = agent.reset(defaults, 4, almost_diagonal)
    assert len(errors) == 1 and "ignored" in errors[0] and "spawn area" in errors[0]
    assert agent.cfg == defaults and agent.state.distance_to_target >= defaults.min_spawn_distance
    first = agent.state
    assert agent.reset(defaults, 4, almost_diagonal) and agent.state == first  # same seed, same fallback


def test_batch_requests_are_checked_before_anything_changes() -> None:
    def request(**fields: Any) -> SimpleNamespace:
        return SimpleNamespace(**{"agents": [], "seeds": [], "parameter_names": [], "parameter_values": [], **fields})

    plan = plan_reset(request(seeds=[5, -1, 6, 7]), 4)
    assert not isinstance(plan, str) and plan.agents == [0, 1, 2, 3] and plan.seeds == [5, None, 6, 7]
    plan = plan_reset(request(agents=[2], parameter_names=["max_steps"], parameter_values=[1.0, 2.0]), 4)
    assert not isinstance(plan, str) and plan.parameters == [{}] and "got 2" in plan.errors[0]
    assert plan_reset(request(agents=[1, 4]), 4) == "agents must be distinct indices in 0..3, got [1, 4]"
    assert plan_reset(request(agents=[1, 1]), 4) == "agents must be distinct indices in 0..3, got [1, 1]"
    assert plan_reset(request(agents=[0, 1], seeds=[3]), 4) == "expected 2 seeds (one per reset agent) or none, got 1"
    assert split_actions([0.0] * 6, 4) == "expected 8 action numbers (4 agents x 2), got 6"
    actions = split_actions(np.arange(8, dtype=np.float32), 4)
    assert isinstance(actions, np.ndarray) and actions.shape == (4, 2) and actions[3].tolist() == [6.0, 7.0]


def test_cli_agents_and_camera_flags() -> None:
    options = parse_options(["--agents", "16", "--camera-obs", "40"])[0]
    assert (options.agents, options.camera_obs, options.batched) == (16, 40, True)
    options = parse_options([])[0]
    assert (options.agents, options.camera_obs, options.batched) == (1, None, False)
    for argv in (["--agents", "0"], ["--camera-obs", "0"], ["--camera-obs", "4096"]):
        with pytest.raises(SystemExit) as exc:
            parse_options(argv)
        assert exc.value.code == 2


# ---------------------------------------------------------------------- the camera (no sockets)
def test_camera_is_egocentric_and_shows_walls_robot_and_target() -> None:
    cfg = nav.NavConfig()
    ahead = nav.NavState(x=3.0, y=-2.0, yaw=math.pi / 2, target_x=3.0, target_y=2.0)  # 4 m straight ahead
    image = render_camera([ahead], [cfg], 40)[0]
    assert image.shape == (40, 40, 3) and image.dtype == np.uint8
    green = np.argwhere(np.all(image == (40, 170, 80), axis=-1))
    assert green.size and abs(green[:, 0].mean() - 11.5) < 1.0 and abs(green[:, 1].mean() - 19.5) < 1.0  # 8 px up
    assert np.all(image[20, 25:] == (60, 60, 70))  # the east wall is 2 m (4 px) to the robot's right
    assert np.all(image[20, 5:15] == (235, 235, 228)) and np.all(image[20, :3] == (60, 60, 70))  # 8 m to the west wall
    assert np.all(image[19:21, 19:21] == (40, 110, 200))  # the robot at the centre
    turned = render_camera([nav.NavState(x=3.0, y=-2.0, yaw=0.0, target_x=3.0, target_y=2.0)], [cfg], 40)[0]
    assert not np.array_equal(turned, image)
    collided = render_camera(
        [nav.NavState(x=4.9, y=0.0, yaw=0.0, target_x=0.0, target_y=0.0, collided=True)], [cfg], 40
    )
    assert np.all(collided[0, 20, 20] == (210, 50, 50))
    many = render_camera([ahead] * 3, [cfg] * 3, 36)
    assert many.shape == (3, 36, 36, 3) and np.array_equal(many[0], many[2])


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
        proc = subprocess.Popen([*cmd, "--environment-id", "0", "--connect-timeout", "1", "-nographics", *extra])
        procs.append(proc)
        assert bridge.wait_for_client(10), "the simulator did not connect"
        assert bridge.wait_for_service(STEP, 5) and bridge.wait_for_service(RESET, 5)
        return proc

    yield start
    for proc in procs:  # only the processes this test started, by PID
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def call(bridge: RosTcpBridge, service: str, request: dict[str, Any]) -> Any:
    return bridge.call_unity_service(service, request, timeout_s=5)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == UNITY_LOG and r.levelno >= logging.ERROR]


def pose(state: Any) -> tuple[float, float, float]:
    return float(state.robot_x), float(state.robot_y), float(state.robot_yaw)


def assert_state_is(state: Any, expected: nav.NavState) -> None:
    got = (state.robot_x, state.robot_y, state.robot_yaw, state.target_x, state.target_y)
    want = (expected.x, expected.y, expected.yaw, expected.target_x, expected.target_y)
    assert got == pytest.approx(want, abs=1e-5) and state.step_count == expected.step_count


def image(state: Any) -> np.ndarray:
    camera = state.camera
    assert (camera.encoding, camera.step, len(camera.data)) == ("rgb8", camera.width * 3, camera.height * camera.step)
    return np.asarray(camera.data, dtype=np.uint8).reshape(camera.height, camera.width, 3)


def test_reset_parameters_apply_to_their_episode_only(
    bridge: RosTcpBridge, spawn: Callable[..., subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=UNITY_LOG)
    proc = spawn("--light", "--seed", "1")
    names = ["target_distance", "max_steps", "success_radius", "wind_speed"]  # the last one unknown: ignored
    request = {"reset": True, "seed": 5, "parameter_names": names, "parameter_values": [0.9, 3.0, 1.0, 7.0]}
    first = call(bridge, RESET, request)
    assert list(first.accepted_parameters) == ACCEPTED
    expected = nav.reset(np.random.default_rng(5), nav.NavConfig(target_distance=0.9))
    assert_state_is(first.state, expected)
    assert first.state.distance_to_target == pytest.approx(0.9, abs=1e-5)
    assert bridge.types.to_dict(call(bridge, RESET, request)) == bridge.types.to_dict(first)  # reproducible
    step = call(bridge, STEP, {"action": [0.0, 0.0]})
    assert step.state.reached_target  # 0.9 m is inside the episode's success radius 1.0
    for count in (2, 3):
        assert call(bridge, STEP, {"action": [0.0, 0.0]}).state.truncated == (count >= 3)  # max_steps 3

    plain = call(bridge, RESET, {"reset": True, "seed": 5})  # no parameters: the defaults again
    assert list(plain.accepted_parameters) == ACCEPTED
    assert_state_is(plain.state, nav.reset(np.random.default_rng(5)))
    assert (plain.state.camera.height, plain.state.camera.width, len(plain.state.camera.data)) == (0, 0, 0)
    for _ in range(4):
        state = call(bridge, STEP, {"action": [0.0, 0.2]}).state
    assert state.step_count == 4 and not state.truncated and not state.reached_target

    bad_requests = [
        {"parameter_names": ["target_distance", "max_steps"], "parameter_values": [2.0]},  # lengths differ
        {"parameter_names": ["target_distance", "max_steps"], "parameter_values": [math.nan, 2.0]},
        {"parameter_names": ["target_distance", "max_steps"], "parameter_values": [50.0, 2.5]},
    ]
    for bad in bad_requests:
        answer = call(bridge, RESET, {"reset": True, "seed": 9, **bad})
        assert answer.state.step_count == 0 and list(answer.accepted_parameters) == ACCEPTED
    assert_state_is(answer.state, nav.reset(np.random.default_rng(9)))  # every bad value fell back to its default
    assert call(bridge, STEP, {"action": [0.0, 0.0]}).state.truncated is False
    logged = "\n".join(errors_logged(caplog))
    assert "expected 1 x 2 values" in logged and "target_distance=nan" in logged
    assert "target_distance=50.0" in logged and "max_steps=2.5" in logged
    assert proc.poll() is None and bridge.connected


def test_batched_player_steps_and_resets_four_agents(
    bridge: RosTcpBridge, spawn: Callable[..., subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=UNITY_LOG)
    proc = spawn("--agents", "4", "--seed", "3", "--camera-obs", "40")
    assert bridge.registered_services() == {
        STEP: "ray_lab_interfaces/EnvironmentStepBatch",
        RESET: "ray_lab_interfaces/EnvironmentResetBatch",
    }
    unchanged = call(bridge, RESET, {"reset": False})
    assert len(unchanged.states) == 4 and list(unchanged.accepted_parameters) == ACCEPTED
    assert_state_is(unchanged.states[0], nav.reset(np.random.default_rng(3)))  # --seed drives agent 0 as before

    start = call(bridge, RESET, {"reset": True, "seeds": [10, 11, 12, 13]})
    for i, state in enumerate(start.states):
        assert_state_is(state, nav.reset(np.random.default_rng(10 + i)))
        assert image(state).shape == (40, 40, 3)
    scans = bridge.message_count(SCAN)
    actions = np.zeros((4, 2), dtype=np.float32)
    actions[2] = [1.0, 0.0]  # agent-major: only agent 2 drives
    moved = call(bridge, STEP, {"actions": actions.reshape(-1)})
    assert [s.step_count for s in moved.states] == [1, 1, 1, 1]
    for i in (0, 1, 3):
        assert pose(moved.states[i]) == pose(start.states[i])
        assert np.array_equal(image(moved.states[i]), image(start.states[i]))
    dx = moved.states[2].robot_x - start.states[2].robot_x
    assert math.hypot(dx, moved.states[2].robot_y - start.states[2].robot_y) == pytest.approx(0.1, abs=1e-5)
    assert not np.array_equal(image(moved.states[2]), image(start.states[2]))  # the camera sees the move
    scan = bridge.wait_for_message(SCAN, 5, after_count=scans)  # agent 0's lidar
    assert scan is not None
    np.testing.assert_allclose(scan.ranges, moved.states[0].lidar_ranges, rtol=1e-6)

    names, values = ["target_distance", "max_steps"], [2.0, 1.0, 4.0, 400.0]  # one row per reset agent
    subset = call(
        bridge,
        RESET,
        {"reset": True, "agents": [3, 1], "seeds": [8, 7], "parameter_names": names, "parameter_values": values},
    )
    for i in (0, 2):  # untouched
        assert pose(subset.states[i]) == pose(moved.states[i]) and subset.states[i].step_count == 1
    assert_state_is(subset.states[1], nav.reset(np.random.default_rng(7), nav.NavConfig(target_distance=4.0)))
    assert_state_is(subset.states[3], nav.reset(np.random.default_rng(8), nav.NavConfig(target_distance=2.0)))
    after = call(bridge, STEP, {"actions": [0.5, 0.0] * 4})
    assert after.states[3].truncated and not after.states[1].truncated  # agent 3's episode: max_steps 1
    frozen = call(bridge, STEP, {"actions": [0.5, 0.0] * 4})  # an ended episode waits for its reset
    assert pose(frozen.states[3]) == pose(after.states[3]) and frozen.states[3].step_count == 1
    assert [frozen.states[i].step_count for i in (0, 1, 2)] == [3, 2, 3]

    wrong = call(bridge, STEP, {"actions": [1.0, 0.0] * 3})  # 6 numbers for 4 agents: nobody moves
    assert [pose(s) for s in wrong.states] == [pose(s) for s in frozen.states]
    nan_row = call(bridge, STEP, {"actions": [0.5, 0.0, math.nan, 0.0, 0.5, 0.0, 0.5, 0.0]})
    assert nan_row.states[1].step_count == 2 and nan_row.states[0].step_count == 4  # only agent 1 rejected
    rejected = call(bridge, RESET, {"reset": True, "agents": [1, 4]})  # no agent 4: nobody is reset
    assert [s.step_count for s in rejected.states] == [s.step_count for s in nan_row.states]
    call(bridge, RESET, {"reset": True, "agents": [0, 1], "seeds": [1]})  # one seed for two agents: rejected
    logged = "\n".join(errors_logged(caplog))
    for fragment in ("expected 8 action numbers (4 agents x 2), got 6", "agent 1 rejected", "got [1, 4]", "got 1"):
        assert fragment in logged, fragment
    assert proc.poll() is None and bridge.connected


def test_batched_faults_count_batch_calls(bridge: RosTcpBridge, spawn: Callable[..., subprocess.Popen[bytes]]) -> None:
    proc = spawn("--agents", "4", "--light", "--crash-after-steps", "2", "--step-latency-ms", "100")
    assert call(bridge, RESET, {"reset": True}).states[3].step_count == 0
    for i in range(2):
        begun = time.monotonic()
        assert [s.step_count for s in call(bridge, STEP, {"actions": [0.0] * 8}).states] == [i + 1] * 4
        assert time.monotonic() - begun >= 0.1
    assert bridge.publications() == {}  # --light: no sensors in batched mode either
    with pytest.raises(ConnectionError):
        bridge.call_unity_service(STEP, {"actions": [0.0] * 8}, timeout_s=10)
    assert proc.wait(5) == CRASH_EXIT_CODE
