"""What `ray-lab play` plays: a run folder, a model `.zip`, or a `wandb:` URI, and the config that goes with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ray_lab.config.errors import ConfigError
from ray_lab.config.schema import ExperimentConfig, ExperimentSection
from ray_lab.tracking.run_dir import RunLayout, find_run_config, pretrained_cache_dir, runs_parent
from ray_lab.tracking.wandb_models import EXPECTED_FORM, PREFIX, resolve_wandb_model

__all__ = ["FORMS", "PlaySource", "locate", "pretrained_cache", "resolve_model", "resolve_run_dir"]

FORMS = f"a run folder, a model .zip or {EXPECTED_FORM}"


@dataclass(frozen=True)
class PlaySource:
    """A run folder (the model is picked inside it) or a model zip (local, or downloaded from W&B)."""

    spec: str
    """What was asked for, as given."""
    run_dir: Path | None
    model_zip: Path | None
    config_yaml: Path | None
    """The config the model was trained with, when one was found with it."""
    home: Path
    """Where `videos/` and simulator logs go: the run folder, else the folder of the zip."""


def pretrained_cache(config: ExperimentConfig | None) -> Path:
    """Where `wandb:` models are downloaded: the config's cache, as for `training.pretrained_model`."""
    default = ExperimentSection.model_fields["output_dir"].default
    return pretrained_cache_dir(config.experiment.output_dir if config is not None else default)


def locate(spec: str, cache_dir: Path, key: str) -> PlaySource:
    """The run folder or model zip that `spec` names (a `wandb:` URI is downloaded into `cache_dir` first).

    Raises:
        ConfigError: nothing usable at `spec`, or the download failed (reported under `key`).
    """
    if spec.startswith(PREFIX):
        try:
            return _zip_source(spec, resolve_wandb_model(spec, cache_dir))
        except (ValueError, RuntimeError) as exc:
            raise ConfigError.single("ray-lab play", key, str(exc)) from None
    path = Path(spec).expanduser()
    if path.is_dir():
        layout = RunLayout(path)
        config = layout.config_yaml if layout.config_yaml.is_file() else None
        return PlaySource(spec, path, None, config, path)
    if path.is_file() and path.suffix == ".zip":
        return _zip_source(spec, path)
    why = "is not a .zip file" if path.exists() else "does not exist"
    raise ConfigError.single("ray-lab play", key, f"{spec!r} {why}: expected {FORMS}")


def _zip_source(spec: str, model_zip: Path) -> PlaySource:
    config = find_run_config(model_zip)
    return PlaySource(spec, None, model_zip, config, config.parent if config is not None else model_zip.parent)


def resolve_run_dir(config: ExperimentConfig, source: str) -> str:
    """`play.experiment`: a path or `wandb:` URI as given, or a folder name under `<output_dir>/<env>/<algorithm>/`."""
    name = config.play.experiment
    if not name:
        message = f"nothing to play: pass --run ({FORMS}), or set play.experiment"
        raise ConfigError.single(source, "play.experiment", message)
    direct = Path(name).expanduser()
    if name.startswith(PREFIX) or direct.exists():
        return name
    nested = runs_parent(config.experiment.output_dir, config.environment.name, config.training.algorithm) / name
    if nested.is_dir():
        return str(nested)
    raise ConfigError.single(source, "play.experiment", f"no run folder at {direct} or {nested}")


def resolve_model(run_dir: Path, name: str | None, source: str) -> Path:
    """`model`, `best_model`, or a checkpoint name inside the run folder."""
    layout = RunLayout(run_dir)
    found = layout.named_model(name)
    if found is not None:
        return found
    stem = (name or layout.model_zip.stem).removesuffix(".zip")
    message = f"no {stem}.zip in {run_dir}; found: {layout.model_names() or 'none'}"
    raise ConfigError.single(source, "play.pretrained_model", message)
