"""Torch modules that compute `model.predict(obs, deterministic=True)` from raw observations.

Each module takes one float32 tensor per observation input (the Box, or each key of a Dict in
sorted order), applies the run's VecNormalize observation scaling when given, and runs the policy's
own layers: `extract_features` (SB3's preprocessing, images /255 included), then the actor or Q-net,
then what `predict` does to the result (unscaling squashed actions, clipping, argmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import Actor as TD3Actor
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

__all__ = ["ObsScaling", "PolicyGraph", "input_keys"]


@dataclass(frozen=True)
class ObsScaling:
    """VecNormalize's observation scaling for one input: clip((obs - mean) / sqrt(var + eps), ±clip)."""

    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip: float


def input_keys(space: spaces.Space) -> list[str]:
    """The graph's observation inputs: `obs` for a Box, the keys of a Dict (sorted, as SB3 orders them)."""
    if isinstance(space, spaces.Dict):
        return sorted(space.spaces)
    return ["obs"]


class _Normalize(nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, scaling: ObsScaling | None) -> None:
        super().__init__()
        self.enabled = scaling is not None
        if scaling is not None:
            self.register_buffer("mean", torch.as_tensor(scaling.mean, dtype=torch.float32))
            std = np.sqrt(scaling.var + scaling.epsilon)
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
            self.clip = float(scaling.clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return obs
        return torch.clamp((obs - self.mean) / self.std, -self.clip, self.clip)


class PolicyGraph(nn.Module):
    """Raw observations in, the deterministic action out (float32 for a Box, int64 for Discrete)."""

    def __init__(self, model: BaseAlgorithm, scaling: dict[str, ObsScaling | None]) -> None:
        super().__init__()
        self.policy = model.policy
        self.keys = input_keys(model.observation_space)
        self.is_dict = isinstance(model.observation_space, spaces.Dict)
        self.normalizers = nn.ModuleDict({key: _Normalize(scaling.get(key)) for key in self.keys})
        self.head = _head_for(model)
        self.post = _ActionPost(model.action_space, bool(self.policy.squash_output))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        scaled = [self.normalizers[key](x) for key, x in zip(self.keys, inputs, strict=True)]
        obs: torch.Tensor | dict[str, torch.Tensor] = (
            dict(zip(self.keys, scaled, strict=True)) if self.is_dict else scaled[0]
        )
        return self.post(self.head(obs))


def _head_for(model: BaseAlgorithm) -> nn.Module:
    """The policy's layers from observation to raw action (or logits / Q-values), by its policy class."""
    policy = model.policy
    if isinstance(policy, ActorCriticPolicy):  # PPO, A2C
        return _ActorCriticHead(policy)
    if isinstance(policy, SACPolicy):
        return _SquashedGaussianHead(policy.actor)
    if isinstance(policy, TD3Policy):  # TD3, DDPG
        return _DeterministicActorHead(policy.actor)
    if isinstance(policy, DQNPolicy):
        return _QNetHead(policy.q_net)
    name = type(model).__name__
    raise ValueError(f"no ONNX graph for {name}: export supports PPO, A2C, SAC, TD3, DDPG and DQN")


class _ActorCriticHead(nn.Module):
    """PPO/A2C: features → actor MLP → action_net (the Gaussian mean, or the categorical logits)."""

    def __init__(self, policy: ActorCriticPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        features = self.policy.extract_features(obs)
        pi_features = features[0] if isinstance(features, tuple) else features
        latent_pi = self.policy.mlp_extractor.forward_actor(pi_features)
        return self.policy.action_net(latent_pi)


class _SquashedGaussianHead(nn.Module):
    """SAC: tanh of the actor's Gaussian mean (the mode of its squashed distribution)."""

    def __init__(self, actor: SACActor) -> None:
        super().__init__()
        self.actor = actor

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        mean_actions, _log_std, _kwargs = self.actor.get_action_dist_params(obs)
        return torch.tanh(mean_actions)


class _DeterministicActorHead(nn.Module):
    """TD3/DDPG: the actor's output (its last layer is a tanh)."""

    def __init__(self, actor: TD3Actor) -> None:
        super().__init__()
        self.actor = actor

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        return self.actor(obs)


class _QNetHead(nn.Module):
    """DQN: the Q-values of every action."""

    def __init__(self, q_net: QNetwork) -> None:
        super().__init__()
        self.q_net = q_net

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        return self.q_net(obs)


class _ActionPost(nn.Module):
    """What `predict` does after the network: argmax, unscale a squashed action, or clip to the Box."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, action_space: spaces.Space, squashed: bool) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.squashed = squashed
        if isinstance(action_space, spaces.Box):
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return torch.argmax(raw, dim=1)
        if self.squashed:
            return self.low + 0.5 * (raw + 1.0) * (self.high - self.low)
        return torch.maximum(torch.minimum(raw, self.high), self.low)
