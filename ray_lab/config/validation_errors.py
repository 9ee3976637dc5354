"""Turn pydantic's ValidationError into one `Problem` per wrong key, with dotted paths and near-miss hints."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from ray_lab.config.errors import Problem, did_you_mean


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation such as `X`, `X | None`, or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _walk(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[list[str], type[BaseModel], FieldInfo | None]:
    """Follow `loc` through the schema; return the field path, the last model reached and its field."""
    model, path, field = root, [], None
    for part in loc:
        if field is not None:
            inner = _model_in(field.annotation)
            if inner is None:
                break
            model, field = inner, None
        if not isinstance(part, str) or part not in model.model_fields:
            path.append(str(part))
            break
        path.append(part)
        field = model.model_fields[part]
    return path, model, field


def _type_name(annotation: Any) -> str:
    """A readable type: `int`, `str | None`, `'auto' | 'cpu'`."""
    origin = typing.get_origin(annotation)
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
            if first["type"] not in ("missing", "value_error"):
                message += f", got {first['input']!r}"
        problems.append(Problem(source_of(key), key, message))
    return problems
