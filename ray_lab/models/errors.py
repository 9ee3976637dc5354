"""The error raised when a name does not resolve, and the near-miss helper shared by the registries."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RegistryError(LookupError):
    """A name (extractor, activation, algorithm, ...) that does not resolve to a usable class."""


def close_match(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` (case-insensitive), or ``None`` when nothing is close.

    Uses :func:`difflib.get_close_matches` with its default cutoff (0.6).
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return by_lower[matches[0]] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest candidate, or an empty string."""
    match = close_match(name, candidates)
    return f" (did you mean '{match}'?)" if match is not None else ""
