"""Environment parameters and curricula: the typed `environment.parameters` and `environment.curriculum`.

A parameter is a constant or a sampler drawn again at every episode (domain randomisation)::

    parameters:
      target_distance: 2.0                                   # a constant
      success_radius: {sampler: uniform, low: 0.3, high: 0.6}
      max_steps: {sampler: choice, values: [100, 200, 400]}

A curriculum is a list of lessons; each sets parameter values (over `environment.parameters`) and,
except the last, says when it is complete, read from the seeded evaluation rounds::

    curriculum:
      lessons:
        - {name: near, parameters: {target_distance: 1.0}, until: {metric: success_rate, threshold: 0.8, rounds: 2}}
        - {name: far, parameters: {target_distance: {sampler: uniform, low: 2.0, high: 4.0}}}

Sampling lives in :mod:`ray_lab.envs.parameters`; deciding when a lesson is complete in
:mod:`ray_lab.evaluation.curriculum`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, FiniteFloat, Tag, field_validator, model_validator

from ray_lab.config.validation_errors import keyed_error

__all__ = [
    "SAMPLERS",
    "ChoiceSampler",
    "CompletionRule",
    "CurriculumSection",
    "IntUniformSampler",
    "Lesson",
    "LogUniformSampler",
    "NormalSampler",
    "ParameterValue",
    "UniformSampler",
    "check_curriculum_rounds",
    "check_lesson_parameters",
    "check_parameter_names",
    "lesson_tables",
]

PARAMETERS_HELP = (
    "Named values every env receives at each reset as `reset(options={'parameters': {name: value}})` (floats; "
    "also in the reset `info['parameters']`): a number, or a sampler drawn again at every episode: `{sampler: "
    "uniform, low, high}`, `{sampler: log_uniform, low, high}`, `{sampler: normal, mean, std}`, `{sampler: "
    "int_uniform, low, high}` (both included) or `{sampler: choice, values: [...]}`. Draws are reproducible from "
    "`training.training.seed`; a reset with a seed (every evaluation episode) draws from that seed, so evaluation "
    "rounds see the same values in every run (docs/unity.md, Environment parameters)."
)
"""The description of `environment.parameters` (docs/configuration.md)."""

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
"""Parameter names: no dots (they are part of dotted `--set` keys) and no spaces."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class UniformSampler(_Model):
    """A value drawn uniformly from `[low, high)` at every episode."""

    sampler: Literal["uniform"]
    low: float = Field(description="Lower bound (included).")
    high: float = Field(description="Upper bound (excluded); more than `low`.")

    @model_validator(mode="after")
    def _ordered(self) -> UniformSampler:
        if not self.low < self.high:
            raise ValueError(f"uniform needs low < high, got low={self.low:g}, high={self.high:g}")
        return self


class LogUniformSampler(_Model):
    """A value whose logarithm is uniform in `[log(low), log(high))`: scales spread over decades."""

    sampler: Literal["log_uniform"]
    low: float = Field(gt=0, description="Lower bound, more than 0.")
    high: float = Field(gt=0, description="Upper bound, more than `low`.")

    @model_validator(mode="after")
    def _ordered(self) -> LogUniformSampler:
        if not self.low < self.high:
            raise ValueError(f"log_uniform needs 0 < low < high, got low={self.low:g}, high={self.high:g}")
        return self


class NormalSampler(_Model):
    """A value drawn from a normal distribution."""

    sampler: Literal["normal"]
    mean: float = Field(description="Mean.")
    std: float = Field(gt=0, description="Standard deviation, more than 0.")


class IntUniformSampler(_Model):
    """A whole number drawn uniformly from `low, low+1, ..., high` (both included), sent as a float."""

    sampler: Literal["int_uniform"]
    low: int = Field(description="Smallest value.")
    high: int = Field(description="Largest value, at least `low`.")

    @model_validator(mode="after")
    def _ordered(self) -> IntUniformSampler:
        if self.low > self.high:
            raise ValueError(f"int_uniform needs low <= high, got low={self.low}, high={self.high}")
        return self


