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

from ray_lab.envs.parameters import apply_lesson
from ray_lab.evaluation.curriculum import CURRICULUM_FIELDS, LESSON_KEY, Curriculum, LessonPosition, RoundVerdict
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
    """The evaluation rounds a run has done so far: how many, the best mean return, the last round's timesteps.

    With a curriculum, also where it stands after them (`lesson`, `rounds_met`: a
    :class:`~ray_lab.evaluation.curriculum.LessonPosition`); the best mean return is then the best
    round of that lesson (a later lesson's rounds replace an earlier lesson's best).
    """

    rounds: int = 0
    best_mean_return: float = float("-inf")
    last_timesteps: int = 0
    lesson: int = 0
    rounds_met: int = 0

    @property
    def position(self) -> LessonPosition:
        """The curriculum's position after these rounds."""
        return LessonPosition(self.lesson, self.rounds_met)

    def merged(self, other: EvalHistory) -> EvalHistory:
        """The later of two records of the same run (e.g. `evaluations.csv` and a checkpoint's state).

        The curriculum position is the later record's (the one with more rounds; `other` on a tie).
        """
        later = other if other.rounds >= self.rounds else self
        bests = [h.best_mean_return for h in (self, other) if h.lesson == later.lesson]
        return EvalHistory(
            max(self.rounds, other.rounds),
            max(bests),
            max(self.last_timesteps, other.last_timesteps),
            later.lesson,
            later.rounds_met,
        )


def _position_after(row: dict[str, str], before: LessonPosition) -> LessonPosition:
    """The curriculum position after an `evaluations.csv` row (`before` when the row has no curriculum columns)."""
    try:
        lesson, met, completed = (int(row[key]) for key in CURRICULUM_FIELDS)
    except (KeyError, TypeError, ValueError):
        return before
    return LessonPosition(lesson + 1, 0) if completed else LessonPosition(lesson, met)


def read_eval_history(evaluations_csv: Path) -> EvalHistory:
    """What `evaluations.csv` records (an empty history when there is no file yet)."""
    if not evaluations_csv.is_file():
        return EvalHistory()
    rounds, last, position = 0, 0, LessonPosition()
    bests: dict[int, float] = {}  # per lesson
    with evaluations_csv.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            try:
                rounds = max(rounds, int(row["round"]))
                last = max(last, int(row["timesteps"]))
                value = float(row["mean_return"])
            except (KeyError, TypeError, ValueError):  # a row cut short by a crash
                continue
            if not math.isnan(value):
                bests[position.lesson] = max(bests.get(position.lesson, float("-inf")), value)
            position = _position_after(row, position)
    best = bests.get(position.lesson, float("-inf"))
    return EvalHistory(rounds, best, last, position.lesson, position.rounds_met)


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
    With a `curriculum`, each round runs its current lesson, and a round that completes the lesson
    moves the training envs to the next one (`evaluations.csv` gets the curriculum columns).
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
        curriculum: Curriculum | None = None,
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
        self.curriculum = curriculum
        self._fields = EVALUATION_FIELDS + (CURRICULUM_FIELDS if curriculum is not None else [])
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
        position = self.curriculum.position if self.curriculum is not None else LessonPosition()
        return EvalHistory(
            self.round_number, self.best_mean_return, self._last_timesteps, position.lesson, position.rounds_met
        )

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
        if self.curriculum is not None:  # every round, also after a restarted worker rebuilt its envs
            apply_lesson(self.eval_env, self.curriculum.lesson)
        results = run_seeded_episodes(self.model, self.eval_env, self.seed, self.num_episodes, self.deterministic)
        verdict = self.curriculum.observe(results) if self.curriculum is not None else None
        self.rounds_done = max(self.rounds_done + 1, sum(p <= self.num_timesteps for p in self.points))
        self._last_timesteps = int(self.num_timesteps)
        self._write_row(results, verdict)
        self._record(results, verdict)
        if results.mean_return > self.best_mean_return:
            self.best_mean_return = results.mean_return
            save_model(self.model, self.best_model_zip, self.training_env)
        if verdict is not None and verdict.completed:
            self._next_lesson(verdict)
        if self.on_round is not None:
            self.on_round(self.num_timesteps, results)
        return results

    def _next_lesson(self, verdict: RoundVerdict) -> None:
        """The training envs draw from the next lesson from their next reset on; its rounds start a new best."""
        if self.curriculum is None:
            return
        apply_lesson(self.training_env, self.curriculum.lesson)
        self.best_mean_return = float("-inf")
        print(self.curriculum.describe(verdict, self.num_timesteps), flush=True)

    def _write_row(self, results: EpisodeResults, verdict: RoundVerdict | None) -> None:
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
            **(verdict.row() if verdict is not None else {}),
        }
        append_csv_row(self.evaluations_csv, row, self._fields)

    def _record(self, results: EpisodeResults, verdict: RoundVerdict | None) -> None:
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
        if verdict is not None:
            self.logger.record(LESSON_KEY, verdict.lesson)
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)
