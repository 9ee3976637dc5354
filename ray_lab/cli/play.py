"""`ray-lab play`: replay a trained model over the seeded evaluation episodes, optionally recording them.

The model comes from a run folder, a model `.zip` or a `wandb:` URI (see :mod:`ray_lab.cli.play_source`).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from ray_lab.cli.play_source import FORMS, PlaySource, locate, pretrained_cache, resolve_model, resolve_run_dir
from ray_lab.config.errors import ConfigError
from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.experiment import load_experiment
from ray_lab.tracking.atomic import atomic_path
from ray_lab.tracking.run_dir import RunLayout


def write_video(frames: list[Any], videos_dir: Path, fps: int = 30) -> Path:
    """mp4 through imageio-ffmpeg, or a gif when ffmpeg is unavailable; written atomically."""
    import imageio.v2 as imageio

    videos_dir.mkdir(parents=True, exist_ok=True)
    stem = f"play_{datetime.now():%Y%m%d-%H%M%S}"
    try:
        with atomic_path(videos_dir / f"{stem}.mp4") as tmp:
            imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
        return videos_dir / f"{stem}.mp4"
    except (ImportError, RuntimeError, OSError):
        with atomic_path(videos_dir / f"{stem}.gif") as tmp:
            imageio.mimsave(tmp, frames, duration=1000 / fps)
        return videos_dir / f"{stem}.gif"


def _found_config(where: PlaySource, overrides: list[str]) -> tuple[ExperimentConfig, str]:
    """The `config.yaml` found with the model: a run folder's own, or the one beside the zip or in its artifact."""
    if where.config_yaml is None:
        message = (
            f"no config.yaml found with {where.run_dir or where.model_zip} (looked beside it and in its "
            "run folder); pass --config FILE, the config the model was trained with"
        )
        raise ConfigError.single("ray-lab play", "--config", message)
    return load_experiment(where.config_yaml, overrides), str(where.config_yaml)


def _pick_model(where: PlaySource, args: argparse.Namespace, config: ExperimentConfig, source: str) -> Path:
    if where.model_zip is None:  # a run folder: --model or play.pretrained_model inside it
        return resolve_model(where.home, args.model or config.play.pretrained_model, source)
    if args.model:
        message = f"--model picks a model inside a run folder; {where.spec} is a model file already"
        raise ConfigError.single("ray-lab play", "--model", message)
    return where.model_zip


def load_play(args: argparse.Namespace) -> tuple[ExperimentConfig, str, PlaySource, Path]:
    """The config, its source, what to play (`--run`, else the config's `play.experiment`) and the model zip.

    The config is `--config` when given, else the one found with the model (:func:`_found_config`).
    """
    config = load_experiment(args.config, args.overrides) if args.config else None
    if args.run is not None:
        spec = args.run
    elif config is not None:
        spec = resolve_run_dir(config, args.config)
    else:
        raise ConfigError.single("ray-lab play", "--run", f"nothing to play: pass --run ({FORMS}) or --config FILE")
    where = locate(spec, pretrained_cache(config), "--run" if args.run else "play.experiment")
    config, source = (config, args.config) if config is not None else _found_config(where, args.overrides)
    return config, source, where, _pick_model(where, args, config, source)


def run_play(args: argparse.Namespace) -> int:
    """Play the model; prints one line per episode and the mean."""
    from ray_lab.evaluation.seeded import run_seeded_episodes
    from ray_lab.learner.algorithms import resolve_algorithm
    from ray_lab.learner.build import build_local_env, load_pretrained_vecnormalize
    from ray_lab.learner.pretrained import check_compatible
    from ray_lab.tracking.progress import print_summary

    config, source, where, model_zip = load_play(args)
    home = RunLayout(where.home)
    # A simulator player opens its window to watch (no -batchmode), or renders headless for --record.
    watch = "human" if config.environment.unity is not None else None
    render_mode = "rgb_array" if args.record else watch
    env = build_local_env(config, 1, render_mode=render_mode, log_dir=home.unity_dir)
    try:
        check_compatible(model_zip, env.observation_space, env.action_space, source)
    except ConfigError:
        env.close()
        raise
    load_pretrained_vecnormalize(env, model_zip)
    model = resolve_algorithm(config.training.algorithm).load(model_zip, device="cpu", env=env)  # HER needs the env
    frames: list[Any] = []
    try:  # the evaluation rounds' seeded-episode loop, one env: episode i starts from reset(seed=eval.seed + i)
        results = run_seeded_episodes(
            model,
            env,
            config.loop.eval.seed,
            args.episodes or config.evaluation.num_episodes,
            observe=(lambda venv: frames.append(venv.render())) if args.record else None,
        )
    finally:
        env.close()
    rows = [
        (f"seed {s}", f"return {r:9.2f}   length {n}")
        for s, r, n in zip(results.seeds, results.returns, results.lengths, strict=True)
    ]
    rows.append(("mean", f"return {results.mean_return:9.2f} ± {results.std_return:.2f}"))
    if args.record and frames:
        rows.append(("video", str(write_video(frames, home.videos_dir))))
    print_summary(rows, title=f"ray-lab play: {model_zip}")
    return 0
