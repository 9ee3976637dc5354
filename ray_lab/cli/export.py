"""`ray-lab export`: a run's model as an ONNX policy (raw observations in, deterministic action out)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError

if TYPE_CHECKING:  # main.py imports this module for its arguments: the run-folder code loads when exporting
    from ray_lab.tracking.run_dir import RunLayout

__all__ = ["add_export_args", "default_output", "pick_model", "run_export"]

SOURCE = "ray-lab export"


def add_export_args(export: argparse.ArgumentParser) -> None:
    export.add_argument("--run", required=True, metavar="RUN_DIR", help="the run folder (with its config.yaml)")
    export.add_argument("--model", help="model in the run folder: model (default), best_model or a checkpoint name")
    export.add_argument("--output", metavar="PATH", help="the .onnx file (default: RUN_DIR/export/<model>.onnx)")


def pick_model(layout: RunLayout, name: str | None) -> Path:
    """`--model` inside the run folder; a ConfigError naming the models there when it is not one of them."""
    found = layout.named_model(name)
    if found is not None:
        return found
    stem = (name or layout.model_zip.stem).removesuffix(".zip")
    choices = ", ".join(layout.model_names()) or "none"
    raise ConfigError.single(SOURCE, "--model", f"no model {stem!r} in {layout.root}; choices: {choices}")


def default_output(layout: RunLayout, model_zip: Path) -> Path:
    """`<run>/export/<model>.onnx`."""
    return layout.root / "export" / f"{model_zip.stem}.onnx"


def _algorithm(layout: RunLayout) -> str:
    from ray_lab.export import EXPORTABLE
    from ray_lab.learner.experiment import load_experiment

    if not layout.config_yaml.is_file():
        raise ConfigError.single(SOURCE, "--run", f"{layout.root} is not a run folder: it has no config.yaml")
    algorithm = load_experiment(layout.config_yaml).training.algorithm
    if algorithm.lower() not in EXPORTABLE:
        message = f"cannot export {algorithm}: export supports {', '.join(EXPORTABLE)}"
        raise ConfigError.single(str(layout.config_yaml), "training.algorithm", message)
    return algorithm


def run_export(args: argparse.Namespace) -> int:
    """Export and print the ONNX file's path; exit 2 for a bad run folder, model or unsupported space."""
    from ray_lab.export import export_policy
    from ray_lab.learner.algorithms import resolve_algorithm
    from ray_lab.tracking.run_dir import RunLayout

    layout = RunLayout(Path(args.run).expanduser())
    if not layout.root.is_dir():
        raise ConfigError.single(SOURCE, "--run", f"{args.run!r} is not a folder: expected a run folder")
    algorithm = _algorithm(layout)
    model_zip = pick_model(layout, args.model)
    output = Path(args.output).expanduser() if args.output else default_output(layout, model_zip)
    model = resolve_algorithm(algorithm).load(model_zip, device="cpu")
    try:
        result = export_policy(model, model_zip, output)
    except ValueError as exc:
        raise ConfigError.single(SOURCE, "--model", f"{model_zip}: {exc}") from None
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return CONFIG_ERROR_EXIT_CODE
    print(result.onnx_path)
    return 0
