"""Read a YAML experiment config, apply `--set` overrides, and validate it against the schema.

This is the leaf: it imports nothing above `ray_lab.config`. The checks that need Stable-Baselines3,
torch or the simulators, and the one entry point that runs them all, are in
:mod:`ray_lab.learner.experiment` (`load_experiment`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ray_lab.config.errors import ConfigError, Problem, did_you_mean
from ray_lab.config.schema import ExperimentConfig
from ray_lab.config.seed_sections import lift_seed_sections
from ray_lab.config.validation_errors import problems_from_validation

OVERRIDE_SOURCE = "--set"


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping; every failure is a ConfigError naming the file."""
    source = str(path)
    if not path.is_file():
        raise ConfigError.single(source, "", f"config file not found (looked at {path.resolve()})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError.single(where, "", f"YAML syntax error: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(source, "", f"cannot read the file: {exc}") from None
    if data is None:
        raise ConfigError.single(
            source,
            "",
            "the file is empty (or holds only comments), so there is nothing to run: write its sections "
            "(docs/configuration.md; sweeps: docs/sweeps.md). "
            "`ray-lab train` without --config runs the embedded default",
        )
    if not isinstance(data, dict):
        found = f"{type(data).__name__} {data!r}"[:80]
        raise ConfigError.single(
            source, "", f"expected a mapping of sections at the top (`environment:`, `training:`, ...), got {found}"
        )
    return data


def none_strings_to_null(value: Any) -> Any:
    """The seed pipeline wrote `'None'` for null; treat that string as null everywhere."""
    if isinstance(value, dict):
        return {k: none_strings_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [none_strings_to_null(v) for v in value]
    return None if value == "None" else value


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` → (['a', 'b', 'c'], value parsed as YAML, so `3`, `true`, `[64, 64]` get their types)."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError.single(
            OVERRIDE_SOURCE, text, "expected KEY=VALUE with a dotted key, e.g. workers.num_workers=4"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError.single(OVERRIDE_SOURCE, key, f"value {raw!r} is not valid YAML: {exc}") from None
    return parts, value


def set_dotted(data: dict[str, Any], key: str, value: Any, source: str = OVERRIDE_SOURCE) -> None:
    """Set `a.b.c` in nested dicts, creating missing sections: the one setter of `--set` and sweeps.

    A part that meets a list is an index into it: `environment.curriculum.lessons.0.until.threshold`.
    `value` is deep-copied, and the seed's `'None'` strings in it become null.

    Raises:
        ConfigError: a part of the key names a value rather than a section, or is no index of a
            list it meets (reported under `source`).
    """
    parts = key.split(".")
    node: dict[str, Any] | list[Any] = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            child = node[_list_index(node, parts, i, source)]
        else:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
        if not isinstance(child, dict | list):
            where = ".".join(parts[: i + 1])
            raise ConfigError.single(source, key, f"'{where}' is a value, not a section")
        node = child
    value = none_strings_to_null(copy.deepcopy(value))
    if isinstance(node, list):
        node[_list_index(node, parts, len(parts) - 1, source)] = value
    else:
        node[parts[-1]] = value


def _list_index(items: list[Any], parts: list[str], i: int, source: str) -> int:
    """`parts[i]` as an index of `items`, the list at `parts[:i]`."""
    part = parts[i]
    if part.isdigit() and int(part) < len(items):
        return int(part)
    where = ".".join(parts[:i])
    message = f"'{where}' is a list of {len(items)}; '{part}' is not an index of it (0 to {len(items) - 1})"
    raise ConfigError.single(source, ".".join(parts), message)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> set[str]:
    """Set each `a.b.c=value` in `data` (creating sections as needed); return the dotted keys set."""
    keys = set()
    for text in overrides:
        parts, value = parse_override(text)
        key = ".".join(parts)
        set_dotted(data, key, value)
        keys.add(key)
    return keys


@dataclass(frozen=True)
class ParsedConfig:
    """A config that passed the schema, before the semantic checks (`ray_lab.learner.experiment`)."""

    config: ExperimentConfig
    source: str
    overridden: frozenset[str] = frozenset()

    def source_of(self, key: str) -> str:
        """Where `key` came from (see :func:`source_of`)."""
        return source_of(self.source, self.overridden, key)


def source_of(source: str, overridden: Set[str], key: str) -> str:
    """The file, or ``--set`` when an override set `key` (or a section above or below it)."""
    hit = any(key == o or key.startswith(o + ".") or o.startswith(key + ".") for o in overridden)
    return f"{OVERRIDE_SOURCE} (on {source})" if hit else source


def parse_mapping(data: dict[str, Any], source: str, overridden: Set[str] = frozenset()) -> ParsedConfig:
    """Validate a raw mapping against the schema alone; raise ConfigError listing every problem."""
    try:
        config = ExperimentConfig.model_validate(lift_seed_sections(none_strings_to_null(data), source))
    except ValidationError as exc:
        problems = problems_from_validation(exc, ExperimentConfig, lambda key: source_of(source, overridden, key))
        raise ConfigError(problems) from None
    return ParsedConfig(config, source, frozenset(overridden))


def parse_config(path: str | Path, overrides: Sequence[str] = ()) -> ParsedConfig:
    """Read `path` and apply `--set` overrides, then check the schema (fast: no Stable-Baselines3)."""
    path = Path(path)
    data = read_yaml_mapping(path)
    overridden = apply_overrides(data, overrides)
    return parse_mapping(data, str(path), overridden)


SectionT = TypeVar("SectionT", bound=BaseModel)


def with_updates(section: SectionT, updates: Mapping[str, Any], source: str, prefix: str = "") -> SectionT:
    """A copy of a validated `section` with dotted-key `updates` (a sweep's trial from its checked base).

    Only the innermost sections that a key changes are validated again; every other section is the
    same object as in `section`, so a trial costs a few field checks rather than a whole config.
    The cross-section checks are the caller's: a sweep runs them once per swept value at load.

    Raises:
        ConfigError: a key that names no field, or a value the field rejects (under `source`, the
            key in full: `prefix` is the path of `section` in the config).
    """
    own: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in updates.items():
        head, _, rest = key.partition(".")
        if head not in type(section).model_fields:
            fields = type(section).model_fields
            raise ConfigError.single(source, prefix + key, f"unknown key '{head}'{did_you_mean(head, fields)}")
        if rest and isinstance(getattr(section, head), BaseModel):
            nested.setdefault(head, {})[rest] = value
        else:
            own[key] = value
    changed = {
        head: with_updates(getattr(section, head), keys, source, f"{prefix}{head}.") for head, keys in nested.items()
    }
    result = section.model_copy(update=changed)
    if not own:
        return result
    data = result.model_dump()
    try:
        for key, value in own.items():
            set_dotted(data, key, value, source)
    except ConfigError as exc:
        raise ConfigError([Problem(p.source, prefix + p.key, p.message) for p in exc.problems]) from None
    try:
        return type(section).model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation(exc, type(section), lambda key: source)
        raise ConfigError([Problem(p.source, prefix + p.key, p.message) for p in problems]) from None


def config_to_yaml(config: ExperimentConfig) -> str:
    """The resolved config as YAML (what goes into the run folder's config.yaml)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, default_flow_style=None)
