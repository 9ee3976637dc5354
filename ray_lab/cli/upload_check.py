"""What `ray-lab submit` would upload as the job's working directory, checked before it connects.

The scan walks the directory as Ray's packaging does (`ray/_private/runtime_env/packaging.py`): the
job's `excludes` apply from the top, each folder's `.rayignore` (and `.gitignore`, unless
`RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1`) from that folder down, and symlinks are followed. Excluded
folders are skipped whole, and the walk stops once the size limit is passed. It refuses:

- credential files: `.netrc`, `.ssh/`, cloud logins, private keys (`CREDENTIAL_*` below), and
  `.env.*` files (`.env.local`, ...) that set a secret-looking variable (`.env` and `*.env` are
  never uploaded anyway);
- more than `--max-upload-mib` (default `DEFAULT_MAX_UPLOAD_MIB`) of files before compression. Ray's
  own cap is 512 MiB compressed (the gRPC message limit); a project is code and configs, a few MiB.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ray_lab.tracking.redact import is_secret_key, scrub_url_passwords

if TYPE_CHECKING:
    from ray._private.thirdparty.pathspec import PathSpec

__all__ = [
    "DEFAULT_MAX_UPLOAD_MIB",
    "UploadRefused",
    "UploadScan",
    "check_upload",
    "credential_label",
    "parse_upload_mib",
    "scan_upload",
]

DEFAULT_MAX_UPLOAD_MIB = 100.0
MIB = 1024 * 1024

CREDENTIAL_DIRS = (".ssh", ".aws", ".azure", ".gnupg", ".config/gcloud")
"""Any uploaded file inside one of these folders (at any depth of the working dir) is a credential."""

CREDENTIAL_FILES = (
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pypirc",
    ".pgpass",
    ".s3cfg",
    "credentials.json",
    ".docker/config.json",
    ".kube/config",
    ".ray/auth_token",
)
"""Files (or `folder/file` path ends) that hold logins or tokens."""

CREDENTIAL_GLOBS = ("*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*")
"""File names (matched lower-case) of private keys and certificates with keys."""

ENV_FILE_TEMPLATES = (".example", ".sample", ".template", ".dist")
"""`.env.example` and the like are templates, never refused."""


class UploadRefused(Exception):
    """The working directory must not be uploaded; the message names the paths and the fix."""


@dataclass
class UploadScan:
    """What the walk found: credential paths (relative, folders end in `/`) and the bytes counted."""

    root: Path
    max_bytes: int
    credentials: list[str] = field(default_factory=list)
    total_bytes: int = 0
    top_level_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def over_limit(self) -> bool:
        return self.total_bytes > self.max_bytes


@dataclass(frozen=True)
class _IgnoreRules:
    """One source of exclude patterns (gitwildmatch), relative to `base` as in Ray's packaging."""

    base: Path
    spec: PathSpec  # Ray's vendored copy of pathspec
    whole_folders: bool  # no `!` patterns: a folder matched as `folder/` can be skipped whole

    def excludes(self, path: Path, is_dir: bool) -> bool:
        relative = path.relative_to(self.base).as_posix()
        if self.spec.match_file(relative):
            return True
        return is_dir and self.whole_folders and bool(self.spec.match_file(relative + "/"))


def _rules(base: Path, lines: Sequence[str]) -> _IgnoreRules:
    from ray._private.thirdparty.pathspec import PathSpec  # the matcher Ray's upload uses

    spec = PathSpec.from_lines("gitwildmatch", lines)
    return _IgnoreRules(base, spec, all(pattern.include is not False for pattern in spec.patterns))


