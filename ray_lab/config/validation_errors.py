"""Turn pydantic's ValidationError into one `Problem` per wrong key, with dotted paths and near-miss hints."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Tag, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from ray_lab.config.errors import Problem, did_you_mean

KEYED_ERROR = "config_key"
"""The error type of :func:`keyed_error`: a validator's problem that names the key below it."""


def keyed_error(key: str, message: str) -> PydanticCustomError:
    """An error for a validator to raise about `key` (dotted, below the validated model) rather than the model.

    A cross-field check of a section names the field it blames: `lessons.1.until` under
    `environment.curriculum` is reported as `environment.curriculum.lessons.1.until`.
    """
    return PydanticCustomError(KEYED_ERROR, "{message}", {"key": key, "message": message})


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation such as `X`, `X | None`, or None."""
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _strip(annotation: Any) -> Any:
    """`X` of `Annotated[X, ...]`."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _holds_model(annotation: Any) -> bool:
    """Whether a BaseModel appears anywhere in `annotation` (containers and unions included)."""
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in typing.get_args(annotation))


def _tag(annotation: Any) -> str | None:
    """The discriminator tag of a tagged-union member `Annotated[X, Tag('t')]`."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    return next((meta.tag for meta in annotation.__metadata__ if isinstance(meta, Tag)), None)


def _step(annotation: Any, part: int | str) -> tuple[Any, bool] | None:
    """Where `part` of a location leads inside a container or a tagged union of models.

    Returns the item's annotation and whether `part` is a key of the path (a list index or a dict
    key is; a union's tag is not), or None when `annotation` is neither.
    """
    annotation = _strip(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        tagged = [arg for arg in args if _tag(arg) == part]
        if tagged:
            return typing.get_args(tagged[0])[0], False
        present = [arg for arg in args if arg is not type(None)]
        return _step(present[0], part) if len(present) == 1 else None
    if not _holds_model(annotation):
        return None
    if origin is list and isinstance(part, int):
        return args[0], True
    if origin is dict and isinstance(part, str):
        return args[1], True
    return None


def _walk(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[list[str], type[BaseModel], FieldInfo | None]:
    """Follow `loc` through the schema; return the key path, the last model reached and its field.

    Lists and dicts of models (`lessons.0.until`, `parameters.x`) are followed; a tagged union's tag
    (`parameters.x.uniform.low`) is not part of the key.
    """
    model, path, field = root, [], None
    annotation: Any = root
    for part in loc:
        stepped = _step(annotation, part)
        if stepped is not None:
            annotation, is_key = stepped
            path += [str(part)] if is_key else []
            field = None
            continue
        inner = _model_in(annotation)
        if inner is None:
            break
        model = inner
        if not isinstance(part, str) or part not in model.model_fields:
            path.append(str(part))
            break
        path.append(part)
        field = model.model_fields[part]
        annotation = field.annotation
    return path, model, field


def _type_name(annotation: Any) -> str:
    """A readable type: `int`, `str | None`, `'auto' | 'cpu'`, `list[Lesson]`; a tagged union by its tags."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner = _strip(annotation)
        tags = [_tag(arg) for arg in typing.get_args(inner)]
        return " | ".join(str(t) for t in tags) if tags and all(tags) else _type_name(inner)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(annotation))}]"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and origin is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _expected(message: str) -> str:
    if message.startswith("Input should be "):
        return "expected " + message[len("Input should be ") :]
    return message.removeprefix("Value error, ")


def problems_from_validation(
    error: ValidationError, root: type[BaseModel], source_of: Callable[[str], str]
) -> list[Problem]:
    """One Problem per offending key; several union-branch errors on one key become one line."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    walked: dict[str, tuple[type[BaseModel], FieldInfo | None, str]] = {}
    for err in error.errors():
        path, model, field = _walk(root, tuple(err["loc"]))
        if err["type"] == KEYED_ERROR:  # a validator that names the key below its model
            path += str(err["ctx"]["key"]).split(".")
        key = ".".join(path)
        by_key.setdefault(key, []).append(dict(err))
        walked[key] = (model, field, path[-1] if path else "")
    problems = []
    for key, errs in by_key.items():
        model, field, last = walked[key]
        first = errs[0]
        if first["type"] == "extra_forbidden":
            hint = did_you_mean(last, model.model_fields)
            message = f"unknown key{hint}; allowed here: {', '.join(model.model_fields)}"
        elif len(errs) > 1 and field is not None:
            message = f"expected {_type_name(field.annotation)}, got {first['input']!r}"
        else:
            message = _expected(first["msg"])
            if first["type"] not in ("missing", "value_error", KEYED_ERROR):
                message += f", got {first['input']!r}"
        problems.append(Problem(source_of(key), key, message))
    return problems
