"""`ray-lab` command line: `train`, `play` and `sweep` (also as `python -m ray_lab`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ray_lab.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError


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
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an agent")
    _add_config_args(train, required=False)

    play = commands.add_parser("play", help="replay a trained model over the seeded evaluation episodes")
    _add_config_args(play, required=False)
    play.add_argument("--run", help="run folder to play (default: the config's play.experiment)")
    play.add_argument("--model", help="model in the run folder: model, best_model or a checkpoint name")
    play.add_argument("--episodes", type=int, help="episodes to play (default: evaluation.num_episodes)")
    play.add_argument("--record", action="store_true", help="write an mp4 (or gif) into the run's videos/")

    sweep = commands.add_parser("sweep", help="tune hyperparameters with Ray Tune from a sweep spec")
    which = sweep.add_mutually_exclusive_group(required=True)
    which.add_argument("--spec", "-s", help="sweep spec YAML (configs/sweeps/*.yaml)")
    which.add_argument("--resume", metavar="DIR", help="continue the interrupted sweep in this sweep folder")

    submit = commands.add_parser("submit", help="check a config or sweep spec here, then run it as a Ray job")
    submit.add_argument("--address", required=True, help="the cluster's dashboard/job address, http://HEAD:8265")
    job = submit.add_mutually_exclusive_group(required=True)
    job.add_argument("--config", "-c", help="experiment YAML: runs `ray-lab train` on the cluster")
    job.add_argument("--spec", "-s", help="sweep spec YAML: runs `ray-lab sweep` on the cluster")
    submit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--follow", action="store_true", help="stream the logs; exit with the job's result")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a bad config)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            from ray_lab.cli.train import run_train

            return run_train(args.config, args.overrides)
        if args.command == "sweep":
            from ray_lab.cli.sweep import run_sweep

            return run_sweep(args.spec, args.resume)
        if args.command == "submit":
            from ray_lab.cli.submit import run_submit

            return run_submit(args.address, args.config, args.spec, args.overrides, args.follow)
        from ray_lab.cli.play import run_play

        return run_play(args)
    except ConfigError as exc:
        print_config_error(exc)
        return CONFIG_ERROR_EXIT_CODE


def print_config_error(exc: ConfigError) -> None:
    """One line per problem on stderr, no traceback."""
    count = len(exc.problems)
    print(f"ray-lab: the config has {count} problem{'s' if count > 1 else ''}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
