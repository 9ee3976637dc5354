"""The YAML field mapping of a multi-agent player (``agents_per_instance`` k > 1) with an interface package
that is not ray-lab's.

The player is ``tests/data/indie_batch_player.py``: written independently of the bridge (stdlib only,
hand-written CDR), serving ``indie_msgs/ActAll`` (``gear`` + every agent's action in ``actions``) and
``indie_msgs/RestartSome`` (``agents``, ``seeds``, ``level``), both answering ``Rover[] states``. With
k > 1 the mapping's response paths are relative to ONE item of ``states``. The agents are built by the
worker's env factories (so the launcher passes ``--agents k``) and stepped the way a worker steps them
(``EnvStepper``, split-phase); the player records every request it decodes.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml

from ray_lab.config.errors import ConfigError
from ray_lab.config.schema import EnvironmentSection
from ray_lab.envs.factory import make_env_factories
from ray_lab.learner.experiment import load_experiment
from ray_lab.workers.assignment import EnvAssignment
from ray_lab.workers.stepping import EnvStep, EnvStepper
from unity_workers.envs.agents import AgentEnv
from unity_workers.envs.protocols import field_problems
from unity_workers.ros_tcp import MessageTypes
from unity_workers.spec import UnitySpec

DATA = Path(__file__).resolve().parent / "data"
INTERFACE = DATA / "indie_interfaces"
K = 3
SPEED, MOVES, HALF = 0.25, 6, 1.0  # the batch player's rules (indie_batch_player.py)
FIELDS: dict[str, Any] = {
    "action": "actions",
    "observation": ["body.px", "body.py", "body.vel[0:2]", "agent"],  # relative to one item of `states`
    "reward": "score",
    "terminated": ["done"],
    "truncated": ["out_of_time"],
    "reset_request": {"level": "arena"},
    "step_request": {"gear": 2},
}
EAST, STILL, SOUTHWEST = [1.0, 0.0], [0.0, 0.0], [-0.5, -1.0]


def batch_section(record: Path, agents: int = K, **fields: Any) -> dict[str, Any]:
    """An ``environment.unity`` section for the batch player, with ``fields`` overriding the mapping."""
    return {
        "command": [sys.executable, str(DATA / "indie_batch_player.py")],
        "extra_args": ["--record", str(record)],
        "interface": str(INTERFACE),
        "env_name": "indie",
        "step_srv": "indie_msgs/ActAll",
        "reset_srv": "indie_msgs/RestartSome",
        "agents_per_instance": agents,
        "ros2_graph": "off",
        "max_restarts": 0,  # a fault fails the test instead of restarting the player
        "observation_space": {"type": "box", "shape": [5], "low": -10, "high": 10},
        "action_space": {"type": "box", "low": [-1, -1], "high": [1, 1]},
        "fields": {**FIELDS, **fields},
    }


def recorded(record: Path, service: str) -> list[dict[str, Any]]:
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    return [call["request"] for call in calls if call["service"] == service]


def start_of(seed: int) -> tuple[float, float]:
    """Where the batch player puts a rover restarted with ``seed`` (whichever agent it is)."""
    gen = random.Random(seed)
    return gen.uniform(-0.5, 0.5), gen.uniform(-0.5, 0.5)


class Rover:
    """The test's own model of one agent of the batch player."""

    def __init__(self, agent: int, seed: int) -> None:
        self.agent = agent
        self.restart(seed)

    def restart(self, seed: int) -> np.ndarray:
        (self.px, self.py), self.vel, self.moves = start_of(seed), [0.0, 0.0], 0
        return self.obs()

    def obs(self) -> np.ndarray:
        return np.array([self.px, self.py, *self.vel, self.agent], dtype=np.float32)

    def move(self, action: list[float]) -> tuple[np.ndarray, float, bool, bool]:
        self.px += SPEED * action[0]
        self.py += SPEED * action[1]
        self.vel, self.moves = list(action), self.moves + 1
        terminated = max(abs(self.px), abs(self.py)) > HALF
        return self.obs(), -math.hypot(self.px, self.py), terminated, self.moves >= MOVES and not terminated


class Stepper:
    """The agents of one player, stepped like a worker steps them; ``seed_of(agent)`` seeds every reset."""

    def __init__(self, envs: list[gym.Env], seed_of: Callable[[int], int | None]) -> None:
        self.seed_of = seed_of
        self.stepper = EnvStepper(envs, "auto", reset_args=lambda i: (seed_of(i), None), set_cursor=lambda i: None)

    def reset(self) -> list[np.ndarray]:
        return [obs for obs, _ in self.stepper.reset()]

    def step(self, actions: list[list[float]]) -> list[EnvStep]:
        return self.stepper.step([np.array(action, dtype=np.float32) for action in actions])


