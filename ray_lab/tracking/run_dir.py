"""Run folders: the one owner of where a run's files go and what they are called.

A training's folder is `<output_dir>/<env name>/<algorithm>/<name>_<YYYYmmdd-HHMMSS>/` (never shared
by two runs); a Tune trial's is `<sweep folder>/trials/<trial name>/` (kept across its retries).
:func:`prepare_run` makes either ready to train into; :class:`RunLayout` names every file inside.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ray_lab.config.loader import config_to_yaml
from ray_lab.config.schema import ExperimentConfig
from ray_lab.tracking.atomic import atomic_write_text

TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
MAX_SUFFIX = 10_000
PRETRAINED_CACHE = ".pretrained_cache"
TRIALS = "trials"
_UNSAFE = re.compile(r"[^\w.+=@-]")


def sanitize_component(value: str, what: str = "name") -> str:
    """`value` as a single safe path component: `ALE/Pong-v5` → `ALE-Pong-v5`.

    Separators, whitespace and other characters that are awkward in paths become `-`; leading
    dots are dropped (no hidden folders, no `..`).

    Raises:
        ValueError: nothing usable is left (empty, only separators or dots).
    """
    cleaned = _UNSAFE.sub("-", value.strip()).lstrip(".")
    if not cleaned.strip("-."):
        raise ValueError(f"{what} {value!r} gives an empty folder name; use letters or digits")
    return cleaned


def runs_parent(output_dir: Path | str, env_name: str, algorithm: str) -> Path:
    """The folder holding the runs of one env and algorithm: `<output_dir>/<env name>/<algorithm>`.

    Each component is sanitized (`ALE/Pong-v5` → `ALE-Pong-v5`). `env_name` is the env's id without
    a `module:` prefix (`EnvironmentSection.name`), for `train`, `play` and sweeps alike.

    Raises:
        ValueError: a component is empty after sanitizing.
    """
    env = sanitize_component(env_name, "environment id")
    return Path(output_dir).expanduser() / env / sanitize_component(algorithm, "algorithm")


def pretrained_cache_dir(output_dir: Path | str) -> Path:
    """Where `wandb:` models are downloaded (`training.pretrained_model`, `ray-lab play --run wandb:...`)."""
    return Path(output_dir).expanduser() / PRETRAINED_CACHE


def create_run_dir(
    root: Path | str,
    env_id: str,
    algorithm: str,
    name: str,
    *,
    now: datetime | None = None,
) -> Path:
    """Create and return a new, empty run folder `root/<env id>/<algorithm>/<name>_<YYYYmmdd-HHMMSS>/`.

    When the folder exists already (a run started in the same second, here or concurrently
    elsewhere) `_2`, `_3`, ... is appended: creation relies on `mkdir` failing for an existing
    folder, so two runs never share one.

    Raises:
        ValueError: a component is empty after sanitizing.
        RuntimeError: no free folder name was found after many attempts.
    """
    stamp = (now or datetime.now()).strftime(TIMESTAMP_FORMAT)
    parent = runs_parent(root, env_id, algorithm)
    parent.mkdir(parents=True, exist_ok=True)
    base = f"{sanitize_component(name, 'experiment name')}_{stamp}"
    for index in range(1, MAX_SUFFIX + 1):
        candidate = parent / (base if index == 1 else f"{base}_{index}")
        try:
            candidate.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"no free run folder for {base!r} in {parent} after {MAX_SUFFIX} attempts")


def trial_run_dir(sweep_dir: Path | str, trial_name: str) -> Path:
    """A Tune trial's run folder, `<sweep folder>/trials/<trial name>` (the same one on every retry)."""
    return Path(sweep_dir) / TRIALS / sanitize_component(trial_name, "trial name")


