"""Stable-Baselines3's own vec-env checks (tests/test_vec_envs.py), run on DummyVecEnv and RayVecEnv.

Each test is parametrized over ``"dummy"`` and ``"ray"`` so that the same assertions show that
RayVecEnv behaves like SB3's reference implementation. Ray runs for real (``ray_session``).
Environments come from :mod:`ray_lab.envs.testing` (module-level, so they pickle to workers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack, VecNormalize

from ray_lab.envs.testing import SPACE_BUILDERS, CounterEnv, SpacesEnv, monitored_spaces_env
from ray_lab.workers import RayVecEnv, WorkerOptions

N_ENVS = 3
KINDS = ["dummy", "ray"]
WRAPPERS: list[Any] = [None, VecNormalize, VecFrameStack]


def make_vec(kind: str, env_fns: Sequence[Callable[[], gym.Env]], envs_per_worker: int = 2) -> Any:
    """DummyVecEnv, or RayVecEnv with 2 envs per worker (3 envs: an uneven 2 + 1 split).

    Typed ``Any``: SB3's VecEnvObs union makes every observation access need a cast otherwise.
    """
    if kind == "dummy":
        return DummyVecEnv(list(env_fns))
    return RayVecEnv(env_fns, WorkerOptions(envs_per_worker=envs_per_worker, name="test"))


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return str(request.param)


def wrap(vec_env: VecEnv, wrapper: Any) -> Any:
    if wrapper is None:
        return vec_env
    if wrapper is VecFrameStack:
        return VecFrameStack(vec_env, n_stack=2)
    return wrapper(vec_env)


def check_custom_calls(vec_env: Any, tag: str) -> None:
    """SB3's test_vecenv_custom_calls body; ``tag`` keeps attribute names unique per wrapper."""
    dummy, dummy1, dummy2 = f"dummy_{tag}", f"dummy1_{tag}", f"dummy2_{tag}"
    vec_env.seed(0)

    array_explicit_mode = vec_env.render(mode="rgb_array")
    array_implicit_mode = vec_env.render()
    assert np.array_equal(array_implicit_mode, array_explicit_mode)
    with pytest.warns(UserWarning):
        vec_env.render(mode="something_else")

    assert not vec_env.has_attr(dummy)
    vec_env.set_attr(dummy, 12)
    assert vec_env.get_attr(dummy) == [12] * N_ENVS

    assert not vec_env.has_attr(dummy2)
    vec_env.env_method("set_wrapper_attr", dummy2, 2)
    assert vec_env.get_attr(dummy2) == [2] * N_ENVS

    env_method_results = vec_env.env_method("custom_method", 1, indices=None, dim_1=2)
    setattr_results = [vec_env.set_attr(dummy1, env_idx, indices=env_idx) for env_idx in range(N_ENVS)]
    assert vec_env.has_attr(dummy1)
    getattr_results = vec_env.get_attr(dummy1)
    assert len(env_method_results) == len(setattr_results) == len(getattr_results) == N_ENVS
    for env_idx in range(N_ENVS):
        assert (env_method_results[env_idx] == np.ones((1, 2))).all()
        assert setattr_results[env_idx] is None
        assert getattr_results[env_idx] == env_idx

    env_method_subset = vec_env.env_method("custom_method", 1, indices=[0, 2], dim_1=3)
    assert len(env_method_subset) == 2
    assert all((result == np.ones((1, 3))).all() for result in env_method_subset)

    assert vec_env.set_attr(dummy1, 42, indices=None) is None
    assert vec_env.get_attr(dummy1) == [42] * N_ENVS

    vec_env.reset()
    setattr_result = vec_env.env_method("set_wrapper_attr", "current_step", 12, indices=[0, 1])
    assert setattr_result == [True, True]
    assert vec_env.get_attr("current_step") == [12, 12] + [0] * (N_ENVS - 2)
    assert vec_env.get_attr("current_step", indices=[0, 1]) == [12, 12]
    assert vec_env.get_attr("current_step", indices=[0, 2]) == [12, 0]

    vec_env.reset()
    setattr_result = vec_env.env_method("set_wrapper_attr", "current_step", 12, indices=[0, -1])
    assert setattr_result == [True, True]
    assert vec_env.get_attr("current_step") == [12] + [0] * (N_ENVS - 2) + [12]
    assert vec_env.get_attr("current_step", indices=[-1]) == [12]

    # Options only take effect at the next reset, and only once.
    assert vec_env.get_attr("current_options")[0] is None
    options = {"hello": 1}
    vec_env.set_options(options)
    assert vec_env.get_attr("current_options")[0] is None
    vec_env.reset()
    assert vec_env.get_attr("current_options") == [options] * N_ENVS
    vec_env.reset()
    assert vec_env.get_attr("current_options")[0] is None
    per_env: list[dict[str, Any]] = [{"hello": 1}] * N_ENVS
    per_env[0] = {"other_option": 2}
    vec_env.set_options(per_env)
    vec_env.reset()
    assert vec_env.get_attr("current_options") == per_env


