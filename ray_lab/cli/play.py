"""`ray-lab play`: replay a trained model over the seeded evaluation episodes, optionally recording them."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ray_lab.config.errors import ConfigError
from ray_lab.config.loader import load_config
from ray_lab.config.schema import ExperimentConfig
from ray_lab.tracking.atomic import atomic_path
from ray_lab.tracking.run_dir import RunLayout


def resolve_run_dir(config: ExperimentConfig, run: str | None, source: str) -> Path:
    """`--run`, else `play.experiment` as a path or a folder name under `<output_dir>/<env>/<algorithm>/`."""
    name = run or config.play.experiment
    if not name:
        raise ConfigError.single(source, "play.experiment", "no run to play: set play.experiment or pass --run DIR")
    direct = Path(name).expanduser()
    if direct.is_dir():
        return direct
    env_folder = config.environment.name.replace("/", "-")
    nested = Path(config.experiment.output_dir) / env_folder / config.training.algorithm / name
    if nested.is_dir():
        return nested
    raise ConfigError.single(source, "play.experiment", f"no run folder at {direct} or {nested}")


def resolve_model(run_dir: Path, name: str | None, source: str) -> Path:
    """`model`, `best_model`, or a checkpoint name inside the run folder."""
    stem = (name or "model").removesuffix(".zip")
    for candidate in (run_dir / f"{stem}.zip", run_dir / "checkpoints" / f"{stem}.zip"):
        if candidate.is_file():
            return candidate
    found = sorted(p.stem for p in [*run_dir.glob("*.zip"), *run_dir.glob("checkpoints/*.zip")])
    raise ConfigError.single(source, "play.pretrained_model", f"no {stem}.zip in {run_dir}; found: {found or 'none'}")


def play_episodes(model: Any, env: Any, seeds: list[int], record: bool) -> tuple[list[float], list[int], list[Any]]:
    """One episode per seed on a 1-env VecEnv; frames too when recording."""
    returns: list[float] = []
    lengths: list[int] = []
    frames: list[Any] = []
    for seed in seeds:
        env.seed(seed)
        obs = env.reset()
        total, steps, done, state = 0.0, 0, False, None
        start = np.ones(1, dtype=bool)
        while not done:
            if record:
                frames.append(env.render())
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            obs, reward, dones, _ = env.step(action)
            total += float(reward[0])
            steps += 1
            done = bool(dones[0])
            start = dones
        returns.append(total)
        lengths.append(steps)
    return returns, lengths, frames


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


def _load_config(args: argparse.Namespace) -> tuple[ExperimentConfig, str]:
    if args.config:
        return load_config(args.config, args.overrides), args.config
    if args.run:
        source = str(RunLayout(Path(args.run)).config_yaml)
        return load_config(source, args.overrides), source
    raise ConfigError.single("ray-lab play", "--config", "pass --config FILE or --run DIR")


def run_play(args: argparse.Namespace) -> int:
    """Play the model; prints one line per episode and the mean."""
    from ray_lab.learner.algorithms import resolve_algorithm
    from ray_lab.learner.build import build_local_env, load_pretrained_vecnormalize
    from ray_lab.learner.pretrained import check_compatible
    from ray_lab.tracking.progress import print_summary

    config, source = _load_config(args)
    run_dir = resolve_run_dir(config, args.run, source)
    model_zip = resolve_model(run_dir, args.model or config.play.pretrained_model, source)
    # A simulator player opens its window to watch (no -batchmode), or renders headless for --record.
    watch = "human" if config.environment.unity is not None else None
    render_mode = "rgb_array" if args.record else watch
    env = build_local_env(config, 1, render_mode=render_mode, log_dir=RunLayout(run_dir).unity_dir)
    try:
        check_compatible(model_zip, env.observation_space, env.action_space, source)
    except ConfigError:
        env.close()
        raise
    load_pretrained_vecnormalize(env, model_zip)
    model = resolve_algorithm(config.training.algorithm).load(model_zip, device="cpu")
    eval_cfg = config.loop.eval
    episodes = args.episodes or config.evaluation.num_episodes
    seeds = [eval_cfg.seed + i for i in range(episodes)]
    try:
        returns, lengths, frames = play_episodes(model, env, seeds, args.record)
    finally:
        env.close()
    rows = [(f"seed {s}", f"return {r:9.2f}   length {n}") for s, r, n in zip(seeds, returns, lengths, strict=True)]
    rows.append(("mean", f"return {np.mean(returns):9.2f} ± {np.std(returns):.2f}"))
    if args.record and frames:
        rows.append(("video", str(write_video(frames, RunLayout(run_dir).videos_dir))))
    print_summary(rows, title=f"ray-lab play: {model_zip}")
    return 0