def prepare_run(config: ExperimentConfig, folder: Path | None = None) -> RunLayout:
    """Make a run folder ready to train `config` into: the one way a run starts (CLI, Tune, tests).

    `folder` None: a new folder under `experiment.output_dir` (:func:`create_run_dir`, named by
    `environment.name`, `training.algorithm` and `experiment.name`). Given (a resumed run, a Tune
    trial), it is created when missing and reused as it is. Either way `config.yaml` holds the
    config the run (last) started with, and `run.json` the W&B run id that a resume continues.
    """
    if folder is None:
        where = config.experiment
        folder = create_run_dir(where.output_dir, config.environment.name, config.training.algorithm, where.name)
    folder.mkdir(parents=True, exist_ok=True)
    layout = RunLayout(folder)
    atomic_write_text(layout.config_yaml, config_to_yaml(config))
    ensure_run_id(layout)
    return layout


@dataclass(frozen=True)
class RunLayout:
    """Where each standard file of a run folder lives (paths only; nothing is created)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config_yaml(self) -> Path:
        """The resolved config the run was started with."""
        return self.root / "config.yaml"

    @property
    def model_zip(self) -> Path:
        """The final model (or the model at the point training was stopped)."""
        return self.root / "model.zip"

    @property
    def best_model_zip(self) -> Path:
        """The model of the best evaluation round."""
        return self.root / "best_model.zip"

    @property
    def vecnormalize(self) -> Path:
        """rl-baselines3-zoo's name for a folder's VecNormalize statistics, read when a model has no
        `<model>_vecnormalize.pkl` of its own (:func:`vecnormalize_path_for`); ray-lab writes the latter."""
        return self.root / "vecnormalize.pkl"

    @property
    def checkpoints_dir(self) -> Path:
        """Periodic checkpoints (`model_<timesteps>_steps.zip`)."""
        return self.root / "checkpoints"

    def checkpoint_zip(self, timesteps: int, *, at_failure: bool = False) -> Path:
        """The checkpoint taken at `timesteps`: `checkpoints/model_<timesteps>_steps.zip`.

        `at_failure`: the model kept when a training failed (`model_<timesteps>_steps_at_failure.zip`).
        """
        suffix = "_at_failure" if at_failure else ""
        return self.checkpoints_dir / f"model_{timesteps}_steps{suffix}.zip"

    def named_model(self, name: str | None) -> Path | None:
        """`model`, `best_model` or a checkpoint's name (`.zip` optional): the zip in this folder, or None."""
        stem = (name or self.model_zip.stem).removesuffix(".zip")
        for candidate in (self.root / f"{stem}.zip", self.checkpoints_dir / f"{stem}.zip"):
            if candidate.is_file():
                return candidate
        return None

    def model_names(self) -> list[str]:
        """The names :meth:`named_model` finds here, sorted."""
        return sorted(p.stem for p in [*self.root.glob("*.zip"), *self.checkpoints_dir.glob("*.zip")])

    @property
    def evaluations_csv(self) -> Path:
        """One row per evaluation round."""
        return self.root / "evaluations.csv"

    @property
    def progress_csv(self) -> Path:
        """SB3's CSV logger output."""
        return self.root / "progress.csv"

    @property
    def tensorboard_dir(self) -> Path:
        """TensorBoard event files."""
        return self.root / "tensorboard"

    @property
    def videos_dir(self) -> Path:
        """Recorded episodes."""
        return self.root / "videos"

    @property
    def unity_dir(self) -> Path:
        """Simulator player logs (`worker_<k>.log`, `eval_worker_<k>.log`; `worker_<k>.restart-<n>.log` per restart)."""
        return self.root / "unity"

    @property
    def wandb_dir(self) -> Path:
        """Weights & Biases files (offline runs to sync later)."""
        return self.root / "wandb"

    @property
    def learning_curve_png(self) -> Path:
        """Train and eval return against timesteps."""
        return self.root / "learning_curve.png"

    @property
    def summary_json(self) -> Path:
        """What the finished run reported."""
        return self.root / "summary.json"

    @property
    def run_json(self) -> Path:
        """The run's identity, written when it starts: `{"wandb_run_id": ...}` (a resumed run keeps it)."""
        return self.root / "run.json"

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint in `checkpoints/` (highest timesteps in the name), or None.

        Hidden temp files of an unfinished write are skipped: a checkpoint's `.zip` is written last,
        after its VecNormalize statistics, replay buffer and resume state.
        """
        if not self.checkpoints_dir.is_dir():
            return None
        found = [p for p in self.checkpoints_dir.glob("*.zip") if p.is_file() and not p.name.startswith(".")]
        return max(found, key=_checkpoint_order) if found else None


_RUN_ID_CHARS = string.ascii_lowercase + string.digits


def ensure_run_id(layout: RunLayout) -> str:
    """The run's W&B run id from `run.json`, created there (8 random letters and digits) on first use.

    Every start of the same run folder (a `train --resume`, a Tune retry) gets the same id, so W&B
    continues the same run.
    """
    path = layout.run_json
    if path.is_file():
        run_id = json.loads(path.read_text()).get("wandb_run_id")
        if isinstance(run_id, str) and run_id:
            return run_id
    run_id = "".join(secrets.choice(_RUN_ID_CHARS) for _ in range(8))
    atomic_write_text(path, json.dumps({"wandb_run_id": run_id}, indent=2))
    return run_id


_NUMBER = re.compile(r"\d+")


def vecnormalize_path_for(model_zip: Path) -> Path:
    """Where the VecNormalize statistics of `model_zip` live: `model.zip` → `model_vecnormalize.pkl`.

    The same rule holds in a run folder, in a model artifact on W&B and in its download. A folder
    from rl-baselines3-zoo has `vecnormalize.pkl` instead (:attr:`RunLayout.vecnormalize`).
    """
    return model_zip.with_name(f"{model_zip.stem}_vecnormalize.pkl")


def find_run_config(model_zip: Path) -> Path | None:
    """The `config.yaml` a model was trained with: beside the zip (a run folder, a downloaded
    artifact), or in the run folder above `checkpoints/`; None when there is none."""
    folders = [model_zip.parent]
    if model_zip.parent.name == "checkpoints":
        folders.append(model_zip.parent.parent)
    for folder in folders:
        candidate = RunLayout(folder).config_yaml
        if candidate.is_file():
            return candidate
    return None


def _checkpoint_order(path: Path) -> tuple[int, float]:
    """Sort key: the last number in the file name (timesteps), then the modification time."""
    numbers = _NUMBER.findall(path.stem)
    return (int(numbers[-1]) if numbers else -1, path.stat().st_mtime)


def find_model(path: Path | str) -> Path:
    """The model zip that `path` names: a `.zip` file, or a run folder.

    In a run folder: `model.zip`, else `best_model.zip`, else the newest checkpoint
    (`checkpoints/*.zip`, highest timesteps in the name; hidden temp files of an unfinished
    write are skipped).

    Raises:
        FileNotFoundError: `path` does not exist, is not a `.zip` file, or the folder holds
            none of the files above (the message lists what was looked for).
    """
    given = Path(path).expanduser()
    if given.is_file():
        if given.suffix != ".zip":
            raise FileNotFoundError(f"{given} is not a model: expected a .zip file or a run folder")
        return given
    if not given.is_dir():
        raise FileNotFoundError(f"{given} does not exist (expected a .zip file or a run folder)")
    layout = RunLayout(given)
    for candidate in (layout.model_zip, layout.best_model_zip):
        if candidate.is_file():
            return candidate
    checkpoint = layout.latest_checkpoint()
    if checkpoint is not None:
        return checkpoint
    looked_for = [layout.model_zip.name, layout.best_model_zip.name, f"{layout.checkpoints_dir.name}/*.zip"]
    raise FileNotFoundError(f"no model in {given}: looked for {', '.join(looked_for)}")