def test_vecenv_custom_calls(kind: str) -> None:
    """Attributes, methods, render and options through every wrapper (one vec env for all three)."""
    vec_env = make_vec(kind, [functools.partial(monitored_spaces_env, "box")] * N_ENVS)
    try:
        for wrapper in WRAPPERS:
            check_custom_calls(wrap(vec_env, wrapper), tag=getattr(wrapper, "__name__", "none"))
    finally:
        vec_env.close()


def test_vecenv_terminal_obs(kind: str) -> None:
    """'terminal_observation' is in the info of the step that ends an episode, and only there."""
    step_nums = [i + 5 for i in range(N_ENVS)]
    base = make_vec(kind, [functools.partial(CounterEnv, n) for n in step_nums])
    zero_acts = np.zeros((N_ENVS,), dtype=int)
    try:
        for wrapper in WRAPPERS:
            vec_env = wrap(base, wrapper)
            prev_obs_b = vec_env.reset()
            for step_num in range(1, max(step_nums) + 1):
                obs_b, _, done_b, info_b = vec_env.step(zero_acts)
                assert len(obs_b) == len(done_b) == len(info_b) == N_ENVS
                for prev_obs, obs, done, info, final in zip(prev_obs_b, obs_b, done_b, info_b, step_nums, strict=True):
                    assert done == (step_num == final)
                    assert info["TimeLimit.truncated"] == done
                    if not done:
                        assert "terminal_observation" not in info
                        continue
                    terminal_obs = info["terminal_observation"]
                    assert np.all(prev_obs < terminal_obs)
                    assert np.all(obs < prev_obs)
                    if not isinstance(vec_env, VecNormalize):
                        assert np.all(prev_obs + 1 == terminal_obs)
                        assert np.all(obs == 0)
                prev_obs_b = obs_b
    finally:
        base.close()


def check_vecenv_obs(obs: np.ndarray, space: spaces.Space) -> None:
    assert obs.shape[0] == N_ENVS
    for value in obs:
        assert space.contains(value)


def run_until_done(vec_env: Any, obs_assert: Callable[[Any], None]) -> None:
    obs_assert(vec_env.reset())
    dones: Any = [False] * N_ENVS
    while not any(dones):
        actions = [vec_env.action_space.sample() for _ in range(N_ENVS)]
        obs, _, dones, _ = vec_env.step(actions)
        obs_assert(obs)


@pytest.mark.parametrize("space_name", ["discrete", "multidiscrete", "multibinary", "box"])
def test_vecenv_single_space(kind: str, space_name: str) -> None:
    space = SPACE_BUILDERS[space_name]()
    # One worker per vec env keeps start-up short; the Dict/Tuple tests cover the multi-worker join.
    vec_env = make_vec(kind, [functools.partial(SpacesEnv, space_name)] * N_ENVS, envs_per_worker=N_ENVS)
    try:
        run_until_done(vec_env, lambda obs: check_vecenv_obs(obs, space))
    finally:
        vec_env.close()


def test_vecenv_dict_spaces(kind: str) -> None:
    space = SPACE_BUILDERS["dict"]()
    assert isinstance(space, spaces.Dict)

    def obs_assert(obs: Any) -> None:
        assert isinstance(obs, dict)
        assert obs.keys() == space.spaces.keys()
        for key, values in obs.items():
            check_vecenv_obs(values, space.spaces[key])

    vec_env = make_vec(kind, [functools.partial(SpacesEnv, "dict")] * N_ENVS)
    try:
        run_until_done(vec_env, obs_assert)
    finally:
        vec_env.close()


def test_vecenv_tuple_spaces(kind: str) -> None:
    space = SPACE_BUILDERS["tuple"]()
    assert isinstance(space, spaces.Tuple)

    def obs_assert(obs: Any) -> None:
        assert isinstance(obs, tuple)
        assert len(obs) == len(space.spaces)
        for values, inner_space in zip(obs, space.spaces, strict=True):
            check_vecenv_obs(values, inner_space)

    vec_env = make_vec(kind, [functools.partial(SpacesEnv, "tuple")] * N_ENVS)
    try:
        run_until_done(vec_env, obs_assert)
    finally:
        vec_env.close()


