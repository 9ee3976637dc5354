"""Build what a training run needs from its typed config: vector envs on workers, and the model.

The worker counts and options come from :mod:`ray_lab.learner.plan` (re-exported here).
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    VecEnv,
    VecFrameStack,
    VecNormalize,
    VecVideoRecorder,
    unwrap_vec_normalize,
)

from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories
from ray_lab.learner.algorithms import default_policy, resolve_algorithm
from ray_lab.learner.plan import num_eval_envs, num_train_workers, train_env_factories, worker_options
from ray_lab.learner.policy_kwargs import architecture_policy_kwargs
from ray_lab.learner.schedules import apply_schedules
from ray_lab.tracking.artifacts import find_vecnormalize, load_vecnormalize_stats, vecnormalize_path_for
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.workers import RayVecEnv
from ray_lab.workers.launch import LaunchedWorkers

logger = logging.getLogger(__name__)

__all__ = [
    "algorithm_gamma",
    "build_eval_env",
    "build_local_env",
    "build_model",
    "build_train_env",
    "load_pretrained_vecnormalize",
    "num_eval_envs",
    "num_train_workers",
    "worker_options",
    "wrap_vec_env",
]


def wrap_vec_env(venv: VecEnv, config: ExperimentConfig, *, training: bool, gamma: float) -> VecEnv:
    """Apply the configured VecNormalize and frame stacking (in rl-baselines3-zoo's order)."""
    vn = config.wrappers.vec_normalize
    if vn.enabled:
        venv = VecNormalize(
            venv,
            training=training,
            norm_obs=vn.norm_obs,
            norm_reward=vn.norm_reward and training,
            clip_obs=vn.clip_obs,
            clip_reward=vn.clip_reward,
            gamma=vn.gamma if vn.gamma is not None else gamma,
            epsilon=vn.epsilon,
        )
    fs = config.wrappers.frame_stack
    if fs.n_stack > 1:
        venv = VecFrameStack(venv, fs.n_stack, channels_order=fs.channels_order)
    return venv


def algorithm_gamma(config: ExperimentConfig) -> float:
    """The discount the algorithm will use (its default when the config does not set one)."""
    algo = resolve_algorithm(config.training.algorithm)
    default = inspect.signature(algo.__init__).parameters.get("gamma")
    fallback = default.default if default is not None and default.default is not inspect.Parameter.empty else 0.99
    return float(config.training.algorithm_parameters.get("gamma", fallback))


def build_train_env(
    config: ExperimentConfig, placement_group: Any, layout: RunLayout, launched: LaunchedWorkers | None = None
) -> VecEnv:
    """The training envs on `num_workers` env-worker actors (`launched`: already started), wrapped as configured."""
    env = config.environment
    factories = train_env_factories(config, layout)
    venv: VecEnv = RayVecEnv(factories, worker_options(config, "train", placement_group, 1), launched=launched)
    venv = wrap_vec_env(venv, config, training=True, gamma=algorithm_gamma(config))
    if env.video_wrapper:
        trigger = env.video_trigger
        venv = VecVideoRecorder(
            venv,
            str(layout.videos_dir),
            record_video_trigger=lambda step: step % trigger == 0,
            video_length=env.video_length,
            name_prefix="train",
        )
    return venv


def build_eval_env(config: ExperimentConfig, placement_group: Any, layout: RunLayout) -> VecEnv:
    """Eval envs on dedicated workers; Monitor off and rewards raw (VecNormalize never updates here)."""
    factories = make_env_factories(
        config.environment,
        num_eval_envs(config),
        monitor=False,
        envs_per_worker=config.workers.eval_envs_per_worker,
        group="eval",
        log_dir=str(layout.unity_dir),
        run_name=layout.root.name,
    )
    offset = 1 + num_train_workers(config)
    venv: VecEnv = RayVecEnv(factories, worker_options(config, "eval", placement_group, offset))
    return wrap_vec_env(venv, config, training=False, gamma=algorithm_gamma(config))


def build_local_env(
    config: ExperimentConfig, num_envs: int = 1, render_mode: str | None = None, log_dir: Path | None = None
) -> VecEnv:
    """Envs in this process (for play and config checks), wrapped like the eval envs.

    Simulator players log to `log_dir` as `play_worker_0.log` (a temporary folder when None).
    """
    factories = make_env_factories(
        config.environment,
        num_envs,
        render_mode=render_mode,
        monitor=False,
        envs_per_worker=num_envs,
        group="play",
        log_dir=None if log_dir is None else str(log_dir),
    )
    venv: VecEnv = DummyVecEnv(list(factories))
    return wrap_vec_env(venv, config, training=False, gamma=algorithm_gamma(config))


def build_model(config: ExperimentConfig, env: VecEnv, device: str, pretrained: Path | None) -> BaseAlgorithm:
    """A new SB3 model from the config, or the pretrained one continuing with this config's hyperparameters."""
    algo = resolve_algorithm(config.training.algorithm)
    params = apply_schedules(dict(config.training.algorithm_parameters))
    policy = params.pop("policy", None) or default_policy(algo, env.observation_space)
    extra = params.pop("policy_kwargs", None)
    policy_kwargs = architecture_policy_kwargs(config.training.architecture, algo, extra)
    common: dict[str, Any] = {"device": device, "seed": config.loop.seed, "verbose": 0}
    if pretrained is not None:
        return algo.load(pretrained, env=env, **common, **params)
    return algo(policy, env, policy_kwargs=policy_kwargs or None, **common, **params)


def load_pretrained_vecnormalize(env: VecEnv, pretrained: Path) -> bool:
    """Give `env`'s VecNormalize the pretrained model's statistics, when it saved some. True if loaded.

    A model played or continued with VecNormalize but without statistics beside it (a zip copied
    alone, an artifact logged before they were included) gets a warning: it sees observations
    normalized by fresh statistics, unlike those it was trained on.
    """
    stats = find_vecnormalize(pretrained)
    target = unwrap_vec_normalize(env)
    if target is None:
        return False
    if stats is None:
        logger.warning(
            "warning: %s has no VecNormalize statistics beside it (looked for %s and %s) but "
            "wrappers.vec_normalize is enabled: it starts from fresh statistics; copy the file from "
            "its run folder beside the zip, or set wrappers.vec_normalize.enabled=false if it was "
            "trained without VecNormalize",
            pretrained,
            vecnormalize_path_for(pretrained).name,
            RunLayout(pretrained.parent).vecnormalize.name,
        )
        return False
    saved = load_vecnormalize_stats(stats)
    target.obs_rms = saved.obs_rms
    target.ret_rms = saved.ret_rms
    return True
