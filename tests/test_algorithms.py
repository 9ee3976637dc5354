"""Algorithm registry, hyperparameter checks, schedules and policy kwargs, with real SB3 models."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib import ARS, QRDQN, TQC, TRPO, CrossQ, RecurrentPPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback

from ray_lab.learner.algorithms import (
    ALGORITHMS,
    MANAGED_PARAMETERS,
    algorithm_parameter_names,
    algorithm_parameter_problems,
    default_policy,
    is_off_policy,
    resolve_algorithm,
)
from ray_lab.learner.policy_kwargs import build_policy_kwargs
from ray_lab.learner.schedules import SCHEDULE_KEYS, LinearSchedule, apply_schedules, parse_schedule
from ray_lab.models import RegistryError, ResnetMLP

VECTOR = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
IMAGE = spaces.Box(0, 255, shape=(3, 36, 36), dtype=np.uint8)
DICT = spaces.Dict({"image": IMAGE, "vec": VECTOR})


def _kwargs(algorithm: type, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "net_arch": None,
        "features_extractor_class": None,
        "features_extractor_kwargs": None,
        "activation_fn": None,
        "share_features_extractor": None,
    }
    return build_policy_kwargs(algorithm=algorithm, **{**base, **overrides})


# --- registry -------------------------------------------------------------------------------------


def test_registry_holds_sb3_and_contrib() -> None:
    assert dict(ALGORITHMS) == {
        "ppo": PPO,
        "a2c": A2C,
        "sac": SAC,
        "td3": TD3,
        "ddpg": DDPG,
        "dqn": DQN,
        "tqc": TQC,
        "trpo": TRPO,
        "ars": ARS,
        "qrdqn": QRDQN,
        "recurrentppo": RecurrentPPO,
        "crossq": CrossQ,
    }


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("PPO", PPO),
        (" sac ", SAC),
        ("recurrent_ppo", RecurrentPPO),
        ("Recurrent-PPO", RecurrentPPO),
        ("QR_DQN", QRDQN),
    ],
)
def test_resolve_algorithm(name: str, cls: type) -> None:
    assert resolve_algorithm(name) is cls


def test_unknown_algorithm_suggests() -> None:
    with pytest.raises(RegistryError) as excinfo:
        resolve_algorithm("sacc")
    message = str(excinfo.value)
    assert "unknown algorithm 'sacc' (did you mean 'sac'?)" in message
    assert "ppo, a2c, sac" in message and "crossq" in message


def test_parameter_names_and_checks() -> None:
    names = algorithm_parameter_names(PPO)
    assert {"learning_rate", "n_steps", "clip_range", "policy_kwargs", "seed", "device", "verbose"} <= names
    assert not names & {"env", "self", "_init_setup_model"}
    assert "buffer_size" in algorithm_parameter_names(SAC)

    ok = {"learning_rate": "lin_1e-3", "n_steps": 64, "policy_kwargs": {}}
    assert algorithm_parameter_problems(PPO, ok) == []
    params = {"learning_rat": 1e-3, "n_step": 8, "zzqqxx": 1, "env": "x", "seed": 1, "tensorboard_log": None}
    problems = dict(algorithm_parameter_problems(PPO, params))
    assert problems["learning_rat"] == "unknown hyperparameter 'learning_rat' for PPO (did you mean 'learning_rate'?)"
    assert problems["n_step"] == "unknown hyperparameter 'n_step' for PPO (did you mean 'n_steps'?)"
    assert problems["zzqqxx"].startswith("unknown hyperparameter 'zzqqxx' for PPO (accepted: ")
    # ray-lab sets these itself: one rule, the same in the config checks and here
    assert problems["env"].startswith("not allowed here: ray-lab builds the env")
    assert problems["seed"] == "not allowed here: set training.training.seed instead"
    assert "TensorBoard" in problems["tensorboard_log"]
    assert set(MANAGED_PARAMETERS) == {"env", "device", "seed", "verbose", "tensorboard_log"}
    assert algorithm_parameter_problems(DQN, {"buffer_sise": 10}) == [
        ("buffer_sise", "unknown hyperparameter 'buffer_sise' for DQN (did you mean 'buffer_size'?)")
    ]


def test_is_off_policy() -> None:
    assert [name for name, cls in ALGORITHMS.items() if is_off_policy(cls)] == [
        "sac",
        "td3",
        "ddpg",
        "dqn",
        "tqc",
        "qrdqn",
        "crossq",
    ]


@pytest.mark.parametrize(
    ("cls", "space", "policy"),
    [
        (PPO, VECTOR, "MlpPolicy"),
        (PPO, IMAGE, "CnnPolicy"),
        (SAC, DICT, "MultiInputPolicy"),
        (DQN, spaces.Discrete(3), "MlpPolicy"),
        (RecurrentPPO, IMAGE, "CnnLstmPolicy"),
        (RecurrentPPO, VECTOR, "MlpLstmPolicy"),
        (CrossQ, IMAGE, "MlpPolicy"),
        (ARS, VECTOR, "MlpPolicy"),
    ],
)
def test_default_policy(cls: type, space: spaces.Space, policy: str) -> None:
    assert default_policy(cls, space) == policy


def test_default_policy_without_dict_support() -> None:
    with pytest.raises(ValueError, match=r"ARS has no policy for Dict.*MlpPolicy, LinearPolicy"):
        default_policy(ARS, DICT)


# --- schedules ------------------------------------------------------------------------------------


def test_parse_schedule_forms() -> None:
    assert parse_schedule(3e-4, "learning_rate") == 3e-4
    assert parse_schedule(1, "clip_range") == 1.0
    assert parse_schedule("0.0003", "learning_rate") == 3e-4
    for text in ("lin_0.001", "lin_1e-3", " LIN_1e-3 "):
        schedule = parse_schedule(text, "learning_rate")
        assert isinstance(schedule, LinearSchedule)
        assert schedule(1.0) == pytest.approx(1e-3)
        assert schedule(0.25) == pytest.approx(2.5e-4)
        assert schedule(0.0) == 0.0
    assert SCHEDULE_KEYS == ("learning_rate", "clip_range", "clip_range_vf")


@pytest.mark.parametrize("bad", ["lin_", "lin_abc", "linear_0.1", "fast", True, None, [0.1], float("nan"), "inf"])
def test_parse_schedule_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match=r"clip_range: .*lin_<start>"):
        parse_schedule(bad, "clip_range")


def test_linear_schedule_pickles() -> None:
    schedule = parse_schedule("lin_0.2", "clip_range")
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        restored = loads(dumps(schedule))
        assert restored == schedule and restored(0.5) == pytest.approx(0.1)


def test_apply_schedules_copies() -> None:
    params = {"learning_rate": "lin_1e-3", "clip_range": "0.2", "clip_range_vf": None, "n_steps": 64}
    converted = apply_schedules(params)
    assert params["learning_rate"] == "lin_1e-3"
    assert converted == {
        "learning_rate": LinearSchedule(1e-3),
        "clip_range": 0.2,
        "clip_range_vf": None,
        "n_steps": 64,
    }


# --- policy kwargs --------------------------------------------------------------------------------


def test_policy_kwargs_resolves_names_and_omits_none() -> None:
    kwargs = _kwargs(
        PPO,
        net_arch={"pi": [32], "vf": [32, 32]},
        features_extractor_class="ResnetMLP",
        features_extractor_kwargs={"features_dim": 16},
        activation_fn="tanh",
        share_features_extractor=False,
        extra={"optimizer_class": "AdamW", "ortho_init": None},
    )
    assert kwargs == {
        "net_arch": {"pi": [32], "vf": [32, 32]},
        "features_extractor_class": ResnetMLP,
        "features_extractor_kwargs": {"features_dim": 16},
        "activation_fn": torch.nn.Tanh,
        "share_features_extractor": False,
        "optimizer_class": torch.optim.AdamW,
    }
    assert _kwargs(PPO) == {}


@pytest.mark.parametrize(
    ("cls", "net_arch", "needle"),
    [
        (SAC, {"pi": [8], "vf": [8]}, r"SAC .*keys \['pi', 'qf'\].*got keys \['pi', 'vf'\]"),
        (PPO, {"pi": [8], "qf": [8]}, r"PPO .*keys \['pi', 'vf'\].*got keys \['pi', 'qf'\]"),
        (TD3, {"pi": [8]}, r"got keys \['pi'\]"),
        (DQN, {"pi": [8], "vf": [8]}, r"DQN must be a list .*got a dict with keys \['pi', 'vf'\]"),
        (PPO, [64, "x"], r"positive layer sizes .*\[64, 'x'\]"),
        (SAC, {"pi": [8], "qf": [0]}, r"net_arch.qf for SAC"),
    ],
)
def test_policy_kwargs_net_arch_errors(cls: type, net_arch: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        _kwargs(cls, net_arch=net_arch)


def test_policy_kwargs_fits_algorithm() -> None:
    assert "share_features_extractor" not in _kwargs(DQN, net_arch=[16], share_features_extractor=True)
    assert _kwargs(TQC, net_arch={"pi": [8], "qf": [8]}, share_features_extractor=True)["share_features_extractor"]
    with pytest.raises(ValueError, match="ARS policies do not accept 'features_extractor_class'"):
        _kwargs(ARS, features_extractor_class="ResnetMLP")
    with pytest.raises(ValueError, match=r"'n_critic' \(did you mean 'n_critics'\?\)"):
        _kwargs(SAC, extra={"n_critic": 3})
    with pytest.raises(ValueError, match=r"given twice.*'ReLU' and 'Tanh'"):
        _kwargs(PPO, activation_fn="ReLU", extra={"activation_fn": "Tanh"})
    with pytest.raises(RegistryError, match="did you mean 'ResnetMLP'"):
        _kwargs(PPO, features_extractor_class="ResNetMLPP")


# --- real models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_algorithm_builds(name: str) -> None:
    cls: Any = resolve_algorithm(name)  # concrete subclass; BaseAlgorithm's own signature differs
    env = gym.make(
        "CartPole-v1" if name in {"dqn", "qrdqn", "ppo", "a2c", "trpo", "ars", "recurrentppo"} else "Pendulum-v1"
    )
    dict_arch = {"pi": [16], "vf": [16]} if not is_off_policy(cls) else {"pi": [16], "qf": [16]}
    net_arch: object = [16] if name in {"dqn", "qrdqn", "ars"} else dict_arch
    policy_kwargs = _kwargs(cls, net_arch=net_arch, activation_fn="Tanh", share_features_extractor=False)
    model = cls(default_policy(cls, env.observation_space), env, policy_kwargs=policy_kwargs, device="cpu")
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype).reshape(env.action_space.shape))


def test_ppo_resnet_learns_on_cartpole() -> None:
    env = gym.make("CartPole-v1")
    policy_kwargs = _kwargs(
        PPO,
        net_arch={"pi": [32], "vf": [32]},
        features_extractor_class="ResnetMLP",
        features_extractor_kwargs={"features_dim": 32, "layer_norm": True},
        activation_fn="Tanh",
        share_features_extractor=False,
    )
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, policy_kwargs=policy_kwargs, seed=0)
    assert isinstance(model.policy.pi_features_extractor, ResnetMLP)
    assert model.policy.pi_features_extractor is not model.policy.vf_features_extractor
    model.learn(256)
    assert model.num_timesteps == 256


def test_sac_learns_on_pendulum() -> None:
    env = gym.make("Pendulum-v1")
    policy_kwargs = _kwargs(SAC, net_arch={"pi": [32], "qf": [32, 32]}, activation_fn="ReLU")
    model = SAC("MlpPolicy", env, learning_starts=100, batch_size=32, policy_kwargs=policy_kwargs, seed=0)
    model.learn(300)
    assert model.num_timesteps == 300 and model._n_updates > 0
    assert [m.out_features for m in model.critic.q_networks[0].modules() if isinstance(m, torch.nn.Linear)] == [
        32,
        32,
        1,
    ]


def test_dqn_learns_on_cartpole() -> None:
    env = gym.make("CartPole-v1")
    policy_kwargs = _kwargs(DQN, net_arch=[32, 32], features_extractor_class="ResnetMLP", share_features_extractor=True)
    model = DQN("MlpPolicy", env, learning_starts=100, batch_size=32, policy_kwargs=policy_kwargs, seed=0)
    model.learn(300)
    assert model.num_timesteps == 300 and model._n_updates > 0


class _LearningRates(BaseCallback):
    """Records the optimizer's learning rate at the start of every rollout (set by the previous update)."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def _on_rollout_start(self) -> None:
        self.rates.append(self.model.policy.optimizer.param_groups[0]["lr"])

    def _on_step(self) -> bool:
        return True


