"""`environment.wrappers`: gymnasium wrappers from YAML, checked when the config loads.

Each entry is `{class: NAME, kwargs: {...}}`. `NAME` is a name that `gymnasium.wrappers` exports
(`TimeLimit`, `ClipAction`, `AtariPreprocessing`, ...) or any class by dotted path
(`package.module:Class` or `package.module.Class`); the class must subclass `gymnasium.Wrapper` and
accept `kwargs` after its env argument. Checking imports gymnasium (and the named module) only,
never Stable-Baselines3 or torch. Env workers build the wrappers with :func:`apply_wrappers`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ray_lab.config.errors import did_you_mean
from ray_lab.config.validation_errors import keyed_error

if TYPE_CHECKING:
    import gymnasium as gym

WRAPPER_KEYS = ("class", "kwargs")

WRAPPERS_HELP = (
    "Gymnasium wrappers around each env, built on its worker, as a list of `{class: NAME, kwargs: {...}}` "
    "applied in order (the first wraps the env itself). `NAME`: a `gymnasium.wrappers` name (`TimeLimit`, "
    "`ClipAction`, `NormalizeReward`, `AtariPreprocessing`, ...) or a `gymnasium.Wrapper` subclass by dotted "
    "path `package.module:Class`; `kwargs` are checked against its signature at load. They sit inside "
    "environment parameters and the `monitor`, so episode statistics see the wrapped episodes (e.g. "
    "`TimeLimit`-truncated lengths). Simulator envs (`environment.unity`) step split-phase only through "
    "wrappers that pass actions through unchanged (observation and reward wrappers, `TimeLimit`, "
    "`RecordEpisodeStatistics`); a wrapper that overrides `step` makes its env step alone, and is an "
    "error for multi-agent players (`unity.agents_per_instance` > 1)."
)


class WrapperSpec(BaseModel):
    """One env wrapper: its class and keyword arguments (`environment.wrappers` items)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_alias=True, validate_by_name=True, serialize_by_alias=True
    )

    class_: str = Field(alias="class", min_length=1, description="A `gymnasium.wrappers` name or a dotted path.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments after the env.")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Unknown keys named with the YAML spelling (`class`, not the attribute `class_`)."""
        if isinstance(data, dict):
            for key in data:
                if key not in (*WRAPPER_KEYS, "class_"):
                    raise keyed_error(
                        str(key), f"unknown key{did_you_mean(str(key), WRAPPER_KEYS)}; allowed here: class, kwargs"
                    )
        return data

    @model_validator(mode="after")
    def _resolvable(self) -> WrapperSpec:
        try:
            wrapper = resolve_wrapper(self.class_)
        except ValueError as exc:
            raise keyed_error("class", str(exc)) from None
        problem = kwargs_problem(wrapper, self.kwargs)
        if problem is not None:
            raise keyed_error("kwargs", problem)
        return self

    def records_episodes(self) -> bool:
        """Whether this is gymnasium's `RecordEpisodeStatistics` (or a subclass), as `environment.monitor` is."""
        from gymnasium.wrappers import RecordEpisodeStatistics

        return issubclass(resolve_wrapper(self.class_), RecordEpisodeStatistics)

    def build(self, env: gym.Env) -> gym.Env:
        """`env` in this wrapper."""
        wrapped: gym.Env = resolve_wrapper(self.class_)(env, **self.kwargs)
        return wrapped


def gymnasium_wrapper_names() -> list[str]:
    """The names `gymnasium.wrappers` exports (some need optional packages to import)."""
    import gymnasium.wrappers

    return [name for name in gymnasium.wrappers.__all__ if name != "vector"]


def resolve_wrapper(name: str) -> type[gym.Wrapper]:
    """The wrapper class `name` names; ValueError saying what is wrong (with a did-you-mean) otherwise."""
    name = name.strip()
    found = _import_dotted(name) if ":" in name or "." in name else _gymnasium_wrapper(name)
    return _check_wrapper(found, name)


def _gymnasium_wrapper(name: str) -> object:
    import gymnasium.wrappers

    names = gymnasium_wrapper_names()
    if name not in names:
        raise ValueError(
            f"unknown gymnasium wrapper {name!r}{did_you_mean(name, names)}; use a `gymnasium.wrappers` "
            "name or a dotted path `package.module:Class`"
        )
    try:
        return getattr(gymnasium.wrappers, name)
    except ImportError as exc:  # e.g. JaxToNumpy without its optional packages
        raise ValueError(f"gymnasium wrapper {name!r} needs a package that is not installed: {exc}") from None


def _import_dotted(path: str) -> object:
    if ":" in path:
        module_name, _, attribute = path.partition(":")
    else:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"wrapper path {path!r} must look like 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise ValueError(f"cannot import module {module_name!r} of wrapper {path!r}: {why}") from None
    found: object = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            public = [n for n in vars(module) if not n.startswith("_")]
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}{did_you_mean(attribute, public)}")
        found = getattr(found, part)
    return found


def _check_wrapper(found: object, name: str) -> type[gym.Wrapper]:
    import gymnasium as gym

    if not (inspect.isclass(found) and issubclass(found, gym.Wrapper)):
        what = f"class {found.__module__}.{found.__qualname__}" if inspect.isclass(found) else repr(found)
        raise ValueError(f"{name!r} is {what}, not a gymnasium.Wrapper subclass")
    return found


def kwargs_problem(wrapper: type[gym.Wrapper], kwargs: dict[str, Any]) -> str | None:
    """What is wrong with `wrapper(env, **kwargs)`'s arguments (missing or unknown), or None."""
    try:
        params = list(inspect.signature(wrapper).parameters.values())[1:]  # after the env
    except (TypeError, ValueError):  # no signature to check against
        return None
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        unknown = [k for k in kwargs if k not in named]
        if unknown:
            return _unknown(wrapper, unknown[0], named)
    missing = [p.name for p in params if p.name in named and p.default is p.empty and p.name not in kwargs]
    if missing:
        return f"{wrapper.__name__} needs {_listing(missing)} (add to kwargs)"
    return None


def _unknown(wrapper: type[gym.Wrapper], key: str, named: Sequence[str]) -> str:
    accepted = ", ".join(named) if named else "none"
    return f"{wrapper.__name__} takes no argument {key!r}{did_you_mean(key, named)}; it accepts: {accepted}"


def _listing(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def apply_wrappers(env: gym.Env, wrappers: Sequence[WrapperSpec]) -> gym.Env:
    """`env` in each of `wrappers`, the first innermost."""
    for spec in wrappers:
        env = spec.build(env)
    return env
