"""Feature extractors: the built-in ``ResnetMLP`` and any user module dropped into this folder.

Every module here is imported by :func:`ray_lab.models.registry.resolve_extractor` when a config names
a class it doesn't know, so a ``BaseFeaturesExtractor`` subclass defined here is found by class name.
"""

from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor
from ray_lab.models.feature_extractors.resnet_mlp import ResnetMLP

__all__ = ["BaseFeaturesExtractor", "ResnetMLP"]
