"""Where metrics, summaries and model files go: Weights & Biases (`WandbSink`) or nowhere (`NullSink`).

`WandbSink` runs online when an API key is configured and offline otherwise (files under
`<run dir>/wandb/`, uploaded later with `wandb sync`). It never passes credentials on: secret-looking
config keys are redacted before `wandb.init` sees the config.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from ray_lab.tracking.redact import scrub_secrets
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.tracking.wandb_mode import ConfigMode, RunMode, resolve_mode
from ray_lab.tracking.wandb_models import WandbModelRef, parse_wandb_uri, resolve_wandb_model

__all__ = ["STEP_METRIC", "NullSink", "Sink", "WandbModelRef", "WandbSink", "parse_wandb_uri", "resolve_wandb_model"]

STEP_METRIC = "global_step"
DEFAULT_INIT_TIMEOUT_S = 60.0
_ARTIFACT_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class Sink:
    """What a training run reports to: metrics by timestep, files, and a final summary.

    This base class drops everything; :class:`WandbSink` overrides each method, :class:`NullSink` none.
    """

    @property
    def run_id(self) -> str | None:
        """The tracking run's id (None when nothing is tracked)."""
        return None

    @property
    def url(self) -> str | None:
        """The run's web page (None offline or when nothing is tracked)."""
        return None

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record scalar `metrics` at timestep `step`."""

    def log_artifact(
        self,
        path: Path,
        name: str,
        type: str = "model",
        aliases: list[str] | None = None,
        extra_files: Sequence[Path] = (),
    ) -> None:
        """Store the file (or folder) at `path`, and `extra_files` beside it, as a versioned artifact `name`."""
        self._store_artifact((path, *extra_files), name, type, aliases)

    def _store_artifact(self, sources: Sequence[Path], name: str, type: str, aliases: list[str] | None) -> None:
        """Store `sources` (`path`, then the extra files) as artifact `name`: here they are dropped."""

    def log_video(self, path: Path, key: str, step: int) -> None:
        """Upload the video file at `path` under `key` at timestep `step`."""

    def summary(self, values: Mapping[str, Any]) -> None:
        """Set final values shown in the run's summary."""

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (safe to call more than once)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)


class NullSink(Sink):
    """A sink that drops everything (`training.use_wandb: false`)."""


def artifact_name(name: str) -> str:
    """`name` as W&B accepts it for an artifact: letters, digits, `-`, `_` and `.` (others → `-`)."""
    cleaned = _ARTIFACT_NAME_UNSAFE.sub("-", name.strip())[:128]
    if not cleaned.strip("-._"):
        raise ValueError(f"artifact name {name!r} has no letters or digits")
    return cleaned


