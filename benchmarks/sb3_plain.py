"""Plain Stable-Baselines3 training (no Ray, no ray-lab): the baselines of ``bench_throughput.py`` F and G.

- ``ppo``: PPO on ``CartPole-v1`` x 8 with rl-baselines3-zoo's hyperparameters, exactly those of
  ray-lab's embedded default (``ray_lab/defaults/quickstart.yaml``; SB3's default ``MlpPolicy``,
  i.e. separate [64, 64] Tanh policy and value networks);
- ``sac``: SAC on ``Pendulum-v1`` x 1 with the hyperparameters of ``configs/pendulum_sac.yaml``.

Both use ``make_vec_env`` (envs wrapped in ``Monitor``), seed 0, device ``auto``. ``--eval-rounds N``
runs SB3's ``EvalCallback`` N times, evenly spread (``--eval-episodes`` deterministic episodes each,
on one extra env), as ray-lab's config does its seeded rounds, so both do the same work; the model is
saved at the end. The last line printed is ``RESULT {json}``. Run (from the repository root)::

    .venv/bin/python benchmarks/sb3_plain.py ppo --vec subproc --steps 100000 --eval-rounds 1
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv


def linear(start: float) -> Callable[[float], float]:
    """rl-zoo's ``lin_<start>``: ``start`` at the beginning of training, 0 at the end."""

    def schedule(progress_remaining: float) -> float:
        return start * progress_remaining

    return schedule


def build(algo: str, vec: str) -> BaseAlgorithm:
    vec_cls = SubprocVecEnv if vec == "subproc" else DummyVecEnv
    if algo == "ppo":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=0, vec_env_cls=vec_cls)
        return PPO(
            "MlpPolicy",
            env,
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
            seed=0,
            verbose=0,
        )
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0, vec_env_cls=vec_cls)
    return SAC(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        learning_starts=1000,
        batch_size=256,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs={"net_arch": {"pi": [256, 256], "qf": [256, 256]}},
        seed=0,
        verbose=0,
    )


def evaluation(algo: str, model: BaseAlgorithm, steps: int, rounds: int, episodes: int) -> EvalCallback | None:
    """SB3's EvalCallback running ``rounds`` evenly spread rounds (None for none)."""
    if rounds <= 0:
        return None
    env_id = "CartPole-v1" if algo == "ppo" else "Pendulum-v1"
    eval_env = make_vec_env(env_id, n_envs=1, seed=1000)
    every = max(1, steps // rounds // model.n_envs)  # EvalCallback counts vector steps
    return EvalCallback(eval_env, n_eval_episodes=episodes, eval_freq=every, deterministic=True, verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("algo", choices=["ppo", "sac"])
    parser.add_argument("--vec", choices=["dummy", "subproc"], default="dummy", help="SB3 vectorization")
    parser.add_argument("--steps", type=int, default=None, help="total timesteps (ppo: 100000, sac: 20000)")
    parser.add_argument("--eval-rounds", type=int, default=0, help="EvalCallback rounds spread over training")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation round")
    parser.add_argument("--save", default=None, help="save the final model here (.zip)")
    args = parser.parse_args()
    steps = args.steps or (100_000 if args.algo == "ppo" else 20_000)
    model = build(args.algo, args.vec)
    start = time.perf_counter()
    callback = evaluation(args.algo, model, steps, args.eval_rounds, args.eval_episodes)
    model.learn(total_timesteps=steps, callback=callback)
    if args.save:
        model.save(args.save)
    learn_s = time.perf_counter() - start
    model.get_env().close()  # type: ignore[union-attr]
    result = {"timesteps": int(model.num_timesteps), "learn_s": round(learn_s, 2), "device": str(model.device)}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
