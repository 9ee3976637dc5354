"""Models: feature extractors and name lookup for extractors and activations."""

from ray_lab.models.activations import available_activations, resolve_activation
from ray_lab.models.errors import RegistryError, close_match, did_you_mean
from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor
from ray_lab.models.feature_extractors.resnet_mlp import ResnetMLP
from ray_lab.models.registry import (
    BUILTIN_EXTRACTORS,
    available_extractors,
    discover_extractors,
    resolve_extractor,
)

__all__ = [
    "BUILTIN_EXTRACTORS",
    "BaseFeaturesExtractor",
    "RegistryError",
    "ResnetMLP",
    "available_activations",
    "available_extractors",
    "close_match",
    "did_you_mean",
    "discover_extractors",
    "resolve_activation",
    "resolve_extractor",
]
