"""How the command line reports a bad config: one line per problem on stderr, no traceback (exit code 2)."""

from __future__ import annotations

import sys

from ray_lab.config.errors import ConfigError

__all__ = ["print_config_error"]


def print_config_error(exc: ConfigError) -> None:
    """One line per problem on stderr, no traceback."""
    count = len(exc.problems)
    print(f"ray-lab: the config has {count} problem{'s' if count > 1 else ''}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
