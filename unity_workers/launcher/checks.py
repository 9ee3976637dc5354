"""Pre-launch checks: fail early, saying what is wrong with the build or log folder and how to fix it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from .options import PlayerOptions

__all__ = ["LaunchConfigError", "check_build", "check_command", "check_log_dir", "check_options"]

_MAX_CANDIDATES = 10


class LaunchConfigError(ValueError):
    """The player cannot be launched as configured (missing build, no exec bit, unusable log folder...)."""


def _candidates(directory: Path) -> list[Path]:
    """``*.x86_64`` files in ``directory`` and one level below, sorted."""
    found = sorted({*directory.glob("*.x86_64"), *directory.glob("*/*.x86_64")})
    return [path for path in found if path.is_file()]


def check_build(build: Path) -> Path:
    """Check that ``build`` is an existing executable file; returns its absolute resolved path."""
    resolved = Path(build).expanduser().resolve()
    if not resolved.exists():
        raise LaunchConfigError(
            f"Unity build not found: {str(build)!r} (resolved to {str(resolved)!r}); "
            f"set environment.unity.build to the player executable (a Linux '*.x86_64' file), "
            f"relative paths are resolved against the current directory {os.getcwd()!r}"
        )
    if resolved.is_dir():
        candidates = _candidates(resolved)
        if candidates:
            listed = ", ".join(repr(str(path)) for path in candidates[:_MAX_CANDIDATES])
            more = f" (and {len(candidates) - _MAX_CANDIDATES} more)" if len(candidates) > _MAX_CANDIDATES else ""
            hint = f"candidates in it: {listed}{more}"
        else:
            hint = "it holds no '*.x86_64' file; build the Linux player into it first"
        raise LaunchConfigError(
            f"Unity build {str(build)!r} is a directory ({str(resolved)!r}), not the player executable; "
            f"point it at the executable file; {hint}"
        )
    if not resolved.is_file():
        raise LaunchConfigError(f"Unity build {str(build)!r} ({str(resolved)!r}) is not a regular file")
    if not os.access(resolved, os.X_OK):
        mode = resolved.stat().st_mode & 0o777
        raise LaunchConfigError(
            f"Unity build {str(resolved)!r} is not executable (mode {mode:o}); "
            f"run: chmod +x {resolved} (Linux builds committed to git often lose the executable bit)"
        )
    return resolved


def check_command(command: Sequence[str]) -> None:
    """Check that the first word of a ``command=`` prefix is an existing executable."""
    program = command[0]
    if os.sep in program:
        check_build(Path(program))
    elif shutil.which(program) is None:
        raise LaunchConfigError(
            f"command program {program!r} not found on PATH; give its full path (e.g. sys.executable)"
        )


def check_log_dir(log_dir: Path) -> Path:
    """Create ``log_dir`` if needed and check it is a writable folder; returns its absolute path."""
    resolved = Path(log_dir).expanduser().resolve()
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LaunchConfigError(
            f"cannot create the player log folder {str(log_dir)!r} ({str(resolved)!r}): {exc}; "
            f"choose a log folder in a writable location"
        ) from exc
    if not resolved.is_dir():
        raise LaunchConfigError(f"player log folder {str(resolved)!r} exists but is not a directory")
    if not os.access(resolved, os.W_OK | os.X_OK):
        raise LaunchConfigError(
            f"player log folder {str(resolved)!r} is not writable; fix its permissions or choose another folder"
        )
    return resolved


def check_options(options: PlayerOptions) -> None:
    """Run every pre-launch check for ``options`` (build or command, then the log folder)."""
    if options.build is not None:
        check_build(options.build)
    else:
        assert options.command is not None
        check_command(options.command)
    check_log_dir(options.log_dir)
