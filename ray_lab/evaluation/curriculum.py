"""The curriculum's progress: which lesson runs, and when it is complete, read from seeded evaluation rounds.

Evaluation rounds run the current lesson on the fixed eval seeds. After each round the lesson's
`until` rule is checked: a round whose `eval/<metric>` is at least the threshold counts, one that is
not starts the count again, and `rounds` counted rounds in a row complete the lesson. The next lesson
then reaches every train env at its next reset and every eval env before the next round.

The position (lesson, rounds met) goes into every checkpoint and every `evaluations.csv` row, so a
resumed run starts in the lesson it had reached (:class:`~ray_lab.evaluation.callback.EvalHistory`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ray_lab.config.parameters import CompletionRule, CurriculumSection
from ray_lab.evaluation.seeded import EpisodeResults

__all__ = ["CURRICULUM_FIELDS", "LESSON_KEY", "Curriculum", "LessonPosition", "RoundVerdict"]

logger = logging.getLogger(__name__)

LESSON_KEY = "curriculum/lesson"
"""The lesson index in progress.csv, TensorBoard, W&B and `evaluations.csv` (0 is the first lesson)."""
ROUNDS_MET_KEY = "curriculum/rounds_met"
COMPLETED_KEY = "curriculum/completed"
CURRICULUM_FIELDS = [LESSON_KEY, ROUNDS_MET_KEY, COMPLETED_KEY]
"""The `evaluations.csv` columns of a run with a curriculum: the lesson the round ran, the rounds in a row that
met its rule so far (this one included), and 1 when this round completed it (the next round runs the next)."""


@dataclass(frozen=True)
class LessonPosition:
    """Where a curriculum stands: the lesson that runs, and how many rounds in a row met its rule so far."""

    lesson: int = 0
    rounds_met: int = 0


@dataclass(frozen=True)
class RoundVerdict:
    """What one evaluation round meant for its lesson."""

    lesson: int
    value: float | None  # the round's metric (None: the episodes reported no `is_success`)
    rounds_met: int
    completed: bool

    def row(self) -> dict[str, int]:
        """The round's `evaluations.csv` columns."""
        return {LESSON_KEY: self.lesson, ROUNDS_MET_KEY: self.rounds_met, COMPLETED_KEY: int(self.completed)}


def _metric(results: EpisodeResults, rule: CompletionRule) -> float | None:
    return results.success_rate if rule.metric == "success_rate" else results.mean_return


class Curriculum:
    """The lessons of `environment.curriculum` and the position in them; :meth:`observe` sees each round."""

    def __init__(self, section: CurriculumSection, position: LessonPosition | None = None) -> None:
        self.lessons = list(section.lessons)
        start = position or LessonPosition()
        if not 0 <= start.lesson < len(self.lessons):
            raise ValueError(f"lesson {start.lesson} is not one of the {len(self.lessons)} lessons")
        self.lesson = start.lesson
        self.rounds_met = start.rounds_met
        self._warned_no_success = False

    @property
    def position(self) -> LessonPosition:
        """The current position (what a checkpoint saves)."""
        return LessonPosition(self.lesson, self.rounds_met)

    @property
    def name(self) -> str:
        """The current lesson's name."""
        return self.lessons[self.lesson].name

    def observe(self, results: EpisodeResults) -> RoundVerdict:
        """Count a round of the current lesson; move to the next lesson when the round completes it."""
        lesson, rule = self.lesson, self.lessons[self.lesson].until
        if rule is None:  # the last lesson: nothing follows
            return RoundVerdict(lesson, None, 0, False)
        value = _metric(results, rule)
        if value is None:
            self._warn_no_success()
        met = value is not None and value >= rule.threshold
        self.rounds_met = self.rounds_met + 1 if met else 0
        verdict = RoundVerdict(lesson, value, self.rounds_met, self.rounds_met >= rule.rounds)
        if verdict.completed:
            self.lesson, self.rounds_met = lesson + 1, 0
        return verdict

    def describe(self, verdict: RoundVerdict, timesteps: int) -> str:
        """The console line of a completed lesson."""
        done = self.lessons[verdict.lesson]
        rule, value = done.until, verdict.value
        if rule is None or value is None:
            raise ValueError(f"round verdict {verdict} did not complete lesson {done.name!r}")
        rounds = f"{rule.rounds} round{'s' if rule.rounds > 1 else ''} in a row"
        return (
            f"Curriculum: lesson {verdict.lesson} '{done.name}' completed at {timesteps} timesteps "
            f"(eval/{rule.metric} {value:.4g} >= {rule.threshold:g}, {rounds}); "
            f"now lesson {self.lesson} '{self.name}' ({self.lesson + 1} of {len(self.lessons)})"
        )

    def _warn_no_success(self) -> None:
        if not self._warned_no_success:
            self._warned_no_success = True
            logger.warning(
                "curriculum lesson %r waits for eval/success_rate, but the evaluation episodes report no "
                "info['is_success']; it cannot complete (use metric: mean_return, or report is_success)",
                self.name,
            )