def test_linear_schedules_in_ppo_survive_save_and_load(tmp_path: Path) -> None:
    env = gym.make("CartPole-v1")
    params = apply_schedules({"learning_rate": "lin_0.001", "clip_range": "lin_0.2", "n_steps": 64})
    model = PPO("MlpPolicy", env, batch_size=32, n_epochs=1, seed=0, **params)
    rates = _LearningRates()
    model.learn(256, callback=rates)
    # Updates after 64, 128, 192 steps: progress remaining 0.75, 0.5, 0.25; the last one (256) is at 0.
    assert rates.rates == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.0
    assert callable(model.clip_range) and model.clip_range(0.5) == pytest.approx(0.1)
    assert model.lr_schedule(-0.25) == 0.0  # an overshooting last rollout never gives a negative rate

    model.save(tmp_path / "model")
    loaded = PPO.load(tmp_path / "model", env=env)
    assert loaded.learning_rate == LinearSchedule(1e-3)
    assert callable(loaded.clip_range) and loaded.clip_range(0.25) == pytest.approx(0.05)
    rates = _LearningRates()
    loaded.learn(128, callback=rates)
    # The first rollout still sees the saved optimizer state (lr 0); the update after 64 of 128 steps: 0.5.
    assert rates.rates[1] == pytest.approx(5e-4)
