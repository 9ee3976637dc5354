"""Seeded evaluation rounds during training: metrics, `evaluations.csv`, and `best_model.zip`."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize

from ray_lab.evaluation.seeded import EpisodeResults, run_seeded_episodes
from ray_lab.tracking.artifacts import save_model
from ray_lab.tracking.atomic import append_csv_row

EVALUATION_FIELDS = [
    "round",
    "timesteps",
    "mean_return",
    "std_return",
    "mean_length",
    "std_length",
    "num_episodes",
    "seeds",
    "returns",
    "wall_time_s",
    "success_rate",
    "replays",
    "cut_episodes",
]


def evaluation_points(total_timesteps: int, num_evals: int) -> list[int]:
    """Timesteps at which rounds run: `num_evals` points spread evenly, the last at `total_timesteps`."""
    return [round(total_timesteps * k / num_evals) for k in range(1, num_evals + 1)]


@dataclass(frozen=True)
class EvalHistory:
    """The evaluation rounds a run has done so far: how many, the best mean return, the last round's timesteps."""

    rounds: int = 0
    best_mean_return: float = float("-inf")
    last_timesteps: int = 0

    def merged(self, other: EvalHistory) -> EvalHistory:
        """The later of two records of the same run (e.g. `evaluations.csv` and a checkpoint's state)."""
        return EvalHistory(
            max(self.rounds, other.rounds),
            max(self.best_mean_return, other.best_mean_return),
            max(self.last_timesteps, other.last_timesteps),
        )


def read_eval_history(evaluations_csv: Path) -> EvalHistory:
    """What `evaluations.csv` records (an empty history when there is no file yet)."""
    if not evaluations_csv.is_file():
        return EvalHistory()
    rounds, best, last = 0, float("-inf"), 0
    with evaluations_csv.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            try:
                rounds = max(rounds, int(row["round"]))
                last = max(last, int(row["timesteps"]))
                value = float(row["mean_return"])
            except (KeyError, TypeError, ValueError):  # a row cut short by a crash
                continue
            if not math.isnan(value):
                best = max(best, value)
    return EvalHistory(rounds, best, last)


def copy_normalization(source: VecEnv, target: VecEnv) -> None:
    """Give `target`'s VecNormalize the observation statistics of `source`'s, wherever each sits in its stack.

    (SB3's `sync_envs_normalization` needs identical wrapper stacks; the training envs may also have
    a video recorder.)
    """
    src, dst = unwrap_vec_normalize(source), unwrap_vec_normalize(target)
    if src is not None and dst is not None:
        dst.obs_rms = deepcopy(src.obs_rms)
        dst.ret_rms = deepcopy(src.ret_rms)


class SeededEvalCallback(BaseCallback):
    """Runs a seeded evaluation round at each evaluation point and keeps the best model.

    Every round plays episodes seeded `seed, seed+1, ...`, so returns are comparable between
    rounds and between runs. `eval_env` may still be starting (a `Future`): the first round waits for it.
    A resumed run passes its `history`: round numbers and the best mean return continue from there.
    """

    def __init__(
        self,
        eval_env: VecEnv | Future[VecEnv],
        *,
        points: list[int],
        seed: int,
        num_episodes: int,
        deterministic: bool,
        evaluations_csv: Path,
        best_model_zip: Path,
        on_round: Callable[[int, EpisodeResults], None] | None = None,
        history: EvalHistory | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self._eval_env = eval_env
        self.points = list(points)
        self.seed = seed
        self.num_episodes = num_episodes
        self.deterministic = deterministic
        self.evaluations_csv = evaluations_csv
        self.best_model_zip = best_model_zip
        self.on_round = on_round
        self.rounds_done = 0  # of `points`, in this session
        self.rounds_before = history.rounds if history is not None else 0
        self.best_mean_return = history.best_mean_return if history is not None else float("-inf")
        self._last_timesteps = history.last_timesteps if history is not None else 0
        self._start = time.monotonic()

    @property
    def eval_env(self) -> VecEnv:
        """The eval envs (waits for them the first time when they are still starting)."""
        if isinstance(self._eval_env, Future):
            self._eval_env = self._eval_env.result()
        return self._eval_env

    @property
    def round_number(self) -> int:
        """The number of the latest round in the whole run (`evaluations.csv`'s `round`)."""
        return self.rounds_before + self.rounds_done

    @property
    def best(self) -> float | None:
        """The best mean return of the whole run so far; None before the first round."""
        return None if self.best_mean_return == float("-inf") else self.best_mean_return

    @property
    def history(self) -> EvalHistory:
        """The whole run's rounds so far (what a checkpoint saves)."""
        return EvalHistory(self.round_number, self.best_mean_return, self._last_timesteps)

    def _on_step(self) -> bool:
        if self.rounds_done < len(self.points) and self.num_timesteps >= self.points[self.rounds_done]:
            self.evaluate()
        return True

    def finish(self) -> None:
        """Run the rounds not reached yet (training may stop a little short of a point)."""
        if self.rounds_done < len(self.points):
            self.evaluate()

    def evaluate(self) -> EpisodeResults:
        """Run one round now, log it everywhere, and keep the model when it is the best so far."""
        copy_normalization(self.training_env, self.eval_env)
        results = run_seeded_episodes(self.model, self.eval_env, self.seed, self.num_episodes, self.deterministic)
        self.rounds_done = max(self.rounds_done + 1, sum(p <= self.num_timesteps for p in self.points))
        self._last_timesteps = int(self.num_timesteps)
        self._write_row(results)
        self._record(results)
        if results.mean_return > self.best_mean_return:
            self.best_mean_return = results.mean_return
            save_model(self.model, self.best_model_zip, self.training_env)
        if self.on_round is not None:
            self.on_round(self.num_timesteps, results)
        return results

    def _write_row(self, results: EpisodeResults) -> None:
        row = {
            "round": self.round_number,
            "timesteps": self.num_timesteps,
            "mean_return": results.mean_return,
            "std_return": results.std_return,
            "mean_length": results.mean_length,
            "std_length": results.std_length,
            "num_episodes": len(results.returns),
            "seeds": ";".join(str(s) for s in results.seeds),
            "returns": ";".join(f"{r:.6g}" for r in results.returns),
            "wall_time_s": round(time.monotonic() - self._start, 3),
            "success_rate": "" if results.success_rate is None else results.success_rate,
            "replays": results.replays,
            "cut_episodes": results.cut,
        }
        append_csv_row(self.evaluations_csv, row, EVALUATION_FIELDS)

    def _record(self, results: EpisodeResults) -> None:
        self.logger.record("eval/mean_return", results.mean_return)
        self.logger.record("eval/std_return", results.std_return)
        self.logger.record("eval/mean_ep_length", results.mean_length)
        self.logger.record("eval/std_ep_length", results.std_length)
        self.logger.record("eval/round", self.round_number)
        self.logger.record("eval/replays", results.replays)
        self.logger.record("eval/cut_episodes", results.cut)
        if results.success_rate is not None:
            self.logger.record("eval/success_rate", results.success_rate)
        self.logger.record("eval/best_mean_return", max(self.best_mean_return, results.mean_return))
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)
