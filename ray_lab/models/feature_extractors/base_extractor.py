"""Base class for user feature extractors.

Subclass it in a module placed in ``ray_lab/models/feature_extractors/`` and name the class in the
config (``features_extractor_class: MyExtractor``)::

    from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor

This is Stable-Baselines3's own class, re-exported unchanged.
"""

from __future__ import annotations

from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

__all__ = ["BaseFeaturesExtractor"]
