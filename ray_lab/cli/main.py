"""`ray-lab` command line: `train`, `check`, `play`, `export`, `sweep` and `submit` (also as `python -m ray_lab`)."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence

from ray_lab.cli.errors import print_config_error
from ray_lab.cli.export import add_export_args
from ray_lab.cli.upload_check import DEFAULT_MAX_UPLOAD_MIB, parse_upload_mib
from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError

DISTRIBUTION = "ray-lab"  # [project] name in pyproject.toml


def version() -> str:
    """The installed package's version (`unknown` when run from a tree that was never installed)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _add_config_args(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--config",
        "-c",
        required=required,
        help="experiment YAML (train: the bundled quick-start default when omitted)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set training.training.total_timesteps=20000 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ray-lab",
        description="Train Stable-Baselines3 agents on Ray env-worker actors from a YAML config.",
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train_args(commands.add_parser("train", help="train an agent"))
    check = commands.add_parser(
        "check", help="check a config as train would (env, pretrained model, resources) and print its plan; no training"
    )
    _add_config_args(check, required=True)
    _add_play_args(commands.add_parser("play", help="replay a trained model over the seeded evaluation episodes"))
    add_export_args(commands.add_parser("export", help="write a run's model as an ONNX policy (ray-lab[export])"))
    _add_sweep_args(commands.add_parser("sweep", help="tune hyperparameters with Ray Tune from a sweep spec"))
    _add_submit_args(commands.add_parser("submit", help="check a config or sweep spec here, then run it as a Ray job"))
    return parser


def _add_train_args(train: argparse.ArgumentParser) -> None:
    _add_config_args(train, required=False)
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted or killed training in its run folder, from its latest checkpoint, "
        "with the folder's own config.yaml (no --config/--set) and the same W&B run",
    )


def _add_play_args(play: argparse.ArgumentParser) -> None:
    _add_config_args(play, required=False)
    play.add_argument(
        "--run",
        metavar="RUN_DIR|MODEL.zip|wandb:URI",
        help="what to play: a run folder, a model .zip (config.yaml and VecNormalize statistics are looked "
        "for beside it) or wandb:<entity>/<project>/<run_id>/<file>.zip (default: the config's play.experiment)",
    )
    play.add_argument("--model", help="model in the run folder: model, best_model or a checkpoint name")
    play.add_argument("--episodes", type=int, help="episodes to play (default: evaluation.num_episodes)")
    play.add_argument("--record", action="store_true", help="write an mp4 (or gif) into the run's videos/")


def _add_sweep_args(sweep: argparse.ArgumentParser) -> None:
    which = sweep.add_mutually_exclusive_group(required=True)
    which.add_argument("--spec", "-s", help="sweep spec YAML (configs/sweeps/*.yaml)")
    which.add_argument("--resume", metavar="DIR", help="continue the interrupted sweep in this sweep folder")


def _add_submit_args(submit: argparse.ArgumentParser) -> None:
    submit.add_argument("--address", required=True, help="the cluster's dashboard/job address, http://HEAD:8265")
    job = submit.add_mutually_exclusive_group(required=True)
    job.add_argument("--config", "-c", help="experiment YAML: runs `ray-lab train` on the cluster")
    job.add_argument("--spec", "-s", help="sweep spec YAML: runs `ray-lab sweep` on the cluster")
    submit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--follow", action="store_true", help="stream the logs; exit with the job's result")
    submit.add_argument(
        "--max-upload-mib",
        type=parse_upload_mib,
        default=DEFAULT_MAX_UPLOAD_MIB,
        metavar="MIB",
        help=f"refuse a working directory with more files to upload than this (default {DEFAULT_MAX_UPLOAD_MIB:g})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a bad config)."""
    return run_command(build_parser().parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; returns the process exit code (2 for a bad config)."""
    try:
        if args.command == "train":
            from ray_lab.cli.train import run_train

            return run_train(args.config, args.overrides, args.resume)
        if args.command == "check":
            from ray_lab.cli.check import run_check

            return run_check(args.config, args.overrides)
        if args.command == "export":
            from ray_lab.cli.export import run_export

            return run_export(args)
        if args.command == "sweep":
            from ray_lab.cli.sweep import run_sweep

            return run_sweep(args.spec, args.resume)
        if args.command == "submit":
            from ray_lab.cli.submit import run_submit

            return run_submit(args.address, args.config, args.spec, args.overrides, args.follow, args.max_upload_mib)
        from ray_lab.cli.play import run_play

        return run_play(args)
    except ConfigError as exc:
        print_config_error(exc)
        return CONFIG_ERROR_EXIT_CODE


def entry() -> None:
    """The ``ray-lab`` command (and ``python -m ray_lab``): the command, then the process exits.

    A ``train`` that returned has saved, closed and finished everything it opened (model, logs,
    W&B, envs), so after stopping Ray it ends at once: the interpreter's own teardown of torch,
    Ray and W&B takes about 2 s and writes nothing (see docs/benchmarks.md, start-up).
    Everything else, and any exception, takes the normal way out.
    """
    args = build_parser().parse_args()
    code = run_command(args)
    if args.command == "train":
        exit_now(code)
    sys.exit(code)


def exit_now(code: int) -> None:
    """Stop the Ray this process started (if any), flush the logs and stdio, and end the process."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