def _folder_rules(folder: Path) -> list[_IgnoreRules]:
    """The folder's own `.gitignore` (unless Ray is told to ignore those) and `.rayignore`."""
    names = [".rayignore"]
    if os.environ.get("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "0") != "1":
        names.insert(0, ".gitignore")
    rules = []
    for name in names:
        path = folder / name
        try:
            lines = path.read_text(errors="replace").splitlines() if path.is_file() else None
        except OSError:
            lines = None  # unreadable: Ray's upload reports it
        if lines is not None:
            rules.append(_rules(folder, lines))
    return rules


def _env_file_sets_a_secret(path: Path) -> bool:
    """A `.env.*` file with `KEY=value` where KEY looks secret, or a value holding a URL password."""
    try:
        with path.open(errors="replace") as file:
            text = file.read(256 * 1024)
    except OSError:
        return False
    for line in text.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        value = value.strip().strip("'\"")
        if sep and value and (is_secret_key(key.strip()) or scrub_url_passwords(value) != value):
            return True
    return False


def _dir_label(parts: tuple[str, ...]) -> str | None:
    for entry in CREDENTIAL_DIRS:
        want = tuple(entry.split("/"))
        for start in range(len(parts) - len(want)):  # strictly inside the folder
            if parts[start : start + len(want)] == want:
                return "/".join(parts[: start + len(want)]) + "/"
    return None


def credential_label(relative: Path, path: Path) -> str | None:
    """How to name the uploaded file `relative` (at `path`) when it is a credential, else None.

    A file inside a credential folder is named by the folder (`.ssh/`), any other by its own path.
    """
    parts = relative.parts
    label = _dir_label(parts)
    if label is not None:
        return label
    name = parts[-1]
    if any(parts[-len(entry.split("/")) :] == tuple(entry.split("/")) for entry in CREDENTIAL_FILES):
        return relative.as_posix()
    if any(fnmatch.fnmatchcase(name.lower(), glob) for glob in CREDENTIAL_GLOBS):
        return relative.as_posix()
    is_env_file = name.startswith(".env.") and not name.endswith(ENV_FILE_TEMPLATES)
    return relative.as_posix() if is_env_file and _env_file_sets_a_secret(path) else None


class _Walk:
    """Ray's upload walk over `scan.root`, filling `scan`; stops once the size limit is passed."""

    def __init__(self, scan: UploadScan) -> None:
        self.scan = scan
        self.seen_folders: set[str] = set()  # real paths: a symlink loop is walked once

    def folder(self, folder: Path, rules: list[_IgnoreRules]) -> None:
        own = _folder_rules(folder)
        if any(rule.excludes(folder, True) for rule in own):  # Ray matches a folder against its own files too
            return
        real = os.path.realpath(folder)
        if real in self.seen_folders:
            return
        self.seen_folders.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            return  # unreadable: Ray's upload reports it
        for entry in entries:
            if self.scan.over_limit:
                return
            self.entry(Path(entry.path), entry, rules + own)

    def entry(self, path: Path, entry: os.DirEntry[str], rules: list[_IgnoreRules]) -> None:
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()  # both follow symlinks, as Ray does
            size = entry.stat().st_size if is_file else 0
        except OSError:
            return  # vanished or unreadable
        if any(rule.excludes(path, is_dir) for rule in rules):
            return
        if is_dir:
            self.folder(path, rules)
        elif is_file:
            self.file(path, size)

    def file(self, path: Path, size: int) -> None:
        relative = path.relative_to(self.scan.root)
        self.scan.total_bytes += size
        top = relative.parts[0] + ("/" if len(relative.parts) > 1 else "")
        self.scan.top_level_bytes[top] = self.scan.top_level_bytes.get(top, 0) + size
        label = credential_label(relative, path)
        if label is not None and label not in self.scan.credentials:
            self.scan.credentials.append(label)


def scan_upload(working_dir: Path, excludes: Sequence[str], max_bytes: int) -> UploadScan:
    """Walk what Ray would upload from `working_dir` with these `excludes` (see the module docstring)."""
    root = working_dir.absolute()
    scan = UploadScan(root=root, max_bytes=max_bytes)
    _Walk(scan).folder(root, [_rules(root, excludes)])
    return scan


def _size(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB // 10 else f"{size / 1024:.1f} KiB"


def _size_problem(scan: UploadScan, max_upload_mib: float) -> str:
    largest = sorted(scan.top_level_bytes.items(), key=lambda item: -item[1])[:3]
    listed = ", ".join(f"{name} {_size(size)}" for name, size in largest)
    return (
        f"it holds more than --max-upload-mib {max_upload_mib:g} MiB of files to upload "
        f"(counting stopped at {_size(scan.total_bytes)}; largest: {listed})"
    )


def _refusal(scan: UploadScan, max_upload_mib: float) -> str:
    problems = []
    if scan.credentials:
        problems.append(f"it holds credential files: {', '.join(scan.credentials)}")
    if scan.over_limit:
        problems.append(_size_problem(scan, max_upload_mib))
    fixes = [
        "run `ray-lab submit` from your project folder (the job needs only its code and configs)",
        f"or list these paths in {scan.root / '.rayignore'} (Ray does not upload what it lists)",
    ]
    if scan.over_limit:
        fixes.append("or, if the job needs all of it, raise --max-upload-mib (Ray's cap: 512 MiB compressed)")
    lines = [f"refusing to upload {scan.root} as the job's working directory:"]
    lines += [f"  - {problem}" for problem in problems]
    return "\n".join([*lines, "Fix: " + ", ".join(fixes) + "."])


def check_upload(working_dir: Path, excludes: Sequence[str], max_upload_mib: float) -> UploadScan:
    """Scan `working_dir`; raise UploadRefused naming the credential files or the size, and the fix."""
    if not max_upload_mib > 0:
        raise ValueError(f"max_upload_mib must be a positive number of MiB, got {max_upload_mib!r}")
    scan = scan_upload(working_dir, excludes, int(max_upload_mib * MIB))
    if scan.credentials or scan.over_limit:
        raise UploadRefused(_refusal(scan, max_upload_mib))
    return scan


def parse_upload_mib(text: str) -> float:
    """argparse type of `--max-upload-mib`: a positive number (a usage error, exit 2, otherwise)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of MiB, got {text!r}")
    return value