class ChoiceSampler(_Model):
    """One of `values`, each equally likely."""

    sampler: Literal["choice"]
    values: list[float] = Field(min_length=1, description="The values to choose from (numbers).")


SAMPLERS: dict[str, type[_Model]] = {
    "uniform": UniformSampler,
    "log_uniform": LogUniformSampler,
    "normal": NormalSampler,
    "int_uniform": IntUniformSampler,
    "choice": ChoiceSampler,
}
"""Sampler models by their `sampler:` name."""

_FORMS = (
    "a number, or {sampler: uniform, low, high}, {sampler: log_uniform, low, high}, {sampler: normal, mean, std}, "
    "{sampler: int_uniform, low, high} or {sampler: choice, values: [...]}"
)


def _kind(value: Any) -> str | None:
    """The union tag of a parameter value: `constant` for a number, else its `sampler` name."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return "constant"
    if isinstance(value, BaseModel):
        return str(getattr(value, "sampler", None))
    if isinstance(value, Mapping) and value.get("sampler") in SAMPLERS:
        return str(value["sampler"])
    return None


ParameterValue = Annotated[
    Annotated[FiniteFloat, Tag("constant")]
    | Annotated[UniformSampler, Tag("uniform")]
    | Annotated[LogUniformSampler, Tag("log_uniform")]
    | Annotated[NormalSampler, Tag("normal")]
    | Annotated[IntUniformSampler, Tag("int_uniform")]
    | Annotated[ChoiceSampler, Tag("choice")],
    Discriminator(
        _kind,
        custom_error_type="parameter_value",
        custom_error_message=f"expected {_FORMS}",
    ),
]
"""One parameter: a constant, or a sampler drawn again at every episode."""

ParameterTable = dict[str, ParameterValue]


def check_parameter_names(table: dict[str, Any]) -> dict[str, Any]:
    """A field validator: parameter names are letters, digits, `_` and `-` (no dots: they are part of dotted keys)."""
    bad = [name for name in table if not re.match(NAME_PATTERN, name)]
    if bad:
        raise ValueError(f"parameter names {bad} are not valid: use letters, digits, '_' and '-' (no dots, no spaces)")
    return table


class CompletionRule(_Model):
    """When a lesson is complete: its evaluation rounds reach `threshold` for `rounds` rounds in a row."""

    metric: Literal["success_rate", "mean_return"] = Field(
        description="`success_rate` (the share of evaluation episodes whose final `info['is_success']` is true) "
        "or `mean_return` of each seeded evaluation round (`eval/success_rate`, `eval/mean_return`)."
    )
    threshold: float = Field(description="The lesson is met in a round whose metric is at least this.")
    rounds: int = Field(1, ge=1, description="Consecutive evaluation rounds that must meet the threshold.")

    @field_validator("metric", mode="before")
    @classmethod
    def _short_name(cls, value: Any) -> Any:
        return value.removeprefix("eval/") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _reachable(self) -> CompletionRule:
        if self.metric == "success_rate" and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"a success_rate threshold is between 0 and 1, got {self.threshold:g}")
        return self


class Lesson(_Model):
    """One lesson of a curriculum: its parameter values and when it is complete."""

    name: str = Field(min_length=1, description="Names the lesson in the console and docs.")
    parameters: ParameterTable = Field(default_factory=dict, description="Values over `environment.parameters`.")
    until: CompletionRule | None = Field(None, description="When the lesson is complete; none for the last lesson.")

    _names = field_validator("parameters")(check_parameter_names)


class CurriculumSection(_Model):
    """Lessons run in order; each advances to the next when its evaluation rounds meet its `until` rule."""

    lessons: list[Lesson] = Field(
        min_length=1,
        description="The lessons, in order: each `{name, parameters, until: {metric, threshold, rounds}}`. "
        "`parameters` (constants or samplers) add to or override `environment.parameters` while the lesson "
        "runs; a parameter that is not in `environment.parameters` must be set by every lesson. `until` "
        "reads the seeded evaluation rounds (`metric`: `success_rate` or `mean_return`, `threshold`, "
        "`rounds` in a row, default 1); every lesson but the last has one. Evaluation rounds run the "
        "current lesson. A sweep can tune a threshold: `environment.curriculum.lessons.0.until.threshold`.",
    )

    @model_validator(mode="after")
    def _rules(self) -> CurriculumSection:
        names = [lesson.name for lesson in self.lessons]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise keyed_error("lessons", f"lesson names must be distinct; {twice} appear more than once")
        for i, lesson in enumerate(self.lessons[:-1]):
            if lesson.until is None:
                raise keyed_error(
                    f"lessons.{i}",
                    f"lesson {lesson.name!r} has no `until` rule, so the lessons after it would never run; add "
                    "e.g. until: {metric: success_rate, threshold: 0.8, rounds: 2}",
                )
        last = len(self.lessons) - 1
        if self.lessons[last].until is not None:
            raise keyed_error(
                f"lessons.{last}.until",
                f"the last lesson ({self.lessons[last].name!r}) runs to the end of training; remove its `until` "
                "or add a lesson after it",
            )
        return self


def check_lesson_parameters(parameters: Mapping[str, Any], curriculum: CurriculumSection) -> None:
    """Every lesson must send the same parameter names: a name not in `parameters` is set by every lesson.

    Raises:
        PydanticCustomError (a keyed error): no parameter anywhere, or the first lesson that lacks a
            parameter another lesson sets.
    """
    sets = [set(lesson.parameters) for lesson in curriculum.lessons]
    extra = set().union(*sets) - set(parameters)
    if not parameters and not extra:
        raise keyed_error(
            "curriculum.lessons",
            "no lesson sets a parameter and environment.parameters is empty, so every lesson would be the "
            "same; give the lessons `parameters` (or remove environment.curriculum)",
        )
    for name in sorted(extra):
        missing = [i for i, names in enumerate(sets) if name not in names]
        if missing:
            setters = [curriculum.lessons[i].name for i, names in enumerate(sets) if name in names]
            raise keyed_error(
                f"curriculum.lessons.{missing[0]}.parameters",
                f"{name!r} is set by lesson(s) {setters} but not by {curriculum.lessons[missing[0]].name!r} and has "
                f"no default; add `environment.parameters.{name}: VALUE` or set it in every lesson",
            )


def check_curriculum_rounds(curriculum: CurriculumSection | None, num_evals: int) -> None:
    """A curriculum of several lessons needs evaluation rounds to advance on.

    Raises:
        PydanticCustomError (a keyed error, for the whole config): `num_evals` is 0.
    """
    if curriculum is not None and len(curriculum.lessons) > 1 and num_evals == 0:
        raise keyed_error(
            "environment.curriculum",
            "a curriculum advances on evaluation rounds, but training.training.eval.num_evals is 0; set "
            "training.training.eval.num_evals to 1 or more (or remove environment.curriculum)",
        )


def lesson_tables(parameters: Mapping[str, Any], curriculum: CurriculumSection | None) -> list[dict[str, Any]]:
    """The parameter values of each lesson (`environment.parameters` updated by the lesson's own).

    Without a curriculum, one table: `parameters`. Every table has the same names, in the same order.
    None at all when no parameter is configured anywhere.
    """
    lessons = curriculum.lessons if curriculum is not None else []
    tables = [{**parameters, **lesson.parameters} for lesson in lessons] or [dict(parameters)]
    if not tables[0]:
        return []
    order = list(tables[0])
    return [{name: table[name] for name in order} for table in tables]