def _snapshot(source: Path, folder: Path) -> Path:
    """Copy `source` (file or folder) to `folder/<its name>`: the content an artifact refers to."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / source.name
    if source.is_dir():
        shutil.copytree(source, dest)
    else:
        shutil.copy2(source, dest)
    return dest


def _say(message: str) -> None:
    print(f"W&B: {message}", file=sys.stdout, flush=True)


class WandbSink(Sink):
    """A Weights & Biases run whose files live in `run_dir/wandb/`.

    Mode: `WANDB_MODE` (when set) wins; else `mode`, where `auto` is online only with an API key
    (`WANDB_API_KEY` or `wandb login`). Offline (and when an online start fails, e.g. without
    network) the run is written locally and one line says how to upload it (`wandb sync DIR`).

    Metrics are logged with `global_step` (the timestep) as their x-axis rather than as W&B's own
    step, so out-of-order or repeated steps are never dropped. With `sync_tensorboard`, TensorBoard
    event files written under `tensorboard_dir` (default `run_dir/tensorboard`) after the sink was
    created are synced too; create the sink before the TensorBoard writer.
    """

    def __init__(
        self,
        *,
        project: str,
        entity: str | None,
        group: str | None,
        run_name: str,
        mode: ConfigMode,
        tags: list[str],
        config: Mapping[str, Any],
        run_dir: Path,
        sync_tensorboard: bool = True,
        tensorboard_dir: Path | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        run_id: str | None = None,
    ) -> None:
        """`run_id`: the W&B run to create or, when it exists already, to continue (a resumed run folder)."""
        import wandb

        self._wandb = wandb
        self._finished, self._tb_patched, self._artifacts_logged = False, False, 0
        self.run_dir = Path(run_dir)
        self.wandb_dir = RunLayout(self.run_dir).wandb_dir
        self.wandb_dir.mkdir(parents=True, exist_ok=True)
        init_args = self._init_args(
            project=project, entity=entity, group=group, name=run_name, tags=tags, config=config, run_id=run_id
        )
        tb_dir = Path(tensorboard_dir) if tensorboard_dir else RunLayout(self.run_dir).tensorboard_dir
        self._open(mode, init_args, tb_dir if sync_tensorboard else None, init_timeout_s)

    def _open(
        self, mode: ConfigMode, init_args: dict[str, Any], tensorboard_dir: Path | None, init_timeout_s: float
    ) -> None:
        """Start the run in `mode` (as resolved), its TensorBoard files synced from `tensorboard_dir` if given."""
        mode_now, reason = resolve_mode(mode)
        if tensorboard_dir is not None and mode_now != "disabled":
            self._patch_tensorboard(tensorboard_dir)
        try:
            self.mode, self._run = self._start(init_args, mode_now, reason, init_timeout_s)
            self._run.define_metric(STEP_METRIC)
            self._run.define_metric("*", step_metric=STEP_METRIC)
        except BaseException:
            self._unpatch_tensorboard()
            raise

    def _init_args(
        self,
        *,
        project: str,
        entity: str | None,
        group: str | None,
        name: str,
        tags: list[str],
        config: Mapping[str, Any],
        run_id: str | None,
    ) -> dict[str, Any]:
        """The keyword arguments of `wandb.init`, config redacted; a given `run_id` is continued if it exists."""
        init_args: dict[str, Any] = {
            "project": project,
            "entity": entity or None,
            "group": group or None,
            "name": name,
            "tags": list(tags) or None,
            "config": scrub_secrets(config),
            "dir": str(self.run_dir),
            "job_type": "train",
            "reinit": "finish_previous",
        }
        if run_id is not None:
            init_args.update(id=run_id, resume="allow")
        return init_args

    def _start(
        self, init_args: dict[str, Any], mode: RunMode, reason: str, init_timeout_s: float
    ) -> tuple[RunMode, Any]:
        """`wandb.init` in `mode`; an online start that fails (no network, bad key) falls back to offline."""
        before = set(self.wandb_dir.iterdir())
        try:
            run = self._init(init_args, mode, init_timeout_s)
        except Exception as exc:
            if mode != "online":
                raise
            for leftover in set(self.wandb_dir.iterdir()) - before:  # the failed online run's folder
                if leftover.is_dir() and leftover.name.startswith("run-"):
                    shutil.rmtree(leftover, ignore_errors=True)
            why = " ".join(str(exc).split())[:300]
            _say(f"could not start an online run ({type(exc).__name__}: {why}); logging offline instead")
            mode, reason = "offline", "the online start failed"
            run = self._init(init_args, mode, init_timeout_s)
        if mode == "offline":
            _say(f"logging offline ({reason}); upload later with: wandb sync {Path(run.dir).parent}")
        elif mode == "online":
            _say(f"run {run.url}")
        return mode, run

    def _init(self, init_args: dict[str, Any], mode: RunMode, init_timeout_s: float) -> Any:
        settings = self._wandb.Settings(init_timeout=init_timeout_s, console="off", silent=True)
        return self._wandb.init(mode=mode, settings=settings, **init_args)

    def _patch_tensorboard(self, tensorboard_dir: Path) -> None:
        """Point wandb's TensorBoard hook at `tensorboard_dir` (any hook of an earlier run is replaced)."""
        import wandb.integration.tensorboard as wandb_tensorboard

        tensorboard_dir.mkdir(parents=True, exist_ok=True)
        if self._wandb.patched["tensorboard"]:
            wandb_tensorboard.unpatch()
        wandb_tensorboard.patch(root_logdir=str(tensorboard_dir))
        self._tb_patched = True

    def _unpatch_tensorboard(self) -> None:
        if self._tb_patched:
            import wandb.integration.tensorboard as wandb_tensorboard

            wandb_tensorboard.unpatch()
            self._tb_patched = False

    @property
    def run_id(self) -> str:
        """The W&B run id."""
        return str(self._run.id)

    @property
    def url(self) -> str | None:
        """The run's page on the W&B server; None offline or disabled."""
        if self.mode != "online":
            return None
        url = self._run.url
        return str(url) if url else None

    @property
    def local_dir(self) -> Path:
        """This run's own folder under `run_dir/wandb/` (what `wandb sync` takes)."""
        return Path(self._run.dir).parent

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record `metrics` at timestep `step` (as `global_step`); ignored after `finish()`."""
        if self._finished or not metrics:
            return
        self._run.log({**metrics, STEP_METRIC: int(step)})

    def _store_artifact(self, sources: Sequence[Path], name: str, type: str, aliases: list[str] | None) -> None:
        """Store the file or folder `sources[0]` as a new version of artifact `name` (`log_artifact`).

        The other `sources` (the extra files) go into the artifact beside it under their own names (a
        model's VecNormalize statistics and the run's `config.yaml`). The content is copied now into
        `<local_dir>/artifacts/`, and the artifact refers to that copy: it stays valid for a later
        `wandb sync` of an offline run even when the files change afterwards (wandb's own staging
        copies do not outlive the process). Online, the copies are removed by `finish()` once
        uploaded; offline they stay until the run is synced.

        Raises:
            FileNotFoundError: nothing exists at one of `sources`.
        """
        sources = [Path(source) for source in sources]
        for source in sources:
            if not source.exists():
                raise FileNotFoundError(f"cannot log artifact {name!r}: {source} does not exist")
        if self._finished or self.mode == "disabled":
            return
        safe_name = artifact_name(name)
        self._artifacts_logged += 1
        folder = self.local_dir / "artifacts" / f"{self._artifacts_logged:04d}-{safe_name}"
        artifact = self._wandb.Artifact(name=safe_name, type=type, metadata={"source": sources[0].name})
        for source in sources:
            snapshot = _snapshot(source, folder)
            if snapshot.is_dir():
                artifact.add_dir(str(snapshot), policy="immutable")
            else:
                artifact.add_file(str(snapshot), name=source.name, policy="immutable")
        self._run.log_artifact(artifact, aliases=list(aliases) if aliases else None)

    def log_video(self, path: Path, key: str, step: int) -> None:
        """Upload the video at `path` (mp4 or gif) as `key` at timestep `step`; ignored after `finish()`.

        Offline, wandb copies it into the run's `files/media/videos/` now (`wandb sync` uploads it).
        """
        video = Path(path)
        if not video.is_file():
            raise FileNotFoundError(f"cannot log video {key!r}: {video} is not a file")
        if self._finished or self.mode == "disabled":
            return
        media = self._wandb.Video(str(video))  # the format comes from the extension
        self._run.log({key: media, STEP_METRIC: int(step)})

    def summary(self, values: Mapping[str, Any]) -> None:
        """Set summary values of the run (redacted like the config); ignored after `finish()`."""
        if not self._finished:
            self._run.summary.update(scrub_secrets(values))

    def finish(self, exit_code: int = 0) -> None:
        """Close the run and flush its files; later calls do nothing.

        A failure while closing is reported on stdout, not raised: the run's own outputs are
        already written, and `finish` is also called while another error propagates.
        """
        if self._finished:
            return
        self._finished = True
        try:
            self._run.finish(exit_code=exit_code)
        except Exception as exc:
            _say(f"closing the run failed ({type(exc).__name__}: {exc}); local files: {self.wandb_dir}")
        else:
            if self.mode == "online":  # uploaded: the artifact copies are no longer needed
                shutil.rmtree(self.local_dir / "artifacts", ignore_errors=True)
        finally:
            self._unpatch_tensorboard()
