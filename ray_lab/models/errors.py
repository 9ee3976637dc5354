"""The error raised when a name does not resolve, and the near-miss helper shared by the registries."""

from __future__ import annotations

from ray_lab.config.errors import close_match, did_you_mean

__all__ = ["RegistryError", "close_match", "did_you_mean"]


class RegistryError(LookupError):
    """A name (extractor, activation, algorithm, ...) that does not resolve to a usable class."""
