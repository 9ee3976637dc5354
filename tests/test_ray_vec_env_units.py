"""In-process checks of the pieces behind RayVecEnv (no Ray cluster needed): options, env assignment,
wire format, the env worker itself, and error mirroring."""

from __future__ import annotations

import functools
import math
import pickle
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from ray_lab.envs.testing import CounterEnv, FailingEnv, SleepEnv, SpacesEnv
from ray_lab.workers import EnvWorker, WorkerError, WorkerOptions, worker_bundles
from ray_lab.workers.assignment import EnvAssignment
from ray_lab.workers.errors import describe_failure, to_worker_error
from ray_lab.workers.obs_format import ObsFormat
from ray_lab.workers.protocol import Command, decode_reply, decode_request, encode_actions, encode_request
from ray_lab.workers.step_codec import StepDecoder


def test_worker_options_defaults() -> None:
    options = WorkerOptions()
    assert (options.envs_per_worker, options.num_cpus, options.num_gpus) == (8, 0.25, 0.0)
    assert (options.step_timeout_s, options.max_restarts, options.transport) == (60.0, 0, "auto")
    assert (options.placement_group, options.bundle_offset, options.name) == (None, 0, "train")
    assert (options.start_timeout_s, options.idle_release_s, options.runtime_env) == (300.0, 10.0, None)
    assert EnvAssignment(8, options.envs_per_worker).num_workers == 1 and len(worker_bundles(9, options)) == 2
    with pytest.raises(AttributeError):
        options.num_cpus = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"envs_per_worker": 0}, "envs_per_worker must be an int >= 1, got 0"),
        ({"envs_per_worker": True}, "envs_per_worker must be an int >= 1, got True"),
        ({"num_cpus": -0.5}, "num_cpus must be a finite number >= 0, got -0.5"),
        ({"num_gpus": math.inf}, "num_gpus must be a finite number >= 0, got inf"),
        ({"resources": {"CPU": 1}}, "must not contain 'CPU'"),
        ({"resources": {"unity": -1}}, r"resources\['unity'\] must be a finite number >= 0, got -1"),
        ({"step_timeout_s": 0}, "step_timeout_s must be None or a finite number > 0, got 0"),
        ({"start_timeout_s": -1.0}, "start_timeout_s must be None or a finite number > 0, got -1.0"),
        ({"max_restarts": -2}, "max_restarts must be an int >= -1 .*, got -2"),
        ({"transport": "grpc"}, r"transport must be one of \['auto', 'socket', 'compiled', 'actor'\], got 'grpc'"),
        ({"bundle_offset": -1}, "bundle_offset must be an int >= 0, got -1"),
        ({"name": "has space"}, "name must match .* got 'has space'"),
        ({"runtime_env": "env"}, "runtime_env must be None or a dict, got 'env'"),
    ],
)
def test_worker_options_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkerOptions(**kwargs)


def test_worker_bundles() -> None:
    options = WorkerOptions(envs_per_worker=4, num_cpus=0.5, num_gpus=0.25, resources={"unity": 1})
    assert worker_bundles(9, options) == [{"CPU": 0.5, "GPU": 0.25, "unity": 1.0}] * 3
    assert worker_bundles(1, WorkerOptions()) == [{"CPU": 0.25}]
    with pytest.raises(ValueError, match="needs at least one non-zero resource"):
        worker_bundles(4, WorkerOptions(num_cpus=0))
    with pytest.raises(ValueError, match="num_envs must be an int >= 1, got 0"):
        worker_bundles(0, WorkerOptions())