def test_framestack_image_obs(kind: str) -> None:
    """VecFrameStack stacks image observations on the channel axis (last, or first if forced)."""
    vec_env = make_vec(kind, [functools.partial(SpacesEnv, "image")] * N_ENVS)
    zero_acts = np.zeros((N_ENVS, 12, 8, 3), dtype=np.uint8)
    try:
        obs: Any = VecFrameStack(vec_env, n_stack=2).step(zero_acts)[0]
        assert obs.shape == (N_ENVS, 12, 8, 6)
        assert obs.dtype == np.uint8
        obs = VecFrameStack(vec_env, n_stack=2, channels_order="first").step(zero_acts)[0]
        assert obs.shape == (N_ENVS, 24, 8, 3)
    finally:
        vec_env.close()


def test_vec_env_is_wrapped(kind: str) -> None:
    env_fns: list[Callable[[], gym.Env]] = [
        functools.partial(SpacesEnv, "box"),
        functools.partial(monitored_spaces_env, "box"),
    ]
    vec_env = make_vec(kind, env_fns, envs_per_worker=1)
    try:
        assert vec_env.env_is_wrapped(Monitor) == [False, True]
        assert vec_env.env_is_wrapped(Monitor, indices=[1]) == [True]
        assert VecFrameStack(vec_env, n_stack=2).env_is_wrapped(Monitor) == [False, True]
    finally:
        vec_env.close()


def test_vec_deterministic_and_seeding(kind: str) -> None:
    """Same seed, same observations (also through VecNormalize); seed() gives each env its own seed."""
    vec_env = make_vec(kind, [functools.partial(SpacesEnv, "box")] * N_ENVS)
    try:
        vec_env.seed(3)
        obs = vec_env.reset()
        vec_env.seed(3)
        assert np.allclose(vec_env.reset(), obs)
        vec_normalize = VecNormalize(vec_env)
        vec_normalize.seed(3)
        obs = vec_env.reset()
        vec_normalize.seed(3)
        assert np.allclose(vec_env.reset(), obs)

        vec_env.seed()  # no argument: random base seed, still different per env
        obs = vec_env.reset()
        actions = np.array([vec_env.action_space.sample() for _ in range(N_ENVS)])
        _, rewards, _, _ = vec_env.step(actions)
        assert not np.allclose(obs[0], obs[1])
        assert not np.allclose(rewards[0], rewards[1])
        assert not np.allclose(obs[1], obs[2])
        assert not np.allclose(rewards[1], rewards[2])
    finally:
        vec_env.close()


def test_make_vec_env_deterministic(kind: str) -> None:
    """SB3's make_vec_env accepts RayVecEnv as vec_env_cls; seeded copies step identically."""
    cls: Any = DummyVecEnv if kind == "dummy" else RayVecEnv
    kwargs = {} if kind == "dummy" else {"options": WorkerOptions(envs_per_worker=N_ENVS)}
    vec_env_1: Any = make_vec_env("Pendulum-v1", n_envs=N_ENVS, vec_env_cls=cls, seed=0, vec_env_kwargs=kwargs)
    vec_env_2: Any = make_vec_env("Pendulum-v1", n_envs=N_ENVS, vec_env_cls=cls, seed=0, vec_env_kwargs=kwargs)
    try:
        assert np.allclose(vec_env_1.reset(), vec_env_2.reset())
        random_actions = np.array([vec_env_1.action_space.sample() for _ in range(N_ENVS)])
        assert np.allclose(vec_env_1.step(random_actions)[0], vec_env_2.step(random_actions)[0])
        assert vec_env_1.env_is_wrapped(Monitor) == [True] * N_ENVS
    finally:
        vec_env_1.close()
        vec_env_2.close()


def test_reset_infos(kind: str) -> None:
    """reset() fills reset_infos; an auto-reset during step() updates that env's entry."""
    vec_env = make_vec(kind, [functools.partial(CounterEnv, n) for n in (2, 3, 4)])
    try:
        vec_env.reset()
        assert vec_env.reset_infos == [{"episode": 1}] * N_ENVS
        zero_acts = np.zeros(N_ENVS, dtype=int)
        vec_env.step(zero_acts)
        vec_env.step(zero_acts)  # env 0 finishes and is reset
        assert vec_env.reset_infos == [{"episode": 2}, {"episode": 1}, {"episode": 1}]
        vec_env.step(zero_acts)  # env 1 finishes
        assert vec_env.reset_infos == [{"episode": 2}, {"episode": 2}, {"episode": 1}]
    finally:
        vec_env.close()
