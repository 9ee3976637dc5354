"""Models stored on W&B: `wandb:entity/project/run_id/file.zip` → a local file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray_lab.tracking.run_dir import RunLayout, sanitize_component, vecnormalize_path_for
from ray_lab.tracking.wandb_mode import api_key_configured

PREFIX = "wandb:"
EXPECTED_FORM = "wandb:<entity>/<project>/<run_id>/<file>.zip"


@dataclass(frozen=True)
class WandbModelRef:
    """The parts of a `wandb:` model URI."""

    entity: str
    project: str
    run_id: str
    file: str

    @property
    def run_path(self) -> str:
        """`entity/project/run_id`, as `wandb.Api().run` takes it."""
        return f"{self.entity}/{self.project}/{self.run_id}"


def parse_wandb_uri(uri: str) -> WandbModelRef:
    """Split `wandb:entity/project/run_id/file.zip`; `file` may sit in folders (`checkpoints/m.zip`).

    Raises:
        ValueError: `uri` is not of that form (the message shows the expected form).
    """
    if not uri.startswith(PREFIX):
        raise ValueError(f"{uri!r} is not a W&B model URI: expected {EXPECTED_FORM}")
    parts = uri[len(PREFIX) :].split("/", 3)
    if len(parts) != 4 or not all(p.strip() for p in parts):
        raise ValueError(f"{uri!r} is not a W&B model URI: expected {EXPECTED_FORM}")
    entity, project, run_id, file = (p.strip() for p in parts)
    if file.startswith("/") or any(s in ("", ".", "..") for s in file.split("/")):
        raise ValueError(f"{uri!r}: the file part {file!r} must be a relative path inside the run")
    if not file.endswith(".zip"):
        raise ValueError(f"{uri!r}: the file part {file!r} must be a .zip model; expected {EXPECTED_FORM}")
    return WandbModelRef(entity, project, run_id, file)


def _download_run_file(run: Any, name: str, root: Path) -> Path | None:
    """The run's own file `name` (saved with `wandb.save`), or None when the run has no such file."""
    try:
        remote = run.file(name)
    except (IndexError, KeyError):
        return None
    if not getattr(remote, "url", None):
        return None
    remote.download(root=str(root), replace=True).close()
    return root / name


def _download_companions(run: Any, name: str, root: Path) -> None:
    """The run files that belong with model file `name`: its VecNormalize statistics and `config.yaml`."""
    model = Path(name)
    for companion in (vecnormalize_path_for(model), RunLayout(model.parent).config_yaml):
        _download_run_file(run, companion.as_posix(), root)


def _download_from_artifacts(run: Any, name: str, root: Path) -> Path | None:
    """A file named `name` in one of the run's logged artifacts (how ray-lab uploads models).

    The whole artifact is downloaded, into `root/<artifact name>-<version>/`: a ray-lab model
    artifact holds the model's VecNormalize statistics and the run's `config.yaml` beside the zip,
    found there by the same rules as in a run folder.
    """
    for artifact in run.logged_artifacts():
        if name in artifact.manifest.entries:
            folder = root / sanitize_component(str(artifact.name).replace(":", "-"), "artifact name")
            return Path(artifact.download(root=str(folder))) / name
    return None


def resolve_wandb_model(uri: str, dest_dir: Path) -> Path:
    """Download the model that `uri` names into `dest_dir/<entity>/<project>/<run_id>/` and return it.

    The file is looked up among the run's files first (with its `<stem>_vecnormalize.pkl` and
    `config.yaml` beside it, when the run has them), then in the artifacts the run logged (the whole
    artifact is downloaded, so the statistics and config it carries lie beside the zip).

    Raises:
        ValueError: `uri` is malformed.
        RuntimeError: W&B is offline or disabled here, no API key is configured, the server is
            unreachable, or the run has no such file (the message names the URI and the reason).
    """
    ref = parse_wandb_uri(uri)
    env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if env_mode in ("offline", "dryrun", "disabled"):
        raise RuntimeError(
            f"cannot download {uri}: W&B is {env_mode} here (WANDB_MODE={env_mode}); "
            "unset WANDB_MODE, or download the file and pass its local path"
        )
    if not api_key_configured():
        raise RuntimeError(f"cannot download {uri}: no W&B API key configured (set WANDB_API_KEY or run `wandb login`)")
    root = Path(dest_dir).expanduser() / ref.entity / ref.project / ref.run_id
    root.mkdir(parents=True, exist_ok=True)
    try:
        import wandb

        run = wandb.Api(timeout=30).run(ref.run_path)
        local = _download_run_file(run, ref.file, root)
        if local is not None:
            _download_companions(run, ref.file, root)
        else:
            local = _download_from_artifacts(run, ref.file, root)
    except Exception as exc:  # network, auth, missing run: all reported the same way
        raise RuntimeError(f"cannot download {uri}: {type(exc).__name__}: {exc}") from exc
    if local is None or not local.is_file():
        raise RuntimeError(f"cannot download {uri}: run {ref.run_path} has no file or artifact entry {ref.file!r}")
    return local