@pytest.fixture
def player(tmp_path: Path) -> Iterator[tuple[list[gym.Env], Path]]:
    """The K agent envs of one batch player, built by the worker's env factories, and its record."""
    record = tmp_path / "calls.jsonl"
    section = EnvironmentSection.model_validate({"unity": batch_section(record)})
    envs: list[gym.Env] = []
    try:
        for factory in make_env_factories(section, EnvAssignment(K, K, K), log_dir=str(tmp_path / "logs")):
            envs.append(factory())
        yield envs, record
    finally:
        for env in envs:
            env.close()


def test_each_agent_is_mapped_from_its_own_item_and_only_finished_agents_are_reset(
    player: tuple[list[gym.Env], Path],
) -> None:
    envs, record = player
    assert [type(env.unwrapped) for env in envs] == [AgentEnv] * K
    assert len({id(getattr(env.unwrapped, "batch", None)) for env in envs}) == 1  # one player (started with --agents K)
    episodes = [0] * K
    counters = [itertools.count(100 * agent) for agent in range(K)]  # each agent, each episode its own seed
    stepper = Stepper(envs, lambda agent: next(counters[agent]))
    rovers = [Rover(agent, 100 * agent) for agent in range(K)]
    for agent, obs in enumerate(stepper.reset()):
        np.testing.assert_allclose(obs, rovers[agent].obs(), rtol=1e-6)
    actions = [EAST, STILL, SOUTHWEST]  # agent 0 leaves the square east, 1 runs out of time, 2 leaves south-west
    expected_resets: list[dict[str, Any]] = []
    for _ in range(14):
        results = stepper.step(actions)
        finished: list[int] = []
        for agent, (rover, result) in enumerate(zip(rovers, results, strict=True)):
            obs, reward, terminated, truncated = rover.move(actions[agent])
            assert result.reward == pytest.approx(reward, rel=1e-6)
            assert (result.done, result.truncated) == (terminated or truncated, truncated)
            if result.done:
                np.testing.assert_allclose(result.info["terminal_observation"], obs, rtol=1e-6)
                episodes[agent] += 1
                np.testing.assert_allclose(result.obs, rover.restart(100 * agent + episodes[agent]), rtol=1e-6)
                finished.append(agent)
            else:
                np.testing.assert_allclose(result.obs, obs, rtol=1e-6)
        if finished:
            seeds = [100 * agent + episodes[agent] for agent in finished]
            expected_resets.append({"level": "arena", "agents": finished, "seeds": seeds, "bytes_left": 0})
    assert min(episodes) >= 2 and len(set(episodes)) > 1, episodes  # episodes of different lengths
    assert any(len(reset["agents"]) < K for reset in expected_resets)  # some agents were reset without the others
    resets = recorded(record, "reset")
    assert resets[0] == {"level": "arena", "agents": [0, 1, 2], "seeds": [0, 100, 200], "bytes_left": 0}
    assert resets[1:] == expected_resets  # one reset call per step that ended episodes: only those agents
    steps = recorded(record, "step")
    assert len(steps) == 14
    assert all(step["actions"] == [*EAST, *STILL, *SOUTHWEST] for step in steps)  # agent-major
    assert all(step["bytes_left"] == 0 for step in steps)


def test_the_step_request_constants_reach_a_batch_player(player: tuple[list[gym.Env], Path]) -> None:
    envs, record = player
    stepper = Stepper(envs, lambda agent: agent)
    stepper.reset()
    stepper.step([EAST, STILL, SOUTHWEST])
    (step,) = recorded(record, "step")
    assert step == {"gear": 2, "actions": [*EAST, *STILL, *SOUTHWEST], "bytes_left": 0}


def test_seeds_go_to_their_agents_and_seeded_resets_repeat(player: tuple[list[gym.Env], Path]) -> None:
    envs, record = player
    seeds: list[int | None] = [11, 12, 13]
    stepper = Stepper(envs, lambda agent: seeds[agent])
    first = stepper.reset()
    for agent, obs in enumerate(first):
        np.testing.assert_allclose(obs, [*start_of(11 + agent), 0.0, 0.0, agent], rtol=1e-6)
    for _ in range(2):  # the agents move on, each its own way
        stepper.step([EAST, SOUTHWEST, STILL])
    seeds = [13, 12, 11]  # agents 0 and 2 swap seeds: they swap starts
    swapped = stepper.reset()
    np.testing.assert_array_equal(swapped[0][:4], first[2][:4])
    np.testing.assert_array_equal(swapped[1], first[1])
    np.testing.assert_array_equal(swapped[2][:4], first[0][:4])
    seeds = [None, None, None]
    stepper.reset()
    assert [(r["agents"], r["seeds"]) for r in recorded(record, "reset")] == [
        ([0, 1, 2], [11, 12, 13]),
        ([0, 1, 2], [13, 12, 11]),
        ([0, 1, 2], [-1, -1, -1]),  # no seed: -1
    ]


def spec_of(agents: int = K, **override: Any) -> UnitySpec:
    """A batch section's spec; ``step_srv``/``reset_srv`` in ``override`` replace the types, the rest the mapping."""
    types = {key: override.pop(key) for key in ("step_srv", "reset_srv") if key in override}
    return UnitySpec.model_validate({**batch_section(Path("calls.jsonl"), agents, **override), **types})


