"""Config problems: one line each, naming the file, the dotted key and what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CONFIG_ERROR_EXIT_CODE = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where it came from, which key, and what was expected."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """A config that cannot run. Carries every problem found, not only the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[Problem]]]:
        # Pickle by problems, so a ConfigError raised inside a Ray actor reaches the driver intact.
        return (ConfigError, (self.problems,))

    @classmethod
    def single(cls, source: str, key: str, message: str) -> ConfigError:
        """A ConfigError with one problem."""
        return cls([Problem(source, key, message)])


def close_match(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name` (case-insensitive, difflib's 0.6 cutoff), or None."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return by_lower[matches[0]] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or an empty string."""
    match = close_match(name, candidates)
    return f" (did you mean '{match}'?)" if match is not None else ""
