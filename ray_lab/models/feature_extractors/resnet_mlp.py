"""``ResnetMLP``: a residual MLP feature extractor for flat or multi-dimensional Box observations."""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from torch import nn

from ray_lab.models.activations import resolve_activation
from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor


class ResidualBlock(nn.Module):
    """``activation(x + Linear(activation(Linear(LayerNorm?(x)))))`` at a constant width."""

    def __init__(self, dim: int, activation_fn: type[nn.Module], layer_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.LayerNorm(dim)] if layer_norm else []
        layers += [nn.Linear(dim, dim), activation_fn(), nn.Linear(dim, dim)]
        self.body = nn.Sequential(*layers)
        self.out_activation = activation_fn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_activation(x + self.body(x))


class ResnetMLP(BaseFeaturesExtractor):
    """Flatten -> Linear(features_dim) -> activation -> ``num_blocks`` residual blocks.

    Each block is ``[LayerNorm (optional), Linear, activation, Linear]`` with a skip connection,
    followed by the activation. Works with any non-Dict observation space SB3 can flatten
    (Box of any shape, Discrete, MultiDiscrete, MultiBinary); use ``CombinedExtractor`` for Dict spaces.

    Args:
        observation_space: the (preprocessed) observation space.
        features_dim: width of every layer and of the output.
        num_blocks: number of residual blocks (0: a single Linear layer + activation).
        activation_fn: a ``torch.nn`` activation name (``"ReLU"``, ``"Tanh"``, ...) or class.
        layer_norm: put a LayerNorm at the start of each residual block.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        features_dim: int = 128,
        num_blocks: int = 2,
        activation_fn: str | type[nn.Module] = "ReLU",
        layer_norm: bool = False,
    ) -> None:
        if isinstance(observation_space, spaces.Dict):
            raise ValueError(
                "ResnetMLP needs a non-Dict observation space, got Dict with keys "
                f"{sorted(observation_space.spaces)}; use CombinedExtractor for Dict observations"
            )
        if isinstance(features_dim, bool) or not isinstance(features_dim, int) or features_dim <= 0:
            raise ValueError(f"ResnetMLP features_dim must be a positive integer, got {features_dim!r}")
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 0:
            raise ValueError(f"ResnetMLP num_blocks must be a non-negative integer, got {num_blocks!r}")
        super().__init__(observation_space, features_dim)
        activation = resolve_activation(activation_fn)
        self.input_layer = nn.Sequential(
            nn.Flatten(), nn.Linear(get_flattened_obs_dim(observation_space), features_dim), activation()
        )
        self.blocks = nn.Sequential(
            *(ResidualBlock(features_dim, activation, bool(layer_norm)) for _ in range(num_blocks))
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.input_layer(observations))
