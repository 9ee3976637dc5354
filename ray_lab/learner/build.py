"""Build what a training run needs from its typed config: vector envs on workers, and the model.

The worker counts, options and env -> (worker, slot) come from the training plan
(:mod:`ray_lab.learner.plan`).
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import gymnasium as gym
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
from ray_lab.envs.factory import make_env_factories, with_parameters
from ray_lab.learner.algorithms import default_policy, resolve_algorithm, schedule_parameter_names
from ray_lab.learner.buffers import check_goal_space, resolve_replay_buffer_class
from ray_lab.learner.noise import build_action_noise
from ray_lab.learner.plan import TrainingPlan, WorkerGroupPlan, group_env_factories, train_env_factories
from ray_lab.learner.policy_kwargs import architecture_policy_kwargs
from ray_lab.learner.schedules import apply_schedules
from ray_lab.tracking.artifacts import find_vecnormalize, load_vecnormalize_stats, vecnormalize_path_for
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.workers import RayVecEnv
from ray_lab.workers.assignment import EnvAssignment
from ray_lab.workers.launch import LaunchedWorkers

logger = logging.getLogger(__name__)

__all__ = [
    "algorithm_gamma",
    "build_eval_env",
    "build_local_env",
    "build_model",
    "build_train_env",
    "load_pretrained_vecnormalize",
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
    config: ExperimentConfig,
    plan: TrainingPlan,
    placement_group: Any,
    layout: RunLayout,
    launched: LaunchedWorkers | None = None,
) -> VecEnv:
    """The plan's training envs on their env-worker actors (`launched`: already started), wrapped as configured."""
    env = config.environment
    factories = train_env_factories(config, plan, layout)
    venv: VecEnv = RayVecEnv(factories, plan.train.placed(placement_group), launched=launched)
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


def build_eval_env(config: ExperimentConfig, group: WorkerGroupPlan, placement_group: Any, layout: RunLayout) -> VecEnv:
    """The plan's eval envs on their workers; Monitor off and rewards raw (VecNormalize never updates here)."""
    factories = group_env_factories(config, group, layout)
    venv: VecEnv = RayVecEnv(factories, group.placed(placement_group))
    return wrap_vec_env(venv, config, training=False, gamma=algorithm_gamma(config))


def build_local_env(
    config: ExperimentConfig, num_envs: int = 1, render_mode: str | None = None, log_dir: Path | None = None
) -> VecEnv:
    """Envs in this process (for play and config checks), wrapped like the eval envs.

    They count as one worker's slots; simulator players log to `log_dir` as `play_worker_0.log`
    (a temporary folder when None).
    """
    factories = make_env_factories(
        config.environment,
        EnvAssignment(num_envs, num_envs),
        render_mode=render_mode,
        monitor=False,
        group="play",
        log_dir=None if log_dir is None else str(log_dir),
    )
    factories = with_parameters(factories, config.environment, config.loop.seed, "eval", lesson=-1)  # the last lesson
    venv: VecEnv = DummyVecEnv(list(factories))
    return wrap_vec_env(venv, config, training=False, gamma=algorithm_gamma(config))


def build_model(config: ExperimentConfig, env: VecEnv, device: str, pretrained: Path | None) -> BaseAlgorithm:
    """A new SB3 model from the config, or the pretrained one continuing with this config's hyperparameters."""
    algo = resolve_algorithm(config.training.algorithm)
    params = object_parameters(
        apply_schedules(dict(config.training.algorithm_parameters), schedule_parameter_names(algo)), env
    )
    policy = params.pop("policy", None) or default_policy(algo, env.observation_space)
    extra = params.pop("policy_kwargs", None)
    policy_kwargs = architecture_policy_kwargs(config.training.architecture, algo, extra)
    common: dict[str, Any] = {"device": device, "seed": config.loop.seed, "verbose": 0}
    if pretrained is not None:
        return algo.load(pretrained, env=env, **common, **params)
    return algo(policy, env, policy_kwargs=policy_kwargs or None, **common, **params)


def object_parameters(params: dict[str, Any], env: VecEnv | gym.Env) -> dict[str, Any]:
    """``params`` with the YAML forms of object hyperparameters (checked when the config loaded) made into
    objects: ``action_noise`` sized to the env's action space, ``replay_buffer_class`` by name to the class."""
    if params.get("action_noise") is not None:
        params["action_noise"] = build_action_noise(params["action_noise"], env.action_space)
    if params.get("replay_buffer_class") is not None:
        params["replay_buffer_class"] = resolve_replay_buffer_class(params["replay_buffer_class"])
        check_goal_space(params["replay_buffer_class"], env.observation_space)
    return params


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
