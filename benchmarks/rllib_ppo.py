"""RLlib PPO on ``CartPole-v1`` (new API stack), the RLlib baseline of ``bench_throughput.py`` section F.

The same batch and update schedule as ray-lab's embedded default: 8 envs x 32 steps = 256 steps per
iteration, one minibatch of 256, 20 epochs, lr 1e-3 (constant), gamma 0.98, GAE lambda 0.8, clip 0.2,
value-loss coefficient 0.5, gradient norm 0.5, no entropy bonus, [64, 64] tanh networks. The 8 envs
sit in ``--env-runners`` remote env runners (0: in this process); the learner runs in this process.
``algo.train()`` is called until ``--steps`` env steps were sampled. Ray starts locally with 2 CPUs,
loopback only, in ``--ray-temp-dir``. The last line printed is ``RESULT {json}``. Run::

    .venv/bin/python benchmarks/rllib_ppo.py --steps 100000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME


def ppo_config(env_runners: int) -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=env_runners, num_envs_per_env_runner=8, rollout_fragment_length=32)
        .training(
            train_batch_size_per_learner=256,
            minibatch_size=256,
            num_epochs=20,
            lr=1e-3,
            gamma=0.98,
            lambda_=0.8,
            clip_param=0.2,
            vf_loss_coeff=0.5,
            entropy_coeff=0.0,
            grad_clip=0.5,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh"))
        .debugging(seed=0)
    )


def sampled(result: dict[str, Any]) -> int:
    """Env steps sampled so far (``result["env_runners"]["num_env_steps_sampled_lifetime"]`` in Ray 2.60)."""
    runners = result.get(ENV_RUNNER_RESULTS, {})
    if NUM_ENV_STEPS_SAMPLED_LIFETIME not in runners:
        raise KeyError(f"no {ENV_RUNNER_RESULTS}/{NUM_ENV_STEPS_SAMPLED_LIFETIME} in the result: {sorted(result)}")
    return int(runners[NUM_ENV_STEPS_SAMPLED_LIFETIME])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="env steps to sample")
    parser.add_argument("--env-runners", type=int, default=1, help="remote env runners (0: sample in this process)")
    parser.add_argument("--ray-temp-dir", default=None, help="Ray's temporary folder (default: a new one in /tmp)")
    args = parser.parse_args()
    temp_dir = args.ray_temp_dir or tempfile.mkdtemp(prefix="rl_rllib_", dir="/tmp")
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, _temp_dir=temp_dir)
    try:
        algo = ppo_config(args.env_runners).build_algo()
        start, steps, iterations = time.perf_counter(), 0, 0
        while steps < args.steps:
            steps = sampled(algo.train())
            iterations += 1
        train_s = time.perf_counter() - start
        algo.stop()
    finally:
        ray.shutdown()
    result = {"timesteps": steps, "iterations": iterations, "train_s": round(train_s, 2)}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
