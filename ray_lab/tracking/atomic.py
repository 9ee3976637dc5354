"""Crash-safe file writes: whole files appear atomically, CSV logs grow by fsynced appends.

A final artifact (model, summary, plot) is written to a temporary file in the target's directory,
fsynced, and then `os.replace`d onto the target, so a reader sees either the old file or the new
one, never half of one. A writer that fails leaves the old target untouched and no temp file behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

TEMP_MARKER = ".tmp-"


def _temp_sibling(target: Path) -> Path:
    """A fresh temp path beside `target` that keeps the target's name (and suffix) at its end.

    `model.zip` → `.tmp-<pid>-<hex>.model.zip`: hidden, unique, and tools that add a missing
    suffix (SB3's `model.save` appends `.zip`) or pick a format by suffix still see the real one.
    """
    return target.with_name(f"{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}.{target.name}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename in `directory` (best effort: not every platform can open a directory)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temp path to write the whole file to; on success it replaces `path` atomically.

    The parent directory is created when missing. The body must create the temp file (any writer
    that takes a path works: `model.save(tmp)`, `fig.savefig(tmp)`, `imageio.mimsave(tmp, ...)`).
    If the body raises, the temp file is removed, `path` is left as it was, and the error propagates.

    Raises:
        FileNotFoundError: the body finished without creating the temp file.
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise ValueError(f"atomic_path needs a file path, got {str(path)!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"the writer did not create {tmp} (meant to replace {target})")
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_path`); returns `path`."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    return target


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see `atomic_path`); returns `path`."""
    return atomic_write_bytes(path, text.encode(encoding))


def _existing_header(path: Path) -> list[str] | None:
    """The header row of an existing non-empty CSV file, or None when it is missing or empty."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            return next(csv.reader(file), None)
    except FileNotFoundError:
        return None


def append_csv_row(path: Path | str, row: Mapping[str, Any], fieldnames: Sequence[str]) -> Path:
    """Append one row to the CSV log at `path`, writing the header first when the file is new or empty.

    The row is flushed and fsynced, so a crash loses at most the row being written. Keys missing
    from `row` are written empty.

    Raises:
        ValueError: `row` has keys that are not in `fieldnames`, or the existing file's header
            differs from `fieldnames`.
    """
    target = Path(path)
    names = list(fieldnames)
    extra = sorted(set(row) - set(names))
    if extra:
        raise ValueError(f"row for {target} has keys {extra} that are not in the fieldnames {names}")
    header = _existing_header(target)
    if header is not None and header != names:
        raise ValueError(f"{target} has the header {header}, but the row is for the fieldnames {names}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=names)
        if header is None:
            writer.writeheader()
        writer.writerow(dict(row))
        file.flush()
        os.fsync(file.fileno())
    return target