def test_env_assignment() -> None:
    assignment = EnvAssignment(num_envs=7, envs_per_worker=3)
    assert assignment.num_workers == 3
    assert [list(assignment.env_range(w)) for w in range(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    targets = assignment.normalize([6, -7, 4, 1, -1])
    assert targets == [6, 0, 4, 1, 6]
    assert assignment.group(targets) == {2: [0, 0], 0: [0, 1], 1: [1]}
    assert assignment.scatter_order(targets) == [(2, 0), (0, 0), (1, 0), (0, 1), (2, 1)]
    with pytest.raises(IndexError, match="env index 7 out of range for 7 envs"):
        assignment.normalize([7])
    with pytest.raises(TypeError, match="env indices must be ints"):
        assignment.normalize(["0"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "actions",
    [
        np.array([0, 1, 1], dtype=np.int64),
        np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],  # non-contiguous view
        np.array([[True, False]] * 3),
        [np.int64(1), np.int64(0)],  # lists go through pickle
    ],
)
def test_action_encoding_round_trip(actions: Any) -> None:
    command, decoded = decode_request(encode_actions(actions))
    assert command is Command.STEP
    np.testing.assert_array_equal(decoded, actions)
    if isinstance(actions, np.ndarray):
        assert decoded.dtype == actions.dtype and decoded.flags.writeable


def test_other_requests_and_unknown_tags() -> None:
    command, payload = decode_request(encode_request(Command.GET_ATTR, ("x", [0])))
    assert (command, payload) == (Command.GET_ATTR, ("x", [0]))
    with pytest.raises(ValueError, match="unknown request tag b'Z'"):
        decode_request(b"Z123")
    with pytest.raises(ValueError, match="unexpected reply tag"):
        decode_reply(b"Q")


@pytest.mark.parametrize("space", ["box", "discrete", "multibinary", "dict", "tuple", "image"])
def test_worker_steps_match_dummy_vec_env(space: str) -> None:
    """Two in-process EnvWorkers + StepDecoder give what DummyVecEnv gives for the same seeds."""
    env_fns: list[Any] = [functools.partial(SpacesEnv, space, episode_length=3)] * 5
    workers = [EnvWorker(env_fns[:3], 0, 0), EnvWorker(env_fns[3:], 1, 3)]
    dummy = DummyVecEnv(env_fns)
    obs_format = ObsFormat.from_space(dummy.observation_space)
    decoder = StepDecoder(obs_format, [3, 2])
    dummy.seed(7)
    dummy_obs = dummy.reset()
    stacks = [workers[0].reset(seeds=[7, 8, 9])[0], workers[1].reset(seeds=[10, 11])[0]]
    assert_obs_equal(obs_format.concatenate(stacks), dummy_obs)
    for _ in range(7):
        actions = [dummy.action_space.sample() for _ in range(5)]
        replies = [
            w.handle(encode_request(Command.STEP, actions[s]))
            for w, s in zip(workers, [slice(0, 3), slice(3, 5)], strict=True)
        ]
        decoded = decoder.decode(replies)
        obs, rewards, dones, infos = dummy.step(actions)  # type: ignore[arg-type]
        assert_obs_equal(decoded.obs, obs)
        np.testing.assert_array_equal(decoded.rewards, rewards)
        np.testing.assert_array_equal(decoded.dones, dones)
        for mine, theirs in zip(decoded.infos, infos, strict=True):
            assert mine.keys() == theirs.keys()
            if "terminal_observation" in theirs:
                assert_obs_equal(mine["terminal_observation"], theirs["terminal_observation"])
        assert {i: dummy.reset_infos[i] for i in decoded.reset_infos} == decoded.reset_infos


def assert_obs_equal(mine: Any, theirs: Any) -> None:
    if isinstance(theirs, dict):
        assert list(mine) == list(theirs)
        for key in theirs:
            np.testing.assert_array_equal(mine[key], theirs[key])
            assert np.asarray(mine[key]).dtype == np.asarray(theirs[key]).dtype
    elif isinstance(theirs, tuple):
        assert isinstance(mine, tuple) and len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(mine, theirs)
        assert np.asarray(mine).dtype == np.asarray(theirs).dtype


def test_pending_seed_is_used_by_the_auto_reset() -> None:
    worker = EnvWorker([functools.partial(SleepEnv, sleep_s=0.0, episode_length=2)] * 2)
    worker.reset(seeds=[1, 2])
    worker.set_reset_args([1], seeds=[42], options=[{"a": 1}])
    worker.step([0, 0])
    result = worker.step([0, 0])  # both episodes end; env 1 resets with seed 42
    expected, _ = SleepEnv(sleep_s=0.0).reset(seed=42)
    np.testing.assert_array_equal(result.obs[1], expected)
    assert result.reset_infos[1] == {"seed": 42} and result.reset_infos[0] == {"seed": None}
    with pytest.raises(ValueError, match="expected 1 seeds, got 2"):
        worker.set_reset_args([0], seeds=[1, 2])
    with pytest.raises(ValueError, match="worker 0: expected 2 actions, got 3"):
        worker.step([0, 0, 0])


def test_worker_handle_reports_failures_instead_of_raising() -> None:
    worker = EnvWorker([functools.partial(CounterEnv, 5), functools.partial(FailingEnv, "step")], 3, 6)
    worker.reset()
    ok, failure = decode_reply(worker.handle(encode_request(Command.STEP, np.zeros(2, dtype=np.int64))))
    assert not ok
    assert (failure.worker_index, failure.env_indices, failure.command) == (3, (7,), "step")
    error = to_worker_error(failure, "train-envworker-3-x")
    assert isinstance(error, ValueError) and isinstance(error, WorkerError)
    assert "worker 3 ('train-envworker-3-x') (envs [7]) failed in 'step'" in str(error)
    assert "FailingEnv: boom at step 1" in error.remote_traceback
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is WorkerError and clone.remote_traceback == error.remote_traceback
    ok, value = decode_reply(worker.handle(encode_request(Command.GET_ATTR, ("max_steps", [0]))))
    assert ok and value == [5]
    worker.close()
    worker.close()


def test_start_failure_is_reported_by_describe() -> None:
    worker = EnvWorker([functools.partial(CounterEnv, 5), functools.partial(FailingEnv, "init")], 1, 2)
    ok, failure = decode_reply(worker.describe())
    assert not ok and failure.command == "start" and failure.env_indices == (3,)
    ok, _ = decode_reply(worker.handle(encode_request(Command.RESET, (None, None))))
    assert not ok
    ok, _ = decode_reply(worker.handle(encode_request(Command.CLOSE)))
    assert ok


def test_same_instance_factories_are_rejected() -> None:
    env = CounterEnv()
    worker = EnvWorker([lambda: env, lambda: env])
    assert worker.startup_failure is not None
    assert "same environment instance" in worker.startup_failure.message


class _LocalError(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def test_error_mirroring_falls_back_to_plain_worker_error() -> None:
    try:
        raise _LocalError(1, 2)
    except _LocalError as exc:
        failure = describe_failure(exc, "tb", worker_index=0, env_indices=[0], command="step")
    error = to_worker_error(failure)
    assert isinstance(error, _LocalError) and error.cause_type.endswith("_LocalError")
    unloadable = describe_failure(KeyError("k"), "tb", worker_index=0, env_indices=[0], command="x")
    object.__setattr__(unloadable, "exc_type_pickle", b"not a pickle")
    assert type(to_worker_error(unloadable)) is WorkerError