@pytest.mark.parametrize(
    "override, key, words",
    [
        (  # a path relative to the whole batch response, not to one item of `states`
            {"reward": "states[0].score"},
            "fields.reward",
            ["has no field 'states'", "the step response indie_msgs/msg/Rover", "score (float32)"],
        ),
        (  # a field that only the whole response has
            {"observation": ["body.px", "tick"]},
            "fields.observation[1]",
            ["has no field 'tick'", "indie_msgs/msg/Rover", "agent (int32)"],
        ),
        ({"terminated": ["dnoe"]}, "fields.terminated[0]", ["'dnoe'", "(did you mean 'done'?)"]),
        ({"truncated": ["out_of_tme"]}, "fields.truncated[0]", ["(did you mean 'out_of_time'?)"]),
        ({"observation": ["body.px", "body.pz"]}, "fields.observation[1]", ["'pz'", "px (float64)", "py (float64)"]),
        ({"action": "action"}, "fields.action", ["(did you mean 'actions'?)", "actions (float32[])"]),
        ({"step_request": {"gaer": 2}}, "fields.step_request.gaer", ["(did you mean 'gear'?)", "gear (uint8)"]),
        (
            {"reset_request": {"levle": "arena"}},
            "fields.reset_request.levle",
            ["(did you mean 'level'?)", "agents (int32[])", "seeds (int64[])"],
        ),
    ],
)
def test_a_bad_batched_path_is_named_with_a_did_you_mean(override: dict[str, Any], key: str, words: list[str]) -> None:
    problems = field_problems(spec_of(**override), MessageTypes(INTERFACE))
    assert len(problems) == 1, problems
    ((found, text),) = problems
    assert found == key, problems
    for word in words:
        assert word in text, text


def test_the_batched_mapping_fits_only_with_several_agents() -> None:
    types = MessageTypes(INTERFACE)
    assert field_problems(spec_of(), types) == []
    single = dict(field_problems(spec_of(agents=1), types))  # one agent: paths are relative to the whole response
    assert set(single) == {f"fields.observation[{i}]" for i in range(4)} | {
        "fields.reward",
        "fields.terminated[0]",
        "fields.truncated[0]",
    }
    assert "has no field 'score'" in single["fields.reward"]
    assert "states (indie_msgs/msg/Rover[])" in single["fields.reward"]


@pytest.mark.parametrize(
    "override, words",
    [
        ({"step_srv": "indie_msgs/Act"}, ["step response indie_msgs/srv/Act_Response", "has no field 'states'"]),
        ({"reset_srv": "indie_msgs/Restart"}, ["reset response indie_msgs/srv/Restart_Response", "'states'"]),
    ],
)
def test_a_batch_type_without_states_is_an_agents_per_instance_problem(
    override: dict[str, Any], words: list[str]
) -> None:
    problems = field_problems(spec_of(**override), MessageTypes(INTERFACE))
    assert [key for key, _ in problems] == ["agents_per_instance"], problems
    for word in words:
        assert word in problems[0][1], problems


def test_a_batched_action_must_be_an_array_field() -> None:
    section = batch_section(Path("calls.jsonl"), action="gear", step_request={})
    spec = UnitySpec.model_validate({**section, "action_space": {"type": "box", "low": [-1], "high": [1]}})
    problems = field_problems(spec, MessageTypes(INTERFACE))
    assert [key for key, _ in problems] == ["fields.action"], problems


def write_config(tmp_path: Path, section: dict[str, Any]) -> Path:
    path = tmp_path / "indie_batch.yaml"
    config = {
        "experiment": {"output_dir": str(tmp_path / "runs")},
        "environment": {"unity": section},
        "workers": {"num_workers": 1, "envs_per_worker": 1},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "override, key, words",
    [
        ({"step_srv": "indie_msgs/Act"}, "agents_per_instance", ["has no field 'states'"]),
        ({"reward": "states[0].score"}, "fields.reward", ["has no field 'states'", "score (float32)"]),
        ({"terminated": ["dnoe"]}, "fields.terminated[0]", ["(did you mean 'done'?)"]),
    ],
)
def test_a_bad_batched_section_is_a_config_error_at_load(
    tmp_path: Path, override: dict[str, Any], key: str, words: list[str]
) -> None:
    """What ``ray-lab train`` checks before anything starts (it then exits 2 with these lines)."""
    types: dict[str, Any] = {name: override.pop(name) for name in ("step_srv", "reset_srv") if name in override}
    path = write_config(tmp_path, {**batch_section(tmp_path / "calls.jsonl", **override), **types})
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    text = str(caught.value)
    assert f"{path}: environment.unity.{key}: " in text, text
    for word in words:
        assert word in text, text
    assert len(caught.value.problems) == 1, text
    assert not (tmp_path / "calls.jsonl").exists()  # no player started
